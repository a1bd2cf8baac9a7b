import signal
import threading
import time

import pytest

# The Ctrl-C tests send SIGINT. Python turns it into KeyboardInterrupt only if SIGINT was not ignored
# when the interpreter started, and a shell ignores it in background jobs (`make test &`, nohup): there
# every such test failed with "DID NOT RAISE". Restore the handler; our subprocesses then start with
# SIGINT at its default too (a handled signal is reset to default on exec, an ignored one is not).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def live_workers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("ella-worker") and t.is_alive()}


@pytest.fixture
def no_leaked_workers():
    """Fail the test if it leaves a router worker thread running.

    A worker abandoned on a stuck call exits when that call returns; once the test has released it,
    it gets 5 s to do so (on a loaded machine it may not have run yet when the test body ends).
    Threads are compared as objects: a replacement worker takes its stuck predecessor's name.
    """
    before = live_workers()
    yield
    deadline = time.monotonic() + 5
    while (leaked := live_workers() - before) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not leaked, f"worker threads left running: {sorted(t.name for t in leaked)}"
