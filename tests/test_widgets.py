"""The explorers of notebooks 03 and 04: they redraw by setting their Output widget's outputs, never by capturing.

A captured output (``with output:``, as ``ipywidgets.interact`` does) makes nbclient send the widget's state
back on the shell socket while it waits there for the cell's reply; on a busy machine that wake-up is lost
and Run All stalls for the client's whole timeout (issue 17: 8 to 13 of 30 explorer cells, 15 s each).
"""

import base64

import ipywidgets
import pytest

from ella_lab.widgets import Explorer, fallback_explorer, fallback_model, timeline_explorer

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


@pytest.mark.timeout(180)
def test_in_a_live_kernel_a_slider_moved_by_the_front_end_redraws_the_output():
    """The front end's side, as JupyterLab sends it: a comm message setting a slider's value; the kernel answers
    with the Output widget's new outputs (the figure and the makespan line for the new values)."""
    import queue as queue_module

    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60)
    try:
        shown = kc.execute("from ella_lab.widgets import timeline_explorer\nexplorer = timeline_explorer()")
        models = {}
        while True:
            message = kc.get_iopub_msg(timeout=60)
            if message["msg_type"] == "comm_open":
                models[message["content"]["comm_id"]] = message["content"]["data"]["state"]
            idle = message["msg_type"] == "status" and message["content"]["execution_state"] == "idle"
            if idle and message["parent_header"].get("msg_id") == shown:
                break
        sliders = {s.get("description"): i for i, s in models.items() if s.get("_model_name") == "IntSliderModel"}
        (output,) = [i for i, s in models.items() if s.get("_model_name") == "OutputModel"]
        for name, value, expected in (("workers", 8, "⌈N/K⌉·L = 20.0 ms"), ("requests", 20, "⌈N/K⌉·L = 30.0 ms")):
            update = {"method": "update", "state": {"value": value}, "buffer_paths": []}
            kc.shell_channel.send(kc.session.msg("comm_msg", {"comm_id": sliders[name], "data": update}))
            lines = None
            while lines is None:
                try:
                    message = kc.get_iopub_msg(timeout=60)
                except queue_module.Empty:
                    pytest.fail(f"no redraw within 60 s of moving {name}")
                state = message["content"].get("data", {}).get("state", {})
                if message["msg_type"] == "comm_msg" and message["content"]["comm_id"] == output and "outputs" in state:
                    lines = [o["text"] for o in state["outputs"] if o["output_type"] == "stream"]
                    assert any(o["output_type"] == "display_data" for o in state["outputs"])  # the figure
            assert len(lines) == 1 and expected in lines[0], lines
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_the_fallback_explorer_draws_the_model_of_the_failures_it_runs(captures):
    # independent sources: 1 − pᵏ; sources that fail together: 1 − p, however many (notebook 04's cells 40-43)
    assert fallback_model(0.3, 3) == ("1 − pᵏ", pytest.approx(0.973))
    assert fallback_model(0.3, 3, correlated=True) == ("1 − p", pytest.approx(0.7))
    explorer = fallback_explorer()
    explorer.controls["chain"].value = 3
    assert "model 1 − pᵏ = 97.3%" in explorer.output.outputs[1]["text"]
    explorer.controls["correlated"].value = True
    line = explorer.output.outputs[1]["text"]
    assert "model 1 − p = 70.0%" in line
    measured = float(line.split("answered ")[1].split("%")[0]) / 100
    assert abs(measured - 0.7) < 0.1  # seeded: the run agrees with the model it is drawn beside
