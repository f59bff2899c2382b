"""One small registry class shared by every family (datasets, models, attacks, noises, ...).

Lazy families. A family declared in FAMILIES knows its entries without importing them: it reads
the files of its package with `ast` and lists every module-level `@<decorator>("name")` (or
`<decorator>("name")(obj)` statement) whose decorator is one of the family's. `get(name)` then
imports only the module that registers `name`. So

  - a new attack, model, dataset, noise, quantizer, calibrator, table or figure is ONE file in its
    family's package (tables and figures: anywhere under qrobust/papers/) that registers itself,
    and nothing else: config validation (qrobust.config) and the workflow see it by the same scan;
  - a job runs only the entries it asks for, so the workflow can declare exactly those files as the
    job's source inputs (qrobust.plan.sources.stage_sources).

Nothing here imports torch or an entry: the Snakefile uses the scan while it parses. Entries
registered at run time
(`REG.register(name)(obj)` outside the scanned files, e.g. in a test) are entries like the others.
"""
from __future__ import annotations

import importlib
import inspect
from typing import Callable, Dict, Generic, Iterator, TypeVar

# the static scan (qrobust/plan/scan.py): which families exist and what their files register
from qrobust.plan.scan import FAMILIES, _Found, scan, static_attr

T = TypeVar("T")

# ---------------------------------------------------------------------------------------------
# the registry

_LIVE: Dict[str, "Registry"] = {}  # family -> its Registry object, once its module is imported


class Registry(Generic[T]):
    """Maps a config name to a class or factory; `register` is used as a decorator.

    For a family of FAMILIES, names come from the scan and `get` imports the one module needed;
    otherwise (or for entries registered at run time) from what has registered so far.
    """

    def __init__(self, family: str):
        self.family = family
        self.lazy = family in FAMILIES
        self._entries: Dict[str, T] = {}
        self._extra: Dict[str, T] = {}  # registered from outside the scanned files (tests, plugins)
        _LIVE[family] = self

    def _found(self) -> Dict[str, _Found]:
        return scan(self.family) if self.lazy else {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.family} '{name}' is registered twice")
            where = self._found().get(name)
            module = obj.__module__ if inspect.isclass(obj) or inspect.isfunction(obj) else None
            if where is not None and module is not None and module != where.module:
                raise ValueError(f"{self.family} '{name}' is registered twice: {where.module} and {module}")
            self._entries[name] = obj
            if where is None:
                self._extra[name] = obj
            return obj

        return deco

    def unregister(self, name: str) -> None:
        """Drop an entry registered at run time (tests); scanned entries stay."""
        if name not in self._extra:
            raise KeyError(f"{self.family} '{name}' was not registered at run time")
        del self._extra[name]
        del self._entries[name]

    def get(self, name: str) -> T:
        if name not in self._entries:
            where = self._found().get(name)
            if where is not None:
                importlib.import_module(where.module)  # its decorator registers it
                if name not in self._entries:
                    raise RuntimeError(f"{self.family} '{name}': importing {where.module} did not register it "
                                       f"(is its decorator at module level?)")
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"unknown {self.family} '{name}'; allowed: {', '.join(self.names())}") from None

    def names(self, **where) -> list[str]:
        """Sorted names; `where` keeps those whose (class) attributes have the given values, read
        from the source for entries not imported yet (names(kind="system"))."""
        out = set(self._found()) | set(self._entries)
        return sorted(n for n in out if all(self.attr(n, k) == v for k, v in where.items()))

    def attr(self, name: str, attr: str, default=None):
        """An entry's attribute without importing it when it is not imported yet."""
        if name in self._entries:
            return getattr(self._entries[name], attr, default)
        return static_attr(self.family, name, attr, default) if self.lazy else default

    def in_order(self) -> list[str]:
        """Names in registration order (for reports that follow the papers' order); a lazy family
        lists its scanned entries in file and line order, then those registered at run time."""
        return list(self._found()) + [n for n in self._entries if n not in self._found()]

    def loaded(self) -> list[str]:
        """Names whose objects exist in this process (imported or registered at run time)."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._found()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def family_names(family: str, exclude=(), **where) -> list[str]:
    """A family's names without importing its package: the live registry's when this process has
    one (so entries registered at run time count), the scan's otherwise."""
    live = _LIVE.get(family)
    if live is not None:
        names = live.names(**where)
    else:
        names = sorted(n for n in scan(family) if all(static_attr(family, n, k) == v for k, v in where.items()))
    return [n for n in names if n not in set(exclude)]
