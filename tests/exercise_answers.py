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


def assert_catalogue(question, answer, expected):
    """The answer is judged incorrect, and the message names the bug."""
    result = question.judge(answer)
    assert result.status == "incorrect", result
    assert expected in result.message, result.message
