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
