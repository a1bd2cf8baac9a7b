"""The grader's judge: the checks, sealed before any student code runs, and the verdicts they give.

The judge runs in a fresh interpreter (``sandbox.py``). Before the notebook's first cell it imports the
sheet and the standard modules the checks use, takes a :class:`Seal` of them, and installs an audit
hook (``sys.addaudithook``: it cannot be removed). Then:

- **What the notebook changes is put back before each judgement.** The seal records every name of the
  ``ella_lab`` modules and their classes and questions, the public names of the watched standard
  modules (``math``, ``numbers``, ``operator``, ``builtins``, ...) and their classes' methods, and
  ``sys.stdout``/``stderr``/``displayhook``/``excepthook``/``meta_path``/``path_hooks``/the import
  cache and ``sys.modules``. Before an answer is judged they are restored, and what had changed is
  reported: the row says "check by hand" with the reason, and the answer earns what it earns under the
  real checks. The dictionaries of the builtin types (``float.__eq__`` changed through ``gc``) cannot be
  put back: a change there is reported only.
- **A question's record of its own use is not tampering.** ``hint()`` counts the hints, a predict
  ``check(p, measured=..., cores=...)`` keeps the measurement and the setup (:data:`USE_STATE`): using the
  exercises as meant changes them. They are put back silently before each judgement, as fresh copies of
  their sealed values (a dictionary written into in place too), so no value a notebook leaves there reaches
  a hidden verdict. Every other attribute of a question object is watched like its class's: one set on it
  (``ex.q1._check_hidden = ...``, ``ex.q1.rel = 10``) shadows the class's, and is removed and reported.
- **What only a determined student does is seen.** The audit hook notes, at the moment it happens, the
  notebook's own code reaching for frames (``sys._getframe``, a traceback's ``tb_frame``), the garbage
  collector's object lists, ``ctypes``, a trace or profile function, or a second audit hook. That is how
  a notebook could read the key of the verdicts' channel or rewrite a check from inside: such a row is
  always "check by hand".
- **What the checks know is not the notebook's.** Every ``solution_text`` is emptied and every hidden case
  is put behind :class:`Concealed` before the seal; the notebook's code that reads a hidden case, opens a
  file of the checks, or compiles code under a library file's name is refused, and the row is "check by hand".
- **A value answer whose type the notebook defines** (an object with its own ``__eq__``/``__float__``/
  ``__bool__``, a ``str`` subclass) is judged, and flagged: its own methods may decide the comparison.
"""

from __future__ import annotations

import builtins
import contextlib
import copy
import importlib
import importlib.machinery
import io
import os
import sys
import sysconfig
import threading
import types
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "USE_STATE",
    "Refused",
    "Seal",
    "answer_problem",
    "install_audit",
    "judge",
    "judge_one",
    "questions",
    "seal_for",
]

EXERCISES = "ella_lab.exercises"
# What the checks (and this judge) use from the standard library.
WATCHED = (
    "builtins",
    "math",
    "cmath",
    "numbers",
    "decimal",
    "fractions",
    "operator",
    "functools",
    "itertools",
    "collections",
    "collections.abc",
    "json",
    "json.encoder",
    "json.decoder",
    "time",
    "threading",
    "queue",
    "concurrent.futures",
    "concurrent.futures._base",
    "concurrent.futures.thread",
    "asyncio",
    "contextlib",
    "io",
    "importlib",
    "inspect",
    "traceback",
    "types",
    "random",
    "statistics",
    "re",
    "socket",
    "subprocess",
    "os",
    "os.path",
    "sys",
    "hmac",
    "hashlib",
    "textwrap",
    "urllib.request",
    "urllib.error",
    "http.client",
    "tempfile",
)
SYS_HOOKS = ("stdout", "stderr", "stdin", "displayhook", "excepthook", "unraisablehook", "breakpointhook")
# What a check's comparison of an answer relies on: watched after every call of an answer, too.
COMPARING = ("ella_lab.", "math", "cmath", "numbers", "decimal", "fractions", "operator")
# What a question object keeps about its own use, set by its methods as a learner uses it: the hint counter
# (``Question.hint``), the measurement and setup a predict check was given (``PredictQuestion.check``:
# ``_measured``, ``_context``; ``Prediction.check`` and walk07's ``HedgePredict.check``: ``measured``), and
# what walk09's fetch check notes while it runs (``_sockets``, ``_leaks``, ``never_accepted_checked``).
# Put back silently before each judgement (see the module's docstring); a hidden check never sees the
# notebook's values. tests/test_grading_use_state.py fails when a question sets an attribute not named here.
USE_STATE = frozenset(
    {"_next_hint", "_measured", "_context", "measured", "_sockets", "_leaks", "never_accepted_checked"}
)
# A library module's cache, set by the library itself as a walkthrough runs (``claims.calibrate`` keeps the
# machine's noise for 30 s) and read by no check: not reported, left as the notebook's run set it. Seen:
# notebook 07 with every model answer made "check by hand" by ella_lab.claims._last.
LIBRARY_CACHES = frozenset({"ella_lab.claims._last"})
BUILTIN_TYPES = (int, float, complex, str, bytes, bool, list, tuple, dict, set, frozenset, object, type, BaseException)
# Audit events that only a notebook set on the grader's internals needs (see the module's docstring).
SUSPECT_EVENTS = {
    "sys._getframe": "reads the interpreter's frames (sys._getframe / inspect.currentframe)",
    "sys._current_frames": "reads the interpreter's frames (sys._current_frames)",
    "sys._current_exceptions": "reads the interpreter's frames (sys._current_exceptions)",
    "gc.get_objects": "walks the garbage collector's objects (gc.get_objects)",
    "gc.get_referrers": "walks the garbage collector's objects (gc.get_referrers)",
    "gc.get_referents": "walks the garbage collector's objects (gc.get_referents)",
    "sys.settrace": "sets a trace function (sys.settrace)",
    "sys.setprofile": "sets a profile function (sys.setprofile)",
    "sys.addaudithook": "adds an audit hook",
    "ctypes.dlopen": "uses ctypes",
    "ctypes.dlsym": "uses ctypes",
    "ctypes.cdata": "uses ctypes",
    "ctypes.addressof": "uses ctypes",
    "ctypes.string_at": "uses ctypes",
    "ctypes.call_function": "uses ctypes",
}
FRAME_ATTRIBUTES = {"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back"}
READS_CHECKS = "reads the files of the checks (their hidden cases and solutions are in them)"
SHEETS_FOLDER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "exercises")

