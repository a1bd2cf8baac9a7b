"""What a library fills in by itself while a notebook runs is no tampering; a forgery of it still is.

Walkthrough 08, every answer right, was "check by hand": pickling (objects sent to a process pool) caches a
class's slot names as ``cls.__slotnames__`` (``copyreg._slotnames``), and dask's first import appends two
finders to ``sys.meta_path`` (toolz's ``TlzLoader``, ``importlib_metadata.MetadataPathFinder``; walkthrough 02
too, through its self-check). Each is accepted only as the library makes it.
"""

from __future__ import annotations

import pickle
import sys
import types

import pytest

from ella_lab.grading.judge import Seal

try:
    import importlib_metadata  # the backport: dask imports it where installed (Python 3.11 here, not 3.13)
except ImportError:
    importlib_metadata = None
try:
    import tlz._build_tlz as tlz_build  # toolz, which dask imports
except ImportError:
    tlz_build = None
needs_toolz = pytest.mark.skipif(tlz_build is None, reason="toolz is not installed")


def sealed_module() -> tuple[types.ModuleType, type, Seal]:
    """A module of two fresh classes (one with slots, one private), importable (pickle finds them), sealed."""
    module = types.ModuleType("sealed_here")

    class Slotted:
        __slots__ = ("__b", "a")

        def __init__(self) -> None:
            self.a = 1
            self.__b = 2

    class Plain:
        pass

    for cls in (Slotted, Plain):
        cls.__module__ = module.__name__
        cls.__qualname__ = cls.__name__
        setattr(module, cls.__name__, cls)
    sys.modules[module.__name__] = module
    return module, Slotted, Seal([module])


@pytest.fixture(autouse=True)
def _no_module_left():
    yield
    sys.modules.pop("sealed_here", None)


@pytest.fixture
def meta_path():
    saved = list(sys.meta_path)
    yield sys.meta_path
    sys.meta_path[:] = saved


def test_pickling_caches_slot_names_and_that_is_no_tampering():
    module, slotted, seal = sealed_module()
    pickle.loads(pickle.dumps(slotted(), protocol=2))
    pickle.dumps(module.Plain(), protocol=2)
    assert vars(slotted)["__slotnames__"] == ["_Slotted__b", "a"]  # the cache is there
    assert seal.changes() == []


@pytest.mark.parametrize(
    "forged",
    [["a"], ["a", "_Slotted__b", "secret"], ("a", "_Slotted__b")],
    ids=["fewer", "more", "a-tuple"],
)
def test_forged_slot_names_are_flagged_and_removed(forged):
    _, slotted, seal = sealed_module()
    slotted.__slotnames__ = forged
    assert seal.changes(restore=True) == ["sealed_here.Slotted.__slotnames__ (added)"]
    assert "__slotnames__" not in vars(slotted)


def test_slot_names_that_only_compare_equal_are_flagged():
    _, slotted, seal = sealed_module()

    class Sly(str):
        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = str.__hash__

    slotted.__slotnames__ = [Sly("x"), Sly("y")]
    assert seal.changes() == ["sealed_here.Slotted.__slotnames__ (added)"]


@needs_toolz
def test_a_librarys_finder_appended_by_its_first_import_is_no_tampering(meta_path):
    _, _, seal = sealed_module()
    added = [tlz_build.TlzLoader()]
    if importlib_metadata is not None:
        added.append(importlib_metadata.MetadataPathFinder())
    meta_path.extend(added)
    assert seal.changes(restore=True) == []
    assert meta_path[-len(added) :] == added  # kept: the library uses them


class Hostile:
    def find_spec(self, name, path=None, target=None):
        return None


def look_alike() -> object:
    cls = type("TlzLoader", (), {"find_spec": Hostile.find_spec, "__module__": "tlz._build_tlz"})
    return cls()


def subclass() -> object:
    return type("TlzLoader", (tlz_build.TlzLoader,), {"__module__": "tlz._build_tlz"})()


def with_own_method() -> object:
    finder = tlz_build.TlzLoader()
    finder.find_spec = Hostile().find_spec
    return finder


@needs_toolz
@pytest.mark.parametrize(
    "make",
    [Hostile, look_alike, subclass, with_own_method],
    ids=["hostile", "look-alike", "subclass", "instance-method"],
)
def test_a_hostile_finder_is_flagged_and_removed(meta_path, make):
    _, _, seal = sealed_module()
    before = list(meta_path)
    meta_path.append(tlz_build.TlzLoader())
    meta_path.append(make())
    assert seal.changes(restore=True) == ["sys.meta_path"]
    assert meta_path == before


@needs_toolz
def test_a_librarys_finder_with_a_method_swapped_is_flagged(meta_path, monkeypatch):
    _, _, seal = sealed_module()
    monkeypatch.setattr(tlz_build.TlzLoader, "find_spec", Hostile.find_spec)
    meta_path.append(tlz_build.TlzLoader())
    assert seal.changes() == ["sys.meta_path"]


@needs_toolz
def test_a_library_finder_put_first_is_flagged(meta_path):
    _, _, seal = sealed_module()
    meta_path.insert(0, tlz_build.TlzLoader())
    assert seal.changes() == ["sys.meta_path"]


def test_the_warnings_registry_of_a_module_is_no_tampering():
    module = types.ModuleType("ella_lab_warns")  # a name of this package's: its every name is sealed
    exec("import warnings", vars(module))
    seal = Seal([module])
    exec("with warnings.catch_warnings():\n    warnings.simplefilter('ignore')\n    warnings.warn('x')", vars(module))
    assert type(vars(module)["__warningregistry__"]) is dict
    assert seal.changes() == []
    vars(module)["__warningregistry__"] = ["not", "a", "registry"]
    assert seal.changes() == ["ella_lab_warns.__warningregistry__ (added)"]
