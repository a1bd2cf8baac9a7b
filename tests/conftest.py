import threading

import pytest


def live_workers() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("ella-worker") and t.is_alive()]


@pytest.fixture
def no_leaked_workers():
    """Fail the test if it leaves a router worker thread running."""
    before = set(live_workers())
    yield
    leaked = set(live_workers()) - before
    assert not leaked, f"worker threads left running: {sorted(leaked)}"