_LIBRARY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the ella_lab package
_INSTALLED = tuple(
    os.path.abspath(path)
    for key in ("stdlib", "platstdlib", "purelib", "platlib")
    if (path := sysconfig.get_paths().get(key))
)


_SOURCE_LOADER = importlib.machinery.SourceFileLoader
_LOADER_METHODS = {  # as the import system has them before any notebook runs
    name: getattr(_SOURCE_LOADER, name) for name in ("get_code", "get_data", "get_filename", "source_to_code")
}


def imports_the_file(frame: Any, filename: str) -> bool:
    """True when a ``compile`` of ``filename`` (a library file) is the import system compiling that file itself.

    With no cached bytecode for it (``PYTHONDONTWRITEBYTECODE``, a ``__pycache__`` gone stale since an update)
    a notebook's ``from ella_lab.experiments import paced`` compiles ``experiments.py``: that is the library's
    own source, read from its file by the standard loader (not one the notebook subclassed or patched). Seen:
    notebook 07's setup cell refused, the row "check by hand".
    """
    while frame is not None and frame.f_code.co_filename.startswith("<frozen"):
        if frame.f_code.co_name == "get_code" and frame.f_code.co_filename == "<frozen importlib._bootstrap_external>":
            local = frame.f_locals
            return (
                type(local.get("self")) is _SOURCE_LOADER
                and all(getattr(_SOURCE_LOADER, name) is method for name, method in _LOADER_METHODS.items())
                and local.get("source_path") == filename
            )
        frame = frame.f_back
    return False


def is_submodule(package: Any, key: str, value: Any) -> bool:
    """True when ``package.key`` is a library submodule the import system bound there (``ella_lab.experiments``,
    imported after the seal by a check's own lazy import or by the notebook's setup cell): no tampering."""
    name = f"{getattr(package, '__name__', '')}.{key}"
    return (
        isinstance(package, types.ModuleType)
        and isinstance(value, types.ModuleType)
        and getattr(value, "__name__", None) == name
        and sys.modules.get(name) is value
        and isinstance(getattr(value, "__file__", None), str)
        and is_library_file(value.__file__)
    )


def same_plain(now: Any, then: Any) -> bool:
    """True for equal plain data of the same types (str, numbers, None, tuples of them): ``time.tzname`` rebuilt
    by ``time.tzset()`` (``import pandas`` calls it) is a new tuple of the same names, no tampering."""
    if type(now) is not type(then):
        return False
    if isinstance(now, tuple):
        return len(now) == len(then) and all(same_plain(a, b) for a, b in zip(now, then, strict=True))
    return type(now) in (str, bytes, int, float, bool, type(None)) and now == then


# Finders a library appends to ``sys.meta_path`` when first imported, by the notebook's own imports after the
# seal (walk02's selfcheck and walk08 import dask, which imports both): (module, class).
LIBRARY_FINDERS = frozenset({("tlz._build_tlz", "TlzLoader"), ("importlib_metadata", "MetadataPathFinder")})


