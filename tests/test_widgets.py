"""The explorers of notebooks 03 and 04: they redraw by setting their Output widget's outputs, never by capturing.

A captured output (``with output:``, as ``ipywidgets.interact`` does) makes nbclient send the widget's state
back on the shell socket while it waits there for the cell's reply; on a busy machine that wake-up is lost
and Run All stalls for the client's whole timeout (issue 17: 8 to 13 of 30 explorer cells, 15 s each).
"""

import base64

import ipywidgets
import pytest

from ella_lab.widgets import Explorer, fallback_explorer, timeline_explorer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def captures(monkeypatch):
    """Every ``with output:`` entered while the test runs."""
    entered = []
    original = ipywidgets.Output.__enter__

    def enter(self):
        entered.append(self)
        return original(self)

    monkeypatch.setattr(ipywidgets.Output, "__enter__", enter)
    return entered


@pytest.mark.parametrize("make", [timeline_explorer, fallback_explorer], ids=["timeline", "fallback"])
def test_an_explorer_draws_at_once_without_capturing_output(make, captures):
    explorer = make()
    assert not captures  # nothing was captured: nbclient has no state to echo back during the cell
    assert isinstance(explorer, Explorer) and explorer.redraws == 1
    picture, line = explorer.output.outputs
    assert base64.b64decode(picture["data"]["image/png"]).startswith(b"\x89PNG")
    assert line["output_type"] == "stream" and line["text"].strip()
    assert all(getattr(c, "continuous_update", False) is False for c in explorer.controls.values())


def test_moving_a_slider_redraws_once_with_the_new_values(captures):
    explorer = timeline_explorer()
    explorer.controls["workers"].value = 8
    explorer.controls["requests"].value = 20
    assert explorer.redraws == 3
    assert "⌈N/K⌉·L = 30.0 ms" in explorer.output.outputs[1]["text"]  # ⌈20/8⌉ rounds of 10 ms
    assert not captures


def _echoes(source: str) -> int:
    """Run a one-cell notebook in a fresh kernel with nbclient; count the widget states nbclient echoed back."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.output_widget import OutputWidget

    sent = []
    original = OutputWidget.send

    def send(self, *args, **kwargs):
        sent.append(args)
        return original(self, *args, **kwargs)

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    OutputWidget.send = send
    try:
        NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    finally:
        OutputWidget.send = original
    return len(sent)


@pytest.mark.timeout(180)
def test_nbclient_echoes_nothing_back_while_the_explorer_cell_runs():
    # the instrument works: interact() captures its first drawing, and nbclient sends that state back
    interact = (
        "from ipywidgets import IntSlider, interact\nfrom ella_lab.widgets import draw_timeline\n"
        "interact(draw_timeline, workers=IntSlider(value=4, min=1, max=32));"
    )
    assert _echoes(interact) >= 1
    assert _echoes("from ella_lab.widgets import timeline_explorer\ntimeline_explorer()") == 0
