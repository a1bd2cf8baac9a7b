"""walk05 q1, the __main__ guard (review 04_05e A1, 2026-12-07): guards that do not compare __name__ with
"__main__" alone passed both old checks (seen), yet run main() where a program must not: in the child processes
of multiprocessing's spawn start method, which imports the program's file as "__mp_main__" with sys.argv[0] set to
it, or when imported by a program started with -m (as `python -m pytest` imports the modules it tests)."""

import pytest
from exercise_answers import assert_catalogue

from ella_lab.exercises import walk05

pytestmark = pytest.mark.timeout(90)

MAIN = 'def main():\n    print("routing 20 requests")\n\n\n'

FALSE_ACCEPTS = [
    (
        "argv[0] is this file",
        "import os\nimport sys\n\nif os.path.abspath(sys.argv[0]) == __file__:\n    main()\n",
        "spawn start method imports the program's file in each new process",
    ),
    (
        "the spawn child's name too",
        'if __name__ in ("__main__", "__mp_main__"):\n    main()\n',
        "imported again as multiprocessing's spawn start method",
    ),
    (
        "or started with -m",
        'import sys\n\nif __name__ == "__main__" or "-m" in sys.orig_argv:\n    main()\n',
        "imported by a program started with `python -m`",
    ),
]


@pytest.mark.parametrize(("name", "guard", "expected"), FALSE_ACCEPTS, ids=[f[0] for f in FALSE_ACCEPTS])
def test_a_guard_that_a_spawned_process_or_a_test_runner_trips_is_named(name, guard, expected):
    assert_catalogue(walk05.q1, MAIN + guard, expected)


def test_a_guard_that_never_reads_name_is_rejected_even_when_every_way_passes():
    """`__main__.__file__ == __file__` passes every way the check runs the script (seen passing the old check);
    it runs main() again when the program imports its own file by name. Only __name__ tells."""
    guard = 'import __main__\n\nif getattr(__main__, "__file__", None) == __file__:\n    main()\n'
    assert_catalogue(walk05.q1, MAIN + guard, "your guard never reads __name__")


RIGHT = [
    'if __name__ == "__main__":\n    main()\n',
    'if globals()["__name__"] == "__main__":\n    main()\n',
    'import sys\n\nif __name__ == "__main__":\n    sys.exit(main())\n',
]


@pytest.mark.parametrize("guard", RIGHT, ids=["==", "globals()", "sys.exit"])
def test_right_guards_pass_both_checks(guard):
    assert walk05.q1.judge(MAIN + guard), walk05.q1.judge(MAIN + guard)
    assert walk05.q1.hidden_check(MAIN + guard), walk05.q1.hidden_check(MAIN + guard)