def is_library_finder(finder: Any) -> bool:
    """True when ``finder`` is an instance of one of :data:`LIBRARY_FINDERS`, the class the installed library
    defines (not a look-alike of the notebook's), every method of it and its bases the library's or the standard
    library's code, and no function set on the instance."""
    cls = type(finder)
    module = sys.modules.get(str(cls.__module__))
    if (cls.__module__, cls.__qualname__) not in LIBRARY_FINDERS or module is None:
        return False
    if vars(module).get(cls.__qualname__) is not cls or not is_library_file(str(getattr(module, "__file__", ""))):
        return False
    for klass in cls.__mro__:
        for value in vars(klass).values():
            function = getattr(value, "__func__", value)
            code = getattr(function, "__code__", None)
            if code is not None and not is_library_file(code.co_filename):
                return False
    return not any(callable(v) for v in getattr(finder, "__dict__", {}).values())


def fresh_slotnames(cls: type) -> list[str]:
    """``copyreg._slotnames(cls)`` computed again, not read from its cache (``cls.__slotnames__``): the slot
    names pickling sends for an instance of ``cls``."""
    names: list[str] = []
    if not hasattr(cls, "__slots__"):
        return names
    for klass in cls.__mro__:
        slots = vars(klass).get("__slots__")
        if slots is None:
            continue
        for name in (slots,) if isinstance(slots, str) else slots:
            if name in ("__dict__", "__weakref__"):
                continue
            if name.startswith("__") and not name.endswith("__"):
                stripped = klass.__name__.lstrip("_")
                names.append(f"_{stripped}{name}" if stripped else name)
            else:
                names.append(name)
    return names


def is_slotnames_cache(owner: Any, key: str, value: Any) -> bool:
    """True when ``owner.key`` is copyreg's cache of the class's slot names, set when an instance is pickled
    (walk08 sends Retry, CircuitBreaker, ... to a process pool), holding what copyreg computes: no tampering."""
    if key != "__slotnames__" or not isinstance(owner, type) or type(value) is not list:
        return False
    return all(type(name) is str for name in value) and value == fresh_slotnames(owner)


def is_library_file(filename: str) -> bool:
    """True for code of this package, the standard library or an installed package (not a notebook's).

    Code compiled from a string (``"<string>"``: ``exec``, ``eval``) is the notebook's: a notebook that wrapped
    its frame-reading answer in ``exec(...)`` passed for the library, and read the checks' expected values
    unseen. (What the library generates so, a dataclass's ``__init__``, reaches for no frame.)
    """
    if filename.startswith("<frozen"):
        return True
    path = os.path.abspath(filename)
    return path.startswith(_LIBRARY + os.sep) or path.startswith(_INSTALLED)


def questions(module: types.ModuleType, question_type: type | None = None) -> list[tuple[str, Any]]:
    """The sheet's questions as (name, question), in the order q1, q2, ... (names without a number, like
    walk07's storm, hedge, breaker, in the order the sheet defines them: the notebook's)."""
    if question_type is None:
        question_type = importlib.import_module(f"{EXERCISES}._core").Question
    found = [(name, value) for name, value in vars(module).items() if isinstance(value, question_type)]
    return sorted(found, key=lambda item: _order(item[0]))  # stable: the module's order among equal keys


def _order(name: str) -> tuple[int, str]:
    digits = "".join(ch for ch in name if ch.isdigit())
    return (int(digits), name) if digits else (10**6, "")


# -- the audit hook ---------------------------------------------------------------------------------


HYPOTHESIS_SCAN = os.path.join("hypothesis", "internal", "constants_ast.py")


def _hypothesis_scan(frame: types.FrameType | None) -> bool:
    """True when an open comes from Hypothesis reading the source of every loaded module for constants to try
    (``constants_from_module``, under a notebook's ``@given``): walk05's property cells read the checks so."""
    for _ in range(5):
        if frame is None:
            return False
        code = frame.f_code
        if code.co_name == "constants_from_module" and code.co_filename.endswith(HYPOTHESIS_SCAN):
            return is_library_file(code.co_filename)
        frame = frame.f_back
    return False


class Refused(RuntimeError):
    """What the notebook's code gets when it reaches for frames, the collector's lists or ctypes while judged."""


