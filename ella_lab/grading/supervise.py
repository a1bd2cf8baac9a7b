"""The supervisor of one notebook's grading: a process of its own between the grader and the notebook.

    python -m ella_lab.grading.supervise       (started by ``grade.py``, settings on stdin; never by hand)

The grader starts one supervisor per notebook, in a POSIX session and process group of its own. The
supervisor makes itself undumpable (its ``/proc/<pid>/fd`` and memory are closed to other processes of
the user) and a child subreaper (whatever the notebook starts and abandons, double forks and new
sessions included, becomes its child), then starts the judge process (``sandbox.py``):

- where the system lets a user do it (``unshare``: user, PID and mount namespaces), in namespaces of its
  own: the notebook sees no process but its own (it cannot signal the grader or the supervisor, nor
  read their ``/proc``), the class's folder, the grader's temporary folder and the output folder are
  hidden under empty read-only folders, and when the judge process ends, every process it started ends;
- else under ``setsid --fork --wait``, so that the notebook's parent and grandparent are both this
  notebook's own (killing them ends this grading only), with a memory limit and ``HOME``, ``TMPDIR`` and
  the working folder in a temporary folder of its own.

It reads the judge's signed records (bounded: ``channel.py``), times each cell (``--cell-timeout``:
interrupted, then killed if the notebook ignores the interrupt) and the whole run, forwards every good
record to the grader at once, signed with the grader's key, and at the end kills every process left,
then reports how the run ended (``"end"``).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from .channel import Reader, Writer, new_key
from .sandbox import THREAD_STACK, THREADS_ALLOWED

GRACE_S = 3.0  # after the interrupt at a cell's deadline, before the kill
JUDGE_TIMEOUT_S = 60.0  # one answer's judgement (the checks bound the student's code to a few seconds)
# Where there is no setsid(1) (macOS): a small Python in between, so that the notebook's grandparent is still ours.
WAITER = [sys.executable, "-c", "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:], close_fds=False))"]
UNSHARE = ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount", "--mount-proc", "--kill-child"]


def prctl(option: int, value: int) -> bool:
    """``prctl(option, value)`` through libc; False where there is none (not Linux)."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError, TypeError):
        return False


