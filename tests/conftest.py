import signal
import threading

import pytest

# The Ctrl-C tests send SIGINT. Python turns it into KeyboardInterrupt only if SIGINT was not ignored
# when the interpreter started, and a shell ignores it in background jobs (`make test &`, nohup): there
# every such test failed with "DID NOT RAISE". Restore the handler; our subprocesses then start with
# SIGINT at its default too (a handled signal is reset to default on exec, an ignored one is not).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def live_workers() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("ella-worker") and t.is_alive()]


@pytest.fixture
def no_leaked_workers():
    """Fail the test if it leaves a router worker thread running."""
    before = set(live_workers())
    yield
    leaked = set(live_workers()) - before
    assert not leaked, f"worker threads left running: {sorted(leaked)}"