def install_audit(report: Callable[[str], None], judging: list[bool] | None = None) -> None:
    """Install the audit hook: each suspect event raised by the notebook's own code is ``report``ed once, at once.

    While ``judging[0]`` is true (an answer is being judged), the event is refused too: the answer's code gets
    ``Refused`` (an answer never needs the interpreter's frames, and with them it could read the expected
    values out of the check), so the answer earns only what it earns without them.
    """
    seen: set[str] = set()
    refuse = judging if judging is not None else [False]
    busy = [False]
    getframe = sys._getframe
    library = is_library_file

    def hook(event: str, args: tuple) -> None:
        if busy[0]:
            return
        if event == "open" and args and isinstance(args[0], (str, bytes)):
            busy[0] = True
            try:  # a relative path, a symbolic link, bytes: the file itself
                path = os.path.realpath(os.fsdecode(args[0]))
            except (ValueError, OSError):
                return
            finally:
                busy[0] = False
            if path.startswith(SHEETS_FOLDER):  # inspect.getsource(sheet): the hidden cases are in the text
                why = READS_CHECKS
            elif _process_memory(path):  # where the key of the verdicts' channel could be looked for
                why = f"reads a process's memory or environment ({path[:60]})"
            else:
                return
            busy[0] = True
            try:
                anywhere = notebook_on_stack(getframe(1))
                scan = why == READS_CHECKS and _hypothesis_scan(getframe(1))
            finally:
                busy[0] = False
            if scan:  # refused, unread, and no cheat: Hypothesis skips a module it cannot read
                raise Refused(f"the grader does not let the notebook do this: it {why}")
            if anywhere:
                if why not in seen:
                    seen.add(why)
                    report(f"the notebook's code {why}")
                raise Refused(f"the grader does not let the notebook do this: it {why}")
            return
        why = SUSPECT_EVENTS.get(event)
        if why is None and event == "compile" and len(args) > 1 and isinstance(args[1], str) and library(args[1]):
            why = f"compiles code under a file name the grader takes for the library's ({args[1][:80]})"
        if why is None and event == "object.__getattr__" and len(args) > 1 and args[1] in FRAME_ATTRIBUTES:
            why = f"reads the interpreter's frames (.{args[1]})"
        if why is None and event == "import" and args and args[0] in ("ctypes", "_ctypes"):
            why = "imports ctypes"
        if why is None:
            return
        busy[0] = True
        try:
            frame = getframe(1)
            if event == "compile" and imports_the_file(frame, args[1]):
                return
            while frame is not None and frame.f_code.co_filename.startswith("<frozen"):
                frame = frame.f_back
            if frame is None or library(frame.f_code.co_filename):
                return
            if why not in seen:
                seen.add(why)
                report(f"the notebook's code {why}")
        finally:
            busy[0] = False
        if refuse[0] or event == "compile":  # no answer needs to pass for the library: refused at any time
            raise Refused(f"the grader does not let an answer do this while it is judged: it {why}")

    sys.addaudithook(hook)


def _process_memory(path: str) -> bool:
    """``/proc/<pid>/mem``, ``environ`` and the like: where the key of the verdicts' channel could be looked for."""
    parts = os.path.normpath(path).split(os.sep)
    return len(parts) >= 4 and parts[1] == "proc" and parts[-1] in ("mem", "environ", "pagemap", "maps", "smaps")


def notebook_on_stack(frame: Any) -> bool:
    """True when a frame of the notebook's own code is on the stack from ``frame`` down (a library function
    the notebook called, ``inspect.getsource`` or ``getattr``, acts for the notebook)."""
    while frame is not None:
        if not is_library_file(frame.f_code.co_filename):
            return True
        frame = frame.f_back
    return False


class Concealed:
    """A question's hidden cases in the grader: the checks read them; the notebook's code is refused them.

    The grader's install is the teacher's, whose sheets hold the hidden cases: ``type(ex.q1).HIDDEN`` in a
    notebook's cell built a table of the expected values, and earned what the hidden cases exist to refuse.
    """

    __slots__ = ("_name", "_report", "_value")

    def __init__(self, name: str, value: Any, report: Callable[[str], None]) -> None:
        self._name, self._value, self._report = name, value, report

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if notebook_on_stack(sys._getframe(1)):
            self._report(f"the notebook's code reads the hidden cases ({self._name})")
            raise Refused(f"the grader does not let the notebook read the hidden cases ({self._name})")
        return self._value


def _in_traceback(frame: Any) -> bool:
    """True when ``traceback`` (or IPython showing one) asks for the lines: an error shown, not a source read."""
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if name == "traceback" or name.startswith(("IPython.core.ultratb", "stack_data")):
            return is_library_file(frame.f_code.co_filename)
        if not is_library_file(frame.f_code.co_filename):
            return False
        frame = frame.f_back
    return False


def _is_hidden_name(name: str) -> bool:
    return name.lstrip("_").startswith("HIDDEN")