@lru_cache(maxsize=1)
def namespaces_work() -> bool:
    """True when ``unshare`` can give this user PID and mount namespaces (tried once, in a throwaway process)."""
    if sys.platform != "linux" or shutil.which("unshare") is None:
        return False
    try:
        done = subprocess.run([*UNSHARE, "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def descendants(root: int) -> list[int]:
    """Every live process whose chain of parents leads to ``root`` (Linux: /proc), deepest last."""
    parents: dict[int, int] = {}
    zombies: set[int] = set()
    for entry in Path("/proc").iterdir() if Path("/proc/self/stat").exists() else []:
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            parents[int(entry.name)] = int(fields[1])
            if fields[0] in ("Z", "X"):
                zombies.add(int(entry.name))
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        found += [child for child in children if child not in zombies]
        frontier += children
    return found


def _reap() -> None:
    """Collect the exit status of every child that has ended (a subreaper inherits them)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_descendants() -> int:
    """Kill (SIGKILL) and reap every descendant of this process until none is left; return how many there were."""
    killed: set[int] = set()
    for _ in range(50):
        _reap()
        left = descendants(os.getpid())
        if not left:
            break
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.01)
    return len(killed)


MAX_FILE = 1024 * 2**20  # one file a notebook writes (past it, a write fails with EFBIG)


def _limits(memory_mb: int | None) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE, MAX_FILE))
    if memory_mb:  # and the stacks of a walkthrough's 1024 threads (see sandbox.THREAD_STACK)
        limit = memory_mb * 2**20 + THREADS_ALLOWED * THREAD_STACK
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def run(config: dict[str, Any], out: Writer) -> None:
    """Grade one notebook as ``config`` says; every record goes to ``out``."""
    base = Path(config.get("base") or tempfile.mkdtemp(prefix="ella-run-"))  # not in the grader's folder (hidden)
    workdir = base / "work"
    for folder in ("work", "home", "tmp"):
        (base / folder).mkdir()
    notebook = workdir / Path(config["notebook"]).name
    shutil.copyfile(config["notebook"], notebook)
    key = new_key()
    config_r, config_w = os.pipe()
    channel_r, channel_w = os.pipe()
    ack_r, ack_w = os.pipe()  # "forwarded": the judge process waits for it before each cell
    namespaced = bool(config.get("namespaces", True)) and namespaces_work()
    prefix = UNSHARE if namespaced else ["setsid", "--fork", "--wait"] if shutil.which("setsid") else WAITER
    env = {
        **os.environ,
        "HOME": str(base / "home"),
        "IPYTHONDIR": str(base / "home" / ".ipython"),
        "MPLBACKEND": "Agg",
        "TMPDIR": str(base / "tmp"),
        "PYTHONDONTWRITEBYTECODE": "1",
        # glibc reserves a 64 MiB malloc arena per thread (up to 8 per core), counted by the memory limit (the
        # address space) though unused: with 2 arenas, a sweep's 256 threads start under 2 GiB
        "MALLOC_ARENA_MAX": "2",
    }
    started = time.monotonic()
    memory_mb = config.get("memory_mb")
    child = subprocess.Popen(
        [*prefix, sys.executable, "-m", "ella_lab.grading.sandbox", str(config_r), str(channel_w)],
        pass_fds=(config_r, channel_w, ack_r),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=workdir,
        preexec_fn=lambda: _limits(memory_mb),
    )
    os.close(config_r)
    os.close(channel_w)
    os.close(ack_r)
    settings = {
        "key": key.hex(),
        "notebook": str(notebook),
        "workdir": str(workdir),
        "sheet": config["sheet"],
        "answers": config.get("answers", {}),
        "fallback": config.get("fallback", {}),
        "hide": config.get("hide", []),
        "readonly": config.get("readonly", []),
        "runs": config.get("runs"),
        "base": str(base),
        "namespaced": namespaced,
        "ack_fd": ack_r,
    }
    with contextlib.suppress(OSError):
        os.write(config_w, json.dumps(settings).encode())
    os.close(config_w)
    out.send("started", namespaced=namespaced)
    reader = Reader(key)
    cell_timeout = float(config.get("cell_timeout", 30))
    whole = float(config.get("timeout", 120))
    deadline, interrupted, stopped, where = None, False, None, None
    end_at = started + whole
    open_channel = True
    while open_channel:
        now = time.monotonic()
        if now >= end_at:
            stopped = f"the notebook did not finish within {whole:g} s; it was stopped"
            _kill(child, prefix)
            break
        if deadline is not None and now >= deadline:
            kind, what = where
            if kind == "cell" and not interrupted:
                interrupted = True
                out.send("interrupted", index=what, seconds=cell_timeout)
                with contextlib.suppress(OSError):
                    os.kill(child.pid if not prefix else _judge_pid(child.pid), signal.SIGINT)
                deadline = now + GRACE_S
            else:
                stopped = (
                    f"code cell {what} ran past {cell_timeout:g} s and ignored the interrupt; the notebook was "
                    "stopped there"
                    if kind == "cell"
                    else f"judging {what} ran past {JUDGE_TIMEOUT_S:g} s; the notebook was stopped there"
                )
                _kill(child, prefix)
                break
        wait = min(x for x in (end_at, deadline or end_at) if x) - now
        exited = child.poll() is not None  # what the notebook forked may hold the channel open: no EOF to wait for
        ready, _, _ = select.select([channel_r], [], [], 0 if exited else max(0.0, min(wait, 0.2)))
        if not ready:
            if exited:
                break
            continue
        try:
            data = os.read(channel_r, 65536)
        except OSError:
            data = b""
        if not data:
            break
        for record in reader.feed(data):
            if record.get("kind") == "done":
                open_channel = False
            kind = record.get("kind")
            if kind == "cell":
                deadline, interrupted, where = time.monotonic() + cell_timeout, False, ("cell", record.get("index"))
            elif kind == "judging":
                deadline, where = time.monotonic() + JUDGE_TIMEOUT_S, ("judging", record.get("question"))
            elif kind in ("ran", "verdict", "done"):
                deadline, where = None, None
            out.send("record", record=record, t=round(time.monotonic() - started, 3))
            if kind == "cell":
                with contextlib.suppress(OSError):
                    os.write(ack_w, b"k")
    try:
        code = child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        _kill(child, prefix)
        code = child.wait(timeout=10)
    os.close(channel_r)
    os.close(ack_w)
    left = kill_descendants()
    out.send(
        "end",
        code=code,
        stopped=stopped,
        forged=reader.forged,
        cut=reader.cut,
        left=left,
        seconds=time.monotonic() - started,
    )
    shutil.rmtree(base, ignore_errors=True)


def _kill(child: subprocess.Popen, prefix: list[str]) -> None:
    """Kill the judge process, then its wrapper (``unshare``/``setsid``), and reap the wrapper."""
    with contextlib.suppress(OSError):
        os.kill(_judge_pid(child.pid) if prefix else child.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        child.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(timeout=10)
    time.sleep(0.05)  # the judge process, killed, is reaped by its wrapper or by us (a subreaper)


def _judge_pid(wrapper: int) -> int:
    """The judge process under ``setsid --fork`` or ``unshare --fork``: the wrapper's only child."""
    found = [pid for pid in descendants(wrapper)]
    return found[0] if found else wrapper


def main() -> int:
    prctl(4, 0)  # PR_SET_DUMPABLE 0
    prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
    config = json.loads(sys.stdin.buffer.read(2**20))
    sys.stdin.close()
    out = Writer(sys.stdout.fileno(), bytes.fromhex(config.pop("key")))
    with contextlib.suppress(OSError, ValueError):  # the supervisor reads bounded data; the soft limit only, so
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]  # that the judge's own limit may be set higher
        resource.setrlimit(resource.RLIMIT_AS, (min(1024 * 2**20, hard) if hard > 0 else 1024 * 2**20, hard))
    try:
        run(config, out)
    except Exception as exc:  # the grader reads this as the notebook's error row
        with contextlib.suppress(OSError):
            out.send("failed", reason=f"{type(exc).__name__}: {exc}"[:300])
        kill_descendants()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
