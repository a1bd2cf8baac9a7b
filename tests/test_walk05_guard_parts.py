"""walk05 q1, the __main__ guard: guards that test only a part of "__main__" (found by the second review,
2026-12-07). Each passed the old visible and hidden checks (seen), whose import names never were `main`, a
substring of "__main__", or a package's `__main__`; each is now named by both checks. Right guards written
differently pass both."""

import pytest
from exercise_answers import assert_catalogue

from ella_lab.exercises import walk05

pytestmark = pytest.mark.timeout(60)

MAIN = 'def main():\n    print("routing 20 requests")\n\n'

PARTS = [
    ("a substring test", 'if __name__ in ("__main__"):\n    main()\n', "imported by another script as `main`"),
    ("main in the tuple", 'if __name__ in ("__main__", "main"):\n    main()\n', "as `main`"),
    ("or == main", 'if __name__ == "__main__" or __name__ == "main":\n    main()\n', "as `main`"),
    ("endswith", 'if __name__.endswith("__main__"):\n    main()\n', "as a package's `__main__` module"),
    ("the last dotted part", 'if __name__.rsplit(".", 1)[-1] == "__main__":\n    main()\n', "package's `__main__`"),
    ("the last eight characters", 'if __name__[-8:] == "__main__":\n    main()\n', "package's `__main__`"),
    ("stripped of underscores", 'if __name__.strip("_") == "main":\n    main()\n', "as `main`"),
    ("eight characters long", "if len(__name__) == 8:\n    main()\n", "imported (as a test would import it)"),
]


@pytest.mark.parametrize(("name", "guard", "expected"), PARTS, ids=[p[0] for p in PARTS])
def test_a_guard_on_a_part_of_main_is_named(name, guard, expected):
    assert_catalogue(walk05.q1, MAIN + guard, expected)


def test_a_typo_in_main_is_named_as_never_running_main():
    """`__main` is an import name now: a guard on it fails as a program first, and is told so."""
    assert_catalogue(walk05.q1, MAIN + 'if __name__ == "__main":\n    main()\n', "main() ran 0 times")


RIGHT = [
    'if __name__ == "__main__":\n    main()\n',
    "if '__main__' == __name__:\n    main()\n",
    'if __name__ in ("__main__",):\n    main()\n',
    'import sys\n\nif __name__ != "__main__":\n    pass\nelse:\n    sys.exit(main())\n',
]


@pytest.mark.parametrize("guard", RIGHT, ids=["==", "reversed", "in a one-tuple", "else branch"])
def test_right_guards_written_differently_pass_both_checks(guard):
    assert walk05.q1.judge(MAIN + guard), walk05.q1.judge(MAIN + guard)
    assert walk05.q1.hidden_check(MAIN + guard), walk05.q1.hidden_check(MAIN + guard)