class _ConcealingModule(types.ModuleType):
    """A sheet's module whose ``HIDDEN...`` constants are refused to the notebook's code (the checks read their
    own globals, which this does not change)."""

    def __getattribute__(self, name: str) -> Any:
        if _is_hidden_name(name) and notebook_on_stack(sys._getframe(1)):
            report = types.ModuleType.__getattribute__(self, "__dict__").get("_ella_lab_report")
            if report is not None:
                report(f"the notebook's code reads the hidden cases ({name})")
            raise Refused(f"the grader does not let the notebook read the hidden cases ({name})")
        return types.ModuleType.__getattribute__(self, name)


def conceal(modules: Iterable[types.ModuleType], question_type: type, report: Callable[[str], None]) -> None:
    """Before the seal: empty every ``solution_text`` (a notebook ran ``exec(q.solution_text)``, or what
    ``q.solution()`` printed, for full marks) and put every hidden case behind :class:`Concealed`."""
    for module in modules:
        for value in list(vars(module).values()):
            if isinstance(value, type) and issubclass(value, question_type):
                for name, item in list(vars(value).items()):
                    if name == "solution_text":
                        type.__setattr__(value, name, "")
                    elif _is_hidden_name(name) and not callable(item):
                        type.__setattr__(value, name, Concealed(f"{value.__name__}.{name}", item, report))
            elif isinstance(value, question_type) and "solution_text" in vars(value):
                vars(value)["solution_text"] = ""
        if any(_is_hidden_name(k) for k in vars(module)):
            vars(module)["_ella_lab_report"] = report
            module.__class__ = _ConcealingModule
    _no_source_lines(report)


def watch_each_call(modules: Iterable[types.ModuleType], after: Callable[[], None]) -> None:
    """Before the seal: each sheet's ``call_bounded`` (how a check calls an answer) runs ``after`` once the answer
    returns. An answer that replaced a helper of its check on its first call (``phase3.close_to``) and put it
    back on its last passed every hidden case, and the seal, compared before and after the judgement, saw
    nothing; ``after`` compares and puts back after each call."""
    for module in modules:
        real = vars(module).get("call_bounded")
        if not isinstance(real, types.FunctionType) or getattr(real, "_ella_lab_watched", False):
            continue

        def call_bounded(function: Callable, *args: Any, _real: Callable = real, **kwargs: Any) -> Any:
            try:
                return _real(function, *args, **kwargs)
            finally:
                after()

        call_bounded.__doc__ = real.__doc__
        call_bounded._ella_lab_watched = True  # type: ignore[attr-defined]
        vars(module)["call_bounded"] = call_bounded


def _no_source_lines(report: Callable[[str], None]) -> None:
    """``linecache`` (tracebacks, ``inspect.getsource``) gets no line of the checks' files: a traceback of a check
    that broke, shown by a notebook's own cell, read the whole file into ``linecache.cache`` (and an open with the
    notebook's code on the stack is refused: an honest notebook was flagged)."""
    import linecache

    update = linecache.updatecache
    said: list[bool] = []

    def updatecache(filename: str, module_globals: Any = None) -> list[str]:
        if isinstance(filename, str) and os.path.realpath(filename).startswith(SHEETS_FOLDER):
            linecache.cache.pop(filename, None)
            caller = sys._getframe(1)
            if not said and notebook_on_stack(caller) and not _in_traceback(caller):
                said.append(True)
                report(f"the notebook's code {READS_CHECKS}")
            return []
        return update(filename, module_globals)

    if getattr(update, "__name__", "") != "updatecache" or getattr(update, "__module__", "") == __name__:
        return
    linecache.updatecache = updatecache


# -- the seal ---------------------------------------------------------------------------------------


def _defined_in(value: Any, module: types.ModuleType) -> bool:
    return isinstance(value, type) and str(getattr(value, "__module__", "")).startswith(module.__name__)


