"""Helpers for the exercise catalogues: run a question's own solution() as code, and judge quietly."""

import textwrap
import threading


def reference(module, question, name):
    """The answer that the question's own solution() prints, run as code."""
    namespace = {"ex": module}
    exec(textwrap.dedent(question.solution_text), namespace)
    return namespace[name]


def starter(*args):
    raise NotImplementedError


def hangs(*args):
    threading.Event().wait(30)


def do_nothing(*args):
    return None


def assert_catalogue(question, answer, expected, *, hidden=True):
    """The answer is judged incorrect by the visible check and by hidden_check, each message naming the bug.

    ``expected`` is the text both messages contain, or a pair (visible's, hidden's) when the cases differ.
    """
    visible_text, hidden_text = (expected, expected) if isinstance(expected, str) else expected
    result = question.judge(answer)
    assert result.status == "incorrect", result
    assert visible_text in result.message, result.message
    if hidden:
        result = question.hidden_check(answer)
        assert result.status == "incorrect", f"hidden: {result}"
        assert hidden_text in result.message, f"hidden: {result.message}"
