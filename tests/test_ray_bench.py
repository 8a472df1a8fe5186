"""The Ray bench's arithmetic: steady rates per worker, the alternated order of a round, within-round ratios."""
import pytest

pytest.importorskip("ray")

from synthetic.ray_bench import round_order, runs, steady_rate, summary  # noqa: E402


def test_steady_rate_sums_each_workers_rate_after_its_first_sample():
    # worker a: 3 samples over 4 s after its first (0.5/s); worker b: 2 over 1 s (1/s); c: one sample, no rate
    stamps = [("a", 10.0), ("b", 11.0), ("a", 12.0), ("b", 12.0), ("a", 14.0), ("c", 20.0)]
    assert steady_rate(stamps) == pytest.approx(0.5 + 1.0)


def test_odd_rounds_put_ray_first_in_each_pair():
    plan = runs(2)
    assert round_order(plan, 0) == plan
    odd = round_order(plan, 1)
    assert [name for _, name, *_ in odd[0::2]] == [name for _, name, *_ in plan[1::2]]
    assert sorted(odd, key=str) == sorted(plan, key=str)


def test_ratios_are_taken_within_each_round():
    plan = runs(2)
    names = [name for _, name, *_ in plan]
    # the machine is twice as fast in round 2; Ray is 0.9 of direct in both rounds, C workers 1.8 x one
    rounds = []
    for speed in (1.0, 2.0):
        rates = dict(zip(names, (1.0, 0.9, 0.5, 0.45, 0.9, 0.81)))
        rounds.append({n: {"steady": speed * r, "whole": speed * r / 2} for n, r in rates.items()})
    lines = summary(plan, rounds, 2)
    assert lines[2] == "ray / direct, 2 x 1 thread: steady 0.900 (0.900-0.900), whole 0.900 (0.900-0.900)"
    assert lines[3].endswith("direct 1.800 (1.800-1.800), ray 1.800 (1.800-1.800)")


def test_a_plan_of_one_pair_has_no_linearity():
    plan = runs(2)[4:]
    rounds = [{name: {"steady": 1.0, "whole": 1.0} for _, name, *_ in plan}]
    assert summary(plan, rounds, 2) == ["ray / direct, 2 x 1 thread: steady 1.000 (1.000-1.000), "
                                        "whole 1.000 (1.000-1.000)"]