class Seal:
    """What the checks rely on, as it was when sealed: compared with now, and put back (see the module's docstring)."""

    def __init__(self, modules: Iterable[types.ModuleType], objects: Iterable[Any] = ()) -> None:
        self._namespaces: list[tuple[str, Any, dict[str, Any], bool]] = []  # (place, owner, snapshot, whole)
        self._classes: list[tuple[str, Any, type]] = []  # (place, instance, its class)
        self._functions: list[tuple[str, Any, Any, int, Any, Any, tuple]] = []
        self._types = {t: dict(vars(t)) for t in BUILTIN_TYPES}
        self._sys = {name: getattr(sys, name, None) for name in SYS_HOOKS}
        self._lists = {name: list(getattr(sys, name)) for name in ("meta_path", "path_hooks")}
        self._importer_cache = dict(sys.path_importer_cache)
        self._modules = dict(sys.modules)
        self._builtins = dict(vars(builtins))
        self._setattr = type.__setattr__
        self._delattr = type.__delattr__
        for module in modules:
            own = module.__name__.startswith("ella_lab")
            names = dict(vars(module)) if own else {k: v for k, v in vars(module).items() if not k.startswith("_")}
            self._namespaces.append((module.__name__, module, names, own))
            for key, value in list(vars(module).items()):
                if _defined_in(value, module) or (own and isinstance(value, type) and key in names):
                    body = {k: v for k, v in vars(value).items() if k not in ("__dict__", "__weakref__")}
                    self._namespaces.append((f"{module.__name__}.{key}", value, body, True))
                    for attribute, item in body.items():
                        function = getattr(item, "__func__", item)
                        if own and isinstance(function, types.FunctionType):
                            self._function(f"{module.__name__}.{key}.{attribute}", function)
                elif own and isinstance(value, types.FunctionType):
                    self._function(f"{module.__name__}.{key}", value)
        self._use: list[tuple[Any, dict[str, Any]]] = []  # (question, copies of its USE_STATE when sealed)
        for obj in objects:
            place = f"{getattr(obj, 'sheet', '')}.{getattr(obj, 'name', type(obj).__name__)}"
            self._classes.append((place, obj, type(obj)))
            if hasattr(obj, "__dict__"):
                own = dict(vars(obj))
                self._use.append((obj, copy.deepcopy({k: v for k, v in own.items() if k in USE_STATE})))
                # whole: an attribute set on the question shadows its class's (a check method, a tolerance)
                self._namespaces.append((place, obj, {k: v for k, v in own.items() if k not in USE_STATE}, True))

    def _function(self, place: str, function: types.FunctionType) -> None:
        code = function.__code__
        cells = tuple(c.cell_contents if _filled(c) else None for c in function.__closure__ or ())
        self._functions.append(
            (place, function, code, hash(code.co_code), function.__defaults__, function.__kwdefaults__, cells)
        )

    def namespace_changes(self, restore: bool = False) -> list[str]:
        """What differs in the names and functions of this package and of the modules its comparisons use
        (``math``, ``numbers``, ``operator``, ...), only: cheap enough to run after every call of an answer, and
        blind to what a check itself swaps for a while (``time.sleep`` for a fake clock, ``sys.stdout``)."""
        changed: list[str] = []
        self._namespace_changes(changed, restore, only=COMPARING)
        return list(dict.fromkeys(changed))

    def changes(self, restore: bool = False) -> list[str]:
        """What differs from the seal (and, with ``restore``, is put back where it can be)."""
        changed: list[str] = []
        if sys.gettrace() is not None or sys.getprofile() is not None:
            changed.append("sys.settrace/sys.setprofile (a trace or profile function)")
            if restore:
                sys.settrace(None)
                sys.setprofile(None)
                threading.settrace(None)  # type: ignore[arg-type]
                threading.setprofile(None)  # type: ignore[arg-type]
        for name, value in self._sys.items():
            if getattr(sys, name, None) is not value:
                changed.append(f"sys.{name}")
                if restore:
                    setattr(sys, name, value)
        for name, saved in self._lists.items():
            now = getattr(sys, name)
            added = list(now[len(saved) :])
            if name == "meta_path" and all(is_library_finder(f) for f in added):
                saved = saved + added  # a library's finder, appended by its first import (dask's tlz)
            if len(now) != len(saved) or any(a is not b for a, b in zip(now, saved, strict=False)):
                changed.append(f"sys.{name}")
                if restore:
                    now[:] = saved
        cache = sys.path_importer_cache
        if any(cache.get(k, self) is not v for k, v in self._importer_cache.items()):
            changed.append("sys.path_importer_cache")
        if restore:
            cache.clear()
            cache.update(self._importer_cache)
        swapped = [k for k, v in self._modules.items() if sys.modules.get(k) is not v]
        if swapped:
            changed += [f"sys.modules[{k!r}]" for k in swapped[:5]]
            if restore:
                sys.modules.update({k: self._modules[k] for k in swapped})
        now = vars(builtins)
        if now.keys() != self._builtins.keys() or any(now[k] is not v for k, v in self._builtins.items()):
            changed += [f"builtins.{k}" for k in self._builtins if now.get(k, self) is not self._builtins[k]][:5]
            changed += [f"builtins.{k} (added)" for k in now if k not in self._builtins][:5]
            if restore:
                now.clear()
                now.update(self._builtins)
        self._namespace_changes(changed, restore)
        if restore:
            self.restore_use()
        for kind, saved in self._types.items():
            current = vars(kind)
            if current.keys() != saved.keys() or any(current[k] is not v for k, v in saved.items()):
                changed.append(f"the builtin type {kind.__name__} (cannot be put back)")
        return list(dict.fromkeys(changed))

    def restore_use(self) -> None:
        """Put each question's record of its own use (:data:`USE_STATE`) back to fresh copies of its sealed
        values, silently: hints asked for and measurements passed to a check are the exercises used as meant,
        and a value the notebook left there (or wrote into the sealed dictionary) must not reach a verdict."""
        for obj, sealed in self._use:
            current = vars(obj)
            for key in [k for k in current if k in USE_STATE and k not in sealed]:
                with contextlib.suppress(KeyError):
                    del current[key]
            for key, value in sealed.items():
                current[key] = copy.deepcopy(value)

    def _namespace_changes(self, changed: list[str], restore: bool, only: tuple[str, ...] | None = None) -> None:
        for place, owner, saved, whole in self._namespaces:
            if only is not None and not place.startswith(only):
                continue
            current = vars(owner)
            for key, value in saved.items():
                if f"{place}.{key}" in LIBRARY_CACHES:
                    continue
                if current.get(key, self) is not value and not same_plain(current.get(key, self), value):
                    changed.append(f"{place}.{key}")
                    if restore:
                        self._put(owner, key, value)
            if whole:
                for key in [k for k in current if k not in saved and k not in ("__dict__", "__weakref__")]:
                    if isinstance(owner, type) and key.startswith("_abc"):
                        continue
                    if key in USE_STATE and not isinstance(owner, (type, types.ModuleType)):
                        continue  # a question's record of its use: put back by restore_use, silently
                    if is_submodule(owner, key, current[key]):
                        continue  # a library module imported since the seal (a check's lazy import, a setup cell)
                    if is_slotnames_cache(owner, key, current[key]):
                        continue  # pickling's cache of the class's slot names (objects sent to a process pool)
                    if (
                        key == "__warningregistry__"
                        and isinstance(owner, types.ModuleType)
                        and type(current[key]) is dict
                    ):
                        continue  # the warnings module's record of the warnings this module gave (walk10)
                    changed.append(f"{place}.{key} (added)")
                    if restore:
                        self._put(owner, key, None, delete=True)
        for place, obj, cls in self._classes:
            if type(obj) is not cls:
                changed.append(f"{place}.__class__")
                if restore:
                    with contextlib.suppress(TypeError):
                        object.__setattr__(obj, "__class__", cls)
        for place, function, code, digest, defaults, kwdefaults, cells in self._functions:
            now_cells = tuple(c.cell_contents if _filled(c) else None for c in function.__closure__ or ())
            if (
                function.__code__ is not code
                or function.__defaults__ is not defaults
                or function.__kwdefaults__ is not kwdefaults
                or len(now_cells) != len(cells)
                or any(a is not b for a, b in zip(now_cells, cells, strict=False))
            ):
                changed.append(place)
                if restore:
                    function.__code__, function.__defaults__, function.__kwdefaults__ = code, defaults, kwdefaults
                    for cell, value in zip(function.__closure__ or (), cells, strict=False):
                        cell.cell_contents = value
            elif hash(code.co_code) != digest:
                changed.append(f"{place} (its compiled code, rewritten in memory)")

    def _put(self, owner: Any, key: str, value: Any, delete: bool = False) -> None:
        try:
            if isinstance(owner, type):
                if delete:
                    self._delattr(owner, key)
                else:
                    self._setattr(owner, key, value)
            elif delete:
                del vars(owner)[key]
            else:
                vars(owner)[key] = value
        except (TypeError, AttributeError, KeyError):
            pass


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True


