"""The guide's router on a virtual clock: the exact makespan ⌈N/K⌉·L (plus one idle timeout) that notebook 03
puts beside its measurements."""

import math

import pytest

from ella_lab.guide import virtual_run


@pytest.mark.parametrize(("workers", "n"), [(1, 1), (3, 10), (5, 23), (4, 16), (32, 10), (7, 0)])
def test_the_makespan_is_whole_rounds_of_latency(workers, n):
    run = virtual_run(workers, n, latency=0.01)
    assert run.rounds == math.ceil(n / workers)
    assert math.isclose(run.work_done_s, math.ceil(n / workers) * 0.01) and run.wall_s == run.work_done_s


def test_the_guides_workers_add_one_idle_timeout_together():
    run = virtual_run(3, 10, latency=0.05, idle_timeout=0.2)
    assert math.isclose(run.work_done_s, 0.2) and math.isclose(run.wall_s, 0.4)


@pytest.mark.parametrize(("kwargs", "name"), [({"workers": 0}, "workers"), ({"n_requests": -1}, "n_requests"),
                                              ({"latency": True}, "latency")])  # fmt: skip
def test_bad_arguments_are_named(kwargs, name):
    args = {"workers": 2, "n_requests": 3, "latency": 0.01} | kwargs
    with pytest.raises(ValueError, match=name):
        virtual_run(args.pop("workers"), args.pop("n_requests"), **args)
