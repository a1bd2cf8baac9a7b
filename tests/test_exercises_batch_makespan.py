"""Sheet 08 q1, the makespan of a Dask run cut into batches (builds on notebook 08's measured overhead per task):
a model, checked against the model with no clock. Correct answers written three ways pass the visible and the
hidden check; each real bug is rejected by both, naming it."""

import heapq
import math

import pytest
from exercise_answers import assert_catalogue, reference

from ella_lab.exercises import phase8

Q = phase8.q1


def round_robin(n_requests, batch, slots, per_request, overhead):
    """Equal tasks handed out in order: the slot free earliest is the one used `slots` tasks before."""
    sizes = [min(batch, n_requests - start) for start in range(0, n_requests, batch)]
    ends = []
    for i, size in enumerate(sizes):
        ready = (i + 1) * overhead
        start = max(ready, ends[i - slots]) if i >= slots else ready
        ends.append(start + size * per_request)
    return max(ends)


def a_list_of_slots(n_requests, batch, slots, per_request, overhead):
    free_at = [0.0] * slots
    tasks, left, clock = 0, n_requests, 0.0
    while left > 0:
        size = min(batch, left)
        left -= size
        tasks += 1
        clock += overhead  # the scheduler's time: one task after another
        slot = free_at.index(min(free_at))
        free_at[slot] = max(clock, free_at[slot]) + size * per_request
    return max(free_at)


CORRECT = [reference(phase8, Q, "dask_makespan"), round_robin, a_list_of_slots]


@pytest.mark.parametrize("answer", CORRECT, ids=lambda f: f.__name__)
def test_correct_answers_pass_the_visible_and_the_hidden_check(answer):
    visible = Q.judge(answer)
    assert visible, visible.message
    hidden = Q.hidden_check(answer)
    assert hidden, hidden.message


def overhead_on_the_slot(n_requests, batch, slots, per_request, overhead):
    free = [0.0] * slots
    tasks = math.ceil(n_requests / batch)
    for i in range(tasks):
        size = batch if i < tasks - 1 else n_requests - (tasks - 1) * batch
        slot = free.index(min(free))
        free[slot] += overhead + size * per_request
    return max(free)


def a_slot_for_every_task(n_requests, batch, slots, per_request, overhead):
    tasks = math.ceil(n_requests / batch)
    return max((i + 1) * overhead + min(batch, n_requests - i * batch) * per_request for i in range(tasks))


def every_task_full(n_requests, batch, slots, per_request, overhead):
    free = [0.0] * slots
    for i in range(1, math.ceil(n_requests / batch) + 1):
        start = max(i * overhead, heapq.heappop(free))
        heapq.heappush(free, start + batch * per_request)
    return max(free)


def first_task_at_zero(n_requests, batch, slots, per_request, overhead):
    free = [0.0] * slots
    tasks = math.ceil(n_requests / batch)
    for i in range(tasks):
        size = batch if i < tasks - 1 else n_requests - (tasks - 1) * batch
        start = max(i * overhead, heapq.heappop(free))
        heapq.heappush(free, start + size * per_request)
    return max(free)


def rounds_plus_all_overheads(n_requests, batch, slots, per_request, overhead):
    tasks = math.ceil(n_requests / batch)
    return math.ceil(tasks / slots) * batch * per_request + tasks * overhead


def partial_batch_dropped(n_requests, batch, slots, per_request, overhead):
    free = [0.0] * slots
    for i in range(1, n_requests // batch + 1):
        start = max(i * overhead, heapq.heappop(free))
        heapq.heappush(free, start + batch * per_request)
    return max(free)


def work_split_evenly(n_requests, batch, slots, per_request, overhead):
    return math.ceil(n_requests / batch) * overhead + n_requests * per_request / slots


def in_milliseconds(n_requests, batch, slots, per_request, overhead):
    return 1000 * reference(phase8, Q, "dask_makespan")(n_requests, batch, slots, per_request, overhead)


CATALOGUE = [
    (overhead_on_the_slot, "paid the overhead on its slot"),
    (a_slot_for_every_task, "as if there were a slot for each"),
    (every_task_full, "the last task was counted as a full batch"),
    (first_task_at_zero, "the first task was handed out at 0"),
    (rounds_plus_all_overheads, "every task's overhead added up"),
    (partial_batch_dropped, "the requests left over after the full batches were dropped"),
    (work_split_evenly, "as if a batch could be split"),
    (in_milliseconds, "right in milliseconds"),
    (lambda n_requests, batch, slots, per_request, overhead: None, "did you forget `return`"),
]


@pytest.mark.parametrize(("answer", "expected"), CATALOGUE, ids=[c[1] for c in CATALOGUE])
def test_each_real_bug_is_rejected_by_the_visible_and_the_hidden_check_naming_it(answer, expected):
    assert_catalogue(Q, answer, expected)


def test_the_catalogue_is_large_enough_and_the_model_has_an_interior_best_batch():
    assert len(CATALOGUE) >= 6 and len(CORRECT) >= 3
    model = reference(phase8, Q, "dask_makespan")
    times = {batch: model(1000, batch, 8, 0.001, 0.0002) for batch in range(1, 1001)}
    best = min(times, key=times.get)
    assert 1 < best < 1000 and times[best] < times[1] / 1.5 and times[best] < times[1000] / 5  # exact: a model