def seal_for(
    sheet: str, report: Callable[[str], None] | None = None, after_call: Callable[[], None] | None = None
) -> tuple[Seal, types.ModuleType, list[tuple[str, Any]]]:
    """Import the sheet (and what its checks use); with ``report``, :func:`conceal` its solutions and hidden
    cases (reading one is ``report``ed); seal it; return (seal, module, questions)."""
    for name in WATCHED:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    tempfile = importlib.import_module("tempfile")
    tempfile.gettempdir()  # sets tempfile.tempdir, which the first temporary file would set
    module = importlib.import_module(f"{EXERCISES}.{sheet}")
    core = importlib.import_module(f"{EXERCISES}._core")
    found = questions(module, core.Question)
    if report is not None:  # every sheet now, concealed: a notebook's import of one reads no file of the checks
        folder = os.path.dirname(os.path.abspath(core.__file__))
        for name in sorted(os.listdir(folder)):
            if name.startswith("phase") and name.endswith(".py"):
                importlib.import_module(f"{EXERCISES}.{name[:-3]}")
    own = [
        m for name, m in list(sys.modules.items()) if name.startswith("ella_lab") and isinstance(m, types.ModuleType)
    ]
    if report is not None:
        conceal([m for m in own if m.__name__.startswith(EXERCISES + ".")], core.Question, report)
    if after_call is not None:
        watch_each_call([m for m in own if m.__name__.startswith(EXERCISES + ".")], after_call)
    watched = [sys.modules[name] for name in WATCHED if name in sys.modules]
    return Seal([*own, *watched], [q for _, q in found]), module, found


