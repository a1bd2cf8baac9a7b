"""Run one student notebook in a fresh interpreter and judge its answers as they appear: the judge process.

    python -m ella_lab.grading.sandbox CONFIG_FD CHANNEL_FD      (started by ``supervise.py``, never by hand)

Before any of the notebook's code runs, this process reads its settings and the key of its channel
from ``CONFIG_FD`` (a pipe, then closed), imports and seals the checks and installs the audit hook
(``judge.py``). Then it runs the notebook's code cells in order in an IPython shell (magics work) and,
after each cell, judges every answer that cell bound or rebound, with the sealed checks, on their hidden
cases. Each step is sent at once as a signed record on ``CHANNEL_FD``: the cell about to run, what it
raised, each verdict, each change to what the checks rely on. A verdict sent is kept whatever the
notebook does next (hang, ``os._exit``, a killed process); at the end every answer is judged once more.
The notebook's own output goes nowhere (the supervisor gives this process ``/dev/null``).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import signal
import sys
from typing import Any

from .channel import Writer

MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC = 1, 32, 4096, 16384
# The memory limit counts address space, where each thread's stack is reserved whole (8 MiB by default): 256 idle
# threads of walk03's sweep took 2 GiB, walk08's 1024 took 8. Threads get 2 MiB stacks here (deep enough for the
# recursion limit's 1000 frames), and the limit (``supervise._limits``) adds the stacks of THREADS_ALLOWED threads.
THREAD_STACK = 2 * 2**20
THREADS_ALLOWED = 1024
AGAIN = ("NameError", "error:")  # a verdict judged again at the end: a name defined later, a check that broke


def _libc() -> Any:
    with contextlib.suppress(OSError, TypeError):
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return None


def hide(paths: list[str]) -> list[str]:
    """In a mount namespace of our own: an empty, read-only folder over each of ``paths``; return those hidden."""
    libc = _libc()
    if libc is None:
        return []
    hidden = []
    for path in paths:
        if os.path.isdir(path) and libc.mount(b"none", path.encode(), b"tmpfs", MS_RDONLY, b"size=4k,mode=0555") == 0:
            hidden.append(path)
    return hidden


def keep_only(runs: str | None, base: str) -> bool:
    """Hide the other notebooks' working folders: an empty folder over ``runs``, with ``base`` (this notebook's,
    inside ``runs``) mounted back in its place, so that its path stays the same."""
    libc = _libc()
    if libc is None or not runs or os.path.dirname(base.rstrip("/")) != runs.rstrip("/"):
        return False
    keep = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if libc.mount(b"none", runs.encode(), b"tmpfs", 0, b"size=64k,mode=0755") != 0:
            return False
        os.mkdir(base)
        if libc.mount(f"/proc/self/fd/{keep}".encode(), base.encode(), None, MS_BIND | MS_REC, None) != 0:
            return False
        return libc.mount(None, runs.encode(), None, MS_REMOUNT | MS_RDONLY, b"size=64k,mode=0755") == 0
    finally:
        os.close(keep)


SCRATCH_MB = 256  # all a notebook may write: its folder, HOME, TMPDIR, /tmp, /var/tmp and /dev/shm together
SHARED_TEMPORARY = ("/tmp", "/var/tmp", "/dev/shm")
KEEP_ENV = "ELLA_LAB_GRADER_KEEP"  # folders (os.pathsep) left shared under /tmp: the grader's tests watch from there


def private_scratch(
    base: str, notebook: str, size_mb: int = SCRATCH_MB, read_only_too: tuple[str, ...] | list[str] = ()
) -> list[str]:
    """In a mount namespace of our own: one size-limited tmpfs over ``base`` (``work``, ``home`` and ``tmp`` made
    again inside, the notebook copied back), and folders of it over the shared temporary folders, ``base``
    mounted back at its path. What the notebook writes fills no disk and is gone with the namespace (a notebook
    left files in /tmp, /var/tmp and /dev/shm, and could write 1 GiB files there until the disk was full).
    ``read_only_too``: folders the notebook must still read (the project, the Python environment), put back
    read-only where they lie under a shared temporary folder (a project cloned into /tmp, as CI may do).
    Return the folders made private."""
    libc = _libc()
    if libc is None or not os.path.isdir(base) or not notebook.startswith(base.rstrip("/") + "/"):
        return []
    with open(notebook, "rb") as stream:
        text = stream.read()
    options = f"size={size_mb}m,mode=0700".encode()
    if libc.mount(b"none", base.encode(), b"tmpfs", 0, options) != 0:
        return []
    for folder in ("work", "home", "tmp", ".shared"):
        os.makedirs(os.path.join(base, folder), exist_ok=True)
    os.makedirs(os.path.dirname(notebook), exist_ok=True)
    with open(notebook, "wb") as stream:
        stream.write(text)
    done = [base]
    keep = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    shared_too = {}
    for path in filter(None, os.environ.get(KEEP_ENV, "").split(os.pathsep)):
        with contextlib.suppress(OSError):
            shared_too[os.path.realpath(path)] = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    readable = {}
    for path in read_only_too:
        with contextlib.suppress(OSError):
            readable[os.path.realpath(path)] = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for number, shared in enumerate(SHARED_TEMPORARY):
            if not os.path.isdir(shared) or os.path.islink(shared):
                continue
            inside = os.path.join(base, ".shared", str(number))
            os.makedirs(inside, mode=0o1777, exist_ok=True)
            os.chmod(inside, 0o1777)
            if libc.mount(inside.encode(), shared.encode(), None, MS_BIND, None) != 0:
                continue
            done.append(shared)
            if base.startswith(shared.rstrip("/") + "/"):  # the base was under it: put it back at its path
                os.makedirs(base, exist_ok=True)
                libc.mount(f"/proc/self/fd/{keep}".encode(), base.encode(), None, MS_BIND, None)
            for path, fd in shared_too.items():  # with what was mounted over parts of it (hidden folders)
                if path.startswith(shared.rstrip("/") + "/") and not base.startswith(path.rstrip("/") + "/"):
                    os.makedirs(path, exist_ok=True)
                    libc.mount(f"/proc/self/fd/{fd}".encode(), path.encode(), None, MS_BIND | MS_REC, None)
            for path, fd in readable.items():  # the project and the environment, if they lived under it
                if path.startswith(shared.rstrip("/") + "/"):
                    os.makedirs(path, exist_ok=True)
                    target = path.encode()
                    if libc.mount(f"/proc/self/fd/{fd}".encode(), target, None, MS_BIND | MS_REC, None) == 0:
                        libc.mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_REC, None)
    finally:
        os.close(keep)
        for fd in (*shared_too.values(), *readable.values()):
            os.close(fd)
    return done


def read_only(paths: list[str]) -> list[str]:
    """In a mount namespace of our own: each of ``paths`` made read-only (a bind mount); return those done."""
    libc = _libc()
    if libc is None:
        return []
    done = []
    for path in paths:
        target = path.encode()
        if not os.path.isdir(path) or libc.mount(target, target, None, MS_BIND | MS_REC, None) != 0:
            continue
        if libc.mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_REC, None) == 0:
            done.append(path)
    return done


def wait_for_ack(fd: int | None, seconds: float = 10.0) -> None:
    """Wait (bounded) for the supervisor's byte saying it has forwarded every record so far."""
    if fd is None:
        return
    import select

    with contextlib.suppress(OSError, ValueError):
        ready, _, _ = select.select([fd], [], [], seconds)
        if ready:
            os.read(fd, 64)


