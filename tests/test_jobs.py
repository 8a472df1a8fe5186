"""The background-job runner and the JSON-lines progress protocol it reads (no Blender needed)."""
import json
import subprocess
import sys
import textwrap
import time

import pytest

from blender_addon.jobs import Job
from models.progress import ProgressWriter, parse_event


def _wait(job, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        code = job.poll()
        if code is not None:
            return code
        time.sleep(0.02)
    raise AssertionError("timed out: " + "\n".join(job.log))


def _script(body: str) -> list[str]:
    prelude = "import sys, time\nfrom models.progress import ProgressWriter\n"
    return [sys.executable, "-c", prelude + textwrap.dedent(body)]


@pytest.mark.parametrize("line, event", [
    ('{"event": "progress", "done": 1, "total": 4, "stage": "render"}',
     {"event": "progress", "done": 1, "total": 4, "stage": "render"}),
    ('{"event": "done", "result": {"n": 2}}', {"event": "done", "result": {"n": 2}}),
    ('{"event": "error", "message": "bad"}', {"event": "error", "message": "bad"}),
    ('{"event": "progress", "done": "1", "total": 4, "stage": "x"}', None),  # wrong type
    ('{"event": "progress", "done": true, "total": 4, "stage": "x"}', None),
    ('{"event": "other"}', None),
    ("Saved: 'frame.png'", None),
    ("[1, 2]", None),
])
def test_parse_event(line, event):
    assert parse_event(line) == event


def test_writer_lines_parse_back():
    class Sink:
        text = ""

        def write(self, s):
            self.text += s

        def flush(self):
            pass

    sink = Sink()
    w = ProgressWriter(sink)
    w.progress(3, 5, "render")
    w.log("hello")
    w.error("boom")
    w.done({"samples": 5})
    events = [parse_event(line) for line in sink.text.splitlines()]
    assert [e["event"] for e in events] == ["progress", "log", "error", "done"]
    assert events[0]["done"] == 3 and events[3]["result"] == {"samples": 5}


def test_claim_stdout_sends_other_output_to_stderr():
    code = _script("""
        w = ProgressWriter.claim_stdout()
        print("plain print")
        import os; os.write(1, b"raw fd 1\\n")
        w.progress(1, 2, "x")
    """)
    out = subprocess.run(code, capture_output=True, text=True, check=True)
    assert [json.loads(line) for line in out.stdout.splitlines()] == [
        {"event": "progress", "done": 1, "total": 2, "stage": "x"}]
    assert "plain print" in out.stderr and "raw fd 1" in out.stderr


def test_job_reads_progress_result_and_log():
    job = Job(_script("""
        w = ProgressWriter(sys.stdout)
        print("not a protocol line")
        for i in range(3):
            w.progress(i + 1, 3, "work")
        print("to stderr", file=sys.stderr)
        w.done({"answer": 42})
    """))
    assert _wait(job) == 0
    assert (job.done, job.total, job.stage, job.fraction) == (3, 3, "work", 1.0)
    assert job.result == {"answer": 42} and not job.errors
    assert "not a protocol line" in job.log and "to stderr" in job.log


def test_job_surfaces_an_error_event():
    job = Job(_script("""
        ProgressWriter(sys.stdout).error("the input file is missing; pass --input")
        print("error: the input file is missing", file=sys.stderr)
        sys.exit(2)
    """))
    assert _wait(job) == 2
    assert job.error_message() == "the input file is missing; pass --input"


def test_job_surfaces_a_crash_without_an_error_event():
    job = Job(_script("""
        raise ValueError("unexpected")
    """))
    assert _wait(job) == 1
    assert "ValueError: unexpected" in job.error_message()


def test_job_names_a_silent_failure():
    job = Job([sys.executable, "-c", "import sys; sys.exit(3)"])
    assert _wait(job) == 3
    assert "exited with code 3" in job.error_message()


def test_cancel_stops_the_process_group():
    job = Job(_script("""
        import subprocess
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        w = ProgressWriter(sys.stdout)
        w.progress(0, 1, "started")
        child.wait()
    """))
    deadline = time.time() + 30
    while job.stage != "started" and time.time() < deadline:
        job.poll()
        time.sleep(0.02)
    assert job.poll() is None and job.stage == "started"
    job.cancel()
    assert job.returncode is not None and job.returncode < 0
