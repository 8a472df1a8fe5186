"""Both trainers under `torchrun --nproc-per-node 2` (gloo, CPU), tiny models and data, a few steps: the ranks stay
identical while drawing their own data, only rank 0 writes, and a run resumes at another world size.

Run as a script (by the tests, under torchrun or alone) it trains and writes what each rank saw to
OUT/rank-R.json."""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _record(out: Path, train_module, writer_name: str):
    """Per rank: a digest of the parameters after every optimiser step, how many files it wrote and its log."""
    import torch.optim.optimizer as optim

    seen = {"digests": [], "writes": 0, "log": []}
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))

    def after_step(opt, *_):
        h = hashlib.sha256()
        for group in opt.param_groups:
            for p in group["params"]:
                h.update(p.detach().cpu().numpy().tobytes())
        seen["digests"].append(h.hexdigest())

    optim.register_optimizer_step_post_hook(after_step)
    write = getattr(train_module, writer_name)

    def counted(*args, **kwargs):
        seen["writes"] += 1
        return write(*args, **kwargs)

    setattr(train_module, writer_name, counted)
    return seen, lambda: (out / f"rank-{rank}-of-{world}.json").write_text(json.dumps(seen))


def _semantic(run: Path, steps: int, out: Path) -> None:
    from models.semantic.presets import TrainConfig
    from models.semantic.train import train as T
    from semantic_helpers import make_test_asset

    seen, done = _record(out, T, "atomic_torch_save")
    config = TrainConfig(batch=4, cycle_batch=4, steps=steps, warmup_steps=1, pool=2, val_every=2, val_identities=2,
                         val_samples=4, linear_paths=False, threads=1, checkpoint_every_s=0.0)
    T.train(make_test_asset(), config, out / "cache", run_dir=run, log=seen["log"].append, show_progress=False)
    done()


def _capture(run: Path, steps: int, out: Path) -> None:
    import cv2
    from scipy.spatial.transform import Rotation

    from models.capture.train import data as D
    from models.capture.train import train as T
    from tests.test_capture_crop import fake_landmarks

    seen, done = _record(out, T, "atomic_write")
    rng = np.random.default_rng(0)
    n = 5
    paths = []
    for i in range(n):
        paths.append(out / f"img{i}.png")
        if not paths[-1].exists():
            cv2.imwrite(str(paths[-1]), rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    data = D.SyntheticSet(paths, np.array([fake_landmarks(centre=(32 + i, 30), size=30) for i in range(n)], np.float32),
                          Rotation.random(n, random_state=0).as_matrix().astype(np.float32),
                          np.zeros((n, 2, 2), np.float32), np.zeros(n, np.float32),
                          np.random.default_rng(1).normal(size=(n, 64)).astype(np.float32),
                          np.random.default_rng(2).normal(size=(n, 64)).astype(np.float32),
                          np.zeros((n, 60), np.float32), np.zeros((n, 52), np.float32), np.arange(n))
    config = T.TrainConfig(resolution=32, batch=4, real_batch=0, steps=steps, minutes=1e6, warmup_steps=1,
                           val_every=2, checkpoint_every_s=0.0, pretrained=False, threads=1, val_fraction=0.2)
    T.train(data, None, config, run, out / "cache", log=seen["log"].append, show_progress=False)
    done()


def _launch(kind: str, run: Path, steps: int, out: Path, ranks: int) -> None:
    """The script below as `kind` on `ranks` processes (torchrun for more than one)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(ranks)]
                if ranks > 1 else [sys.executable])
    proc = subprocess.run(launcher + [__file__, kind, str(run), str(steps), str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _rank(out: Path, rank: int, world: int) -> dict:
    return json.loads((out / f"rank-{rank}-of-{world}.json").read_text())


def _checkpoint(run: Path) -> dict:
    return torch.load(run / "last.pt", weights_only=False)


@pytest.mark.parametrize("kind", ["semantic", "capture"])
def test_two_ranks_and_a_resume_at_another_world_size(kind, tmp_path):
    """semantic: 2 ranks, then resumed alone; capture: alone, then resumed on 2 ranks."""
    run = tmp_path / "run"
    first, second = (2, 1) if kind == "semantic" else (1, 2)
    _launch(kind, run, 4, tmp_path, first)
    after_first = _checkpoint(run)
    assert after_first["step"] == 4 and len(after_first["rank_rngs"]) == first
    _launch(kind, run, 6, tmp_path, second)
    log = _rank(tmp_path, 0, second)["log"]
    assert any("resuming" in m and "step 4" in m and f"{first} process(es) then, {second} now" in m for m in log), log
    final = _checkpoint(run)
    assert final["step"] == 6 and len(final["rank_rngs"]) == second and not list(run.glob("*.tmp*"))
    r0, r1 = _rank(tmp_path, 0, 2), _rank(tmp_path, 1, 2)
    assert len(r0["digests"]) in (2, 4) and r0["digests"] == r1["digests"], "the ranks' models diverged"
    assert len(set(r0["digests"])) == len(r0["digests"]), "the model did not change"
    assert r0["writes"] > 0 and r1["writes"] == 0, "only rank 0 writes"
    two = after_first if first == 2 else final
    assert two["rank_rngs"][0] != two["rank_rngs"][1], "each rank draws from its own stream"


def test_gradients_are_averaged_with_the_ranks_shares(tmp_path):
    """Unequal shares (3 and 2 of 5 samples): the average is the gradient of the whole batch."""
    _launch("average", tmp_path, 0, tmp_path, 2)
    grads = [json.loads((tmp_path / f"grad-{r}.json").read_text()) for r in range(2)]
    mean_x = float(np.arange(5).mean())
    assert grads[0] == grads[1]
    np.testing.assert_allclose(grads[0], [mean_x, 2 * mean_x], rtol=1e-12)


def _average(out: Path) -> None:
    """loss = mean(w x) + 2 mean(v x) over this rank's part of x = 0..4, at w = v = 1."""
    from models import distributed

    world = distributed.start()
    w = torch.nn.Parameter(torch.ones(1, dtype=torch.float64))
    v = torch.nn.Parameter(torch.ones(1, dtype=torch.float64))
    module = torch.nn.ParameterList([w, v])
    x = torch.arange(5, dtype=torch.float64)
    part = x[:3] if world.rank == 0 else x[3:]
    ((w * part).mean() + 2 * (v * part).mean()).backward()
    world.average_gradients(module, len(part) * world.size / len(x))
    (out / f"grad-{world.rank}.json").write_text(json.dumps([float(w.grad), float(v.grad)]))
    distributed.stop(world)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    kind, run, steps, out = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    if kind == "average":
        _average(out)
    else:
        {"semantic": _semantic, "capture": _capture}[kind](run, steps, out)