def code_cells(path: str) -> list[str]:
    """The sources of the notebook's code cells, in order (read as JSON: ``nbformat`` takes seconds to import;
    an old nbformat 3 notebook only is converted by it)."""
    with open(path, encoding="utf-8") as stream:
        nb = json.load(stream)
    if nb.get("nbformat") == 3:
        import nbformat

        nb = json.loads(nbformat.writes(nbformat.reads(json.dumps(nb), as_version=4)))
    sources = []
    for cell in nb.get("cells", []):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            sources.append(source if isinstance(source, str) else "".join(map(str, source)))
    return sources


# What a walkthrough reads of the project, by a path relative to notebooks/ (walk05: ``../examples/main.py``, and
# pytest collecting ``../tests/test_properties.py`` with the project's settings); no check and no solution.
PROJECT_FILES = ("examples", "pyproject.toml", "tests/conftest.py", "tests/test_properties.py")


def project_files(base: str) -> list[str]:
    """Link :data:`PROJECT_FILES` into ``base`` (the notebook runs in ``base/work``, as a walkthrough runs in
    ``notebooks/``): the project is read-only to a graded notebook; return the links made."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    made = []
    for name in PROJECT_FILES:
        source, link = os.path.join(root, name), os.path.join(base, name)
        if base and os.path.exists(source) and not os.path.lexists(link):
            with contextlib.suppress(OSError):
                os.makedirs(os.path.dirname(link), exist_ok=True)
                os.symlink(source, link)
                made.append(link)
    return made


def main(config_fd: int, channel_fd: int) -> None:
    with os.fdopen(config_fd, "rb") as stream:
        config = json.loads(stream.read(2**20))
    # The bound method, taken now: a notebook that swaps ``Writer.send`` (putting it back at once, unseen by the
    # seal) never sees the writer, which it could otherwise call to sign verdicts of its own.
    send = Writer(channel_fd, bytes.fromhex(config.pop("key"))).send
    ack = config.get("ack_fd")
    libc = _libc()
    if libc is not None:
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: when the supervisor goes, this process goes
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: /proc/<this>/fd and mem are not another process's to open
    with contextlib.suppress(OSError):
        os.setsid()
    hidden = hide(config.get("hide", [])) if config.get("namespaced") else []
    locked = read_only(config.get("readonly", [])) if config.get("namespaced") else []
    if config.get("namespaced") and keep_only(config.get("runs"), config.get("base", "")):
        hidden.append(str(config["runs"]) + " (but this notebook's own folder)")
    private = (
        private_scratch(config.get("base", ""), config["notebook"], read_only_too=config.get("readonly", []))
        if config.get("namespaced")
        else []
    )
    project_files(config.get("base", ""))
    os.chdir(config["workdir"])
    import threading

    threading.stack_size(THREAD_STACK)

    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    from . import judge as j

    settings = Config()
    settings.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=settings)
    tamper = lambda what: send("tamper", what=[what], when="as it happened", severe=True)  # noqa: E731
    sealed: list[Any] = []  # the seal, once taken

    def after_call() -> None:
        """After each call of an answer by a check: what changed is put back at once, and reported."""
        if sealed and judging[0]:
            changed = sealed[0].namespace_changes(restore=True)
            if changed:
                send("tamper", what=changed[:20], when="while an answer was called by its check", severe=True)

    judging = [False]
    seal, _, found = j.seal_for(config["sheet"], tamper, after_call)
    sealed.append(seal)
    core = sys.modules[f"{j.EXERCISES}._core"]
    blank = core.BLANK
    answer_names: dict[str, str] = config.get("answers", {})
    fallback: dict[str, list[str]] = config.get("fallback", {})
    j.install_audit(tamper, judging)
    cells = code_cells(config["notebook"])
    send("ready", cells=len(cells), hidden=hidden, read_only=locked, private=private, pid=os.getpid())

    namespace = shell.user_ns
    last: dict[str, tuple[str | None, tuple[Any, ...]]] = {}
    messages: dict[str, str] = {}
    last_student: list[str | None] = [None]

    def judge_all(cell: int, final: bool) -> None:
        """Judge each answer the last cell bound or rebound; at the end, the ones that need it once more."""
        changed = seal.changes(restore=True)
        if changed:
            send("tamper", what=changed[:20], when=f"after code cell {cell}" if cell else "at the end")
        for name, question in found:
            if not getattr(question, "checked", True):
                if name not in last:
                    last[name] = (None, ())
                    send("verdict", cell=cell, **j.verdict_record(name, question, namespace, blank, {}, {}))
                continue
            names = j.candidate_names(name, question, answer_names, fallback)
            used, _ = j.lookup(namespace, names, blank)
            value = tuple(namespace.get(n, blank) for n in names)  # any of them changed: judge again
            before = last.get(name)
            unchanged = before is not None and len(before[1]) == len(value)
            if unchanged and all(a is b for a, b in zip(before[1], value, strict=True)):
                # the same answer: judged again at the end only if it failed for want of a name defined later
                if not final or not any(word in messages.get(name, "") for word in AGAIN):
                    continue
            elif used is None and before is None and not final:
                continue  # nothing yet: judged at the end, or reported unjudged
            last[name] = (used, value)
            send("judging", question=name, cell=cell)
            judging[0] = True
            try:
                record = j.verdict_record(name, question, namespace, blank, answer_names, fallback)
            finally:
                judging[0] = False
            after = seal.changes(restore=True)
            if after:
                send("tamper", what=after[:20], when=f"while {name} was judged", question=name)
            messages[name] = f"{record['status']}: {record.get('message', '')}"
            send("verdict", cell=cell, final=final, **record)

    import linecache

    sources = linecache.cache  # lines of the checks' files kept by a traceback shown earlier are not the notebook's
    for number, source in enumerate(cells, 1):
        sources.clear()
        send("cell", index=number)
        wait_for_ack(ack)  # the supervisor has passed on every record before this cell's code can touch it
        error = None
        try:
            result = shell.run_cell(source, store_history=False, silent=False)
            raised = result.error_before_exec or result.error_in_exec
            error = type(raised).__name__ if raised is not None else None
        except KeyboardInterrupt:
            error = "KeyboardInterrupt"
        except BaseException as exc:  # whatever a cell raises is that cell's
            error = type(exc).__name__
        send("ran", index=number, error=error)
        student = namespace.get("student_id")
        if isinstance(student, str) and student != last_student[0]:
            last_student[0] = student
            send("student", id=student[:200])
        for attempt in range(2):  # a Ctrl-C sent at the cell's deadline may land here: judge again
            try:
                judge_all(number, final=False)
                break
            except KeyboardInterrupt:
                if attempt:
                    raise
    judge_all(0, final=True)
    send("done")
    sys.stdout.flush()
    os._exit(0)  # no interpreter shutdown: the notebook's threads and atexit handlers are not waited for


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
