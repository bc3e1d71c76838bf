"""Named registries (model presets, pattern sources, audio tasks, sweep presets) and the one
"did you mean" lookup they share.

>>> presets = Registry("model")
>>> presets.add("tiny", make_tiny)
>>> presets.get("tiyn")
KeyError: "unknown model 'tiyn'. Did you mean tiny? Valid models: tiny"
"""

from __future__ import annotations

import difflib
from typing import Generic, Iterable, Iterator, TypeVar

T = TypeVar("T")


def did_you_mean(name: str, valid: Iterable[str], *, n: int = 3) -> str:
    """`` Did you mean a, b?`` for the closest of ``valid``, or ``""`` when none is close."""
    close = difflib.get_close_matches(str(name), list(valid), n=n)
    return f" Did you mean {', '.join(close)}?" if close else ""


def unknown_name(kind: str, name: str, valid: Iterable[str], *, plural: str | None = None, extra: str = "") -> KeyError:
    """The error for an unknown ``name``: it names the closest matches and lists the valid ones."""
    valid = list(valid)
    return KeyError(f"unknown {kind} {name!r}.{did_you_mean(name, valid)} Valid {plural or kind + 's'}: "
                    f"{', '.join(valid)}.{(' ' + extra) if extra else ''}")


class Registry(Generic[T]):
    """Items by unique name, with aliases. ``kind`` names the items in error messages ("model",
    "pattern dataset", "task"); ``extra`` is appended to the unknown-name error (e.g. what else is
    accepted where a name is)."""

    def __init__(self, kind: str, *, plural: str | None = None, extra: str = "") -> None:
        self.kind, self.plural, self.extra = kind, plural or kind + "s", extra
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def add(self, name: str, item: T, *, aliases: Iterable[str] = ()) -> T:
        """Register ``item`` under ``name`` (and ``aliases``); a name taken twice is an error."""
        aliases = tuple(aliases)
        for key in (name, *aliases):
            if key in self:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
        self._items[name] = item
        for alias in aliases:
            self._aliases[alias] = name
        return item

    def canonical(self, name: str) -> str:
        """The registered name of ``name`` or of the alias ``name`` (unknown: the error of :meth:`get`)."""
        key = self._aliases.get(name, name)
        if key not in self._items:
            raise unknown_name(self.kind, name, [*self._items, *sorted(self._aliases)], plural=self.plural,
                               extra=self.extra)
        return key

    def get(self, name: str) -> T:
        """The item registered as ``name`` or its alias; an unknown name raises a ``KeyError`` that
        lists the valid names and the closest ones."""
        return self._items[self.canonical(name)]

    def names(self) -> list[str]:
        """Registered names, in registration order (aliases excluded)."""
        return list(self._items)

    def aliases(self) -> dict[str, str]:
        return dict(self._aliases)

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


__all__ = ["Registry", "did_you_mean", "unknown_name"]