# -- judging ----------------------------------------------------------------------------------------


def answer_problem(answer: Any) -> str | None:
    """Why a value answer must be read by the teacher: its type (or an item's) is the notebook's own, so its
    own ``__eq__``/``__float__``/``__bool__`` may decide the comparison. None for plain values and for code."""
    if callable(answer) and not isinstance(answer, (str, bytes, int, float, complex)):
        return None  # a function or a class is judged by running it

    def foreign(value: Any, depth: int) -> type | None:
        kind = type(value)
        module = sys.modules.get(getattr(kind, "__module__", "") or "")
        source = getattr(module, "__file__", None)
        if kind.__module__ != "builtins" and (source is None or not is_library_file(source)):
            return kind
        if depth < 3 and kind in (list, tuple, set, frozenset):
            for item in list(value)[:1000]:
                if (found := foreign(item, depth + 1)) is not None:
                    return found
        if depth < 3 and kind is dict:
            for pair in list(value.items())[:1000]:
                for item in pair:
                    if (found := foreign(item, depth + 1)) is not None:
                        return found
        return None

    kind = foreign(answer, 0)
    if kind is None:
        return None
    name = kind.__qualname__
    return f"the answer holds an object of the notebook's own class {name!r}: its methods may decide the comparison"


def judge_one(question: Any, answer: Any) -> tuple[str, str]:
    """(status, message) for ``answer``: the question's hidden cases (its ``hidden_check``), silently."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        result = question.hidden_check(answer)
    status = getattr(result, "status", None)
    if not isinstance(status, str):
        return "error", "the check gave no verdict"
    return status, str(getattr(result, "message", ""))


def lookup(namespace: dict[str, Any], names: list[str], blank: Any) -> tuple[str | None, Any]:
    """The first of ``names`` bound in ``namespace`` to something other than ``blank``/None: (name, value)."""
    for name in names:
        value = namespace.get(name, blank)
        if value is not blank and value is not None:
            return name, value
    return None, blank


def candidate_names(
    name: str, question: Any, answer_names: dict[str, str], fallback: dict[str, list[str]]
) -> list[str]:
    """The names an answer may have: the sheet's (``answer_name``), then the ones the student's checks used."""
    first = getattr(question, "answer_name", None) or answer_names.get(name)
    return [n for n in dict.fromkeys([first, *fallback.get(name, [])]) if isinstance(n, str) and n]


def judge(
    sheet: str,
    namespace: dict[str, Any],
    answer_names: dict[str, str] | None = None,
    fallback_names: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Judge every question of ``ella_lab.exercises.<sheet>`` on the answers in ``namespace`` (in this process)."""
    module = importlib.import_module(f"{EXERCISES}.{sheet}")
    core = importlib.import_module(f"{EXERCISES}._core")
    verdicts = []
    for name, question in questions(module, core.Question):
        record = verdict_record(name, question, namespace, core.BLANK, answer_names or {}, fallback_names or {})
        verdicts.append(record)
    return {"sheet": sheet, "questions": verdicts}


def verdict_record(
    name: str,
    question: Any,
    namespace: dict[str, Any],
    blank: Any,
    answer_names: dict[str, str],
    fallback: dict[str, list[str]],
) -> dict[str, Any]:
    """One question's verdict as a record: question, status, message, answer_name, attempted, flag."""
    record: dict[str, Any] = {"question": name, "points": float(getattr(question, "points", 1))}
    if not getattr(question, "checked", True):
        return {**record, "status": "manual", "message": "written answer: mark by hand", "attempted": None}
    names = candidate_names(name, question, answer_names, fallback)
    used, answer = lookup(namespace, names, blank)
    record["answer_name"] = used
    try:
        status, message = judge_one(question, answer)
    except (Exception, SystemExit, KeyboardInterrupt) as exc:  # the check broke, or was stopped: this question only
        status, message = "error", f"the check failed ({type(exc).__name__}: {exc})"
    if used is not None and status == "not attempted" and len(names) > 1:  # another name the student checked
        for other in names[names.index(used) + 1 :]:
            value = namespace.get(other, blank)
            if value is blank or value is None:
                continue
            with contextlib.suppress(Exception, SystemExit, KeyboardInterrupt):
                status, message = judge_one(question, value)
                used, answer = other, value
                record["answer_name"] = other
                if status != "not attempted":
                    break
    record.update(status=status, message=message[:2000], attempted=status != "not attempted")
    problem = answer_problem(answer) if used is not None else None
    if problem:
        record["flag"] = problem
    return record
