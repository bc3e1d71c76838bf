"""One base for every config: typed ``from_dict``, ``to_dict``, range checks, and help text.

A config is a ``@dataclass`` that subclasses :class:`Config`; each field is annotated, commented
on its line, and given by :func:`setting` when it has a range or a fixed set of values::

    @dataclass
    class PretrainConfig(Config):
        steps: int = setting(200, min=1)  # optimiser updates
        tokens: str = setting("patch", choices=("patch", "frame"))  # token shape

Construction checks every value against its annotation (``int`` accepts no ``bool``, ``float``
accepts an ``int``, a ``tuple`` field accepts a list) and its range, and names the field in the
error. The comment after a field is its help text: the command line generates its flags from
the fields (:func:`workbench.cli`), so a new setting is one line here.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import json
import textwrap
import tokenize
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, TypeVar

C = TypeVar("C", bound="Config")


def setting(default: Any = dataclasses.MISSING, *, factory: Any = dataclasses.MISSING, min: float | None = None,
            max: float | None = None, below: float | None = None, above: float | None = None,
            choices: tuple | None = None, flag: str | None = None, cli: bool = True) -> Any:
    """A dataclass field with checks: ``min <= value <= max``, ``above < value < below``, or
    ``value in choices`` (``None`` always passes for optional fields). ``flag`` renames the
    command-line flag (``out_dir`` -> ``--out``); ``cli=False`` leaves the field off the generated
    flags (a command adds its own, e.g. ``--set`` for model overrides)."""
    meta = {"min": min, "max": max, "below": below, "above": above, "choices": choices, "flag": flag, "cli": cli}
    if factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


class ConfigTypeError(TypeError):
    """A config value has the wrong type; the message names the field and the expected type."""


@dataclasses.dataclass
class Config:
    """Base of the workbench's configs (see the module docstring)."""

    _hints_cache: ClassVar[dict] = {}
    _help_cache: ClassVar[dict] = {}

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = coerce(getattr(self, f.name), self.hints()[f.name], f"{type(self).__name__}.{f.name}")
            object.__setattr__(self, f.name, value)
        bad = [f"{f.name} {why}, got {getattr(self, f.name)!r}" for f in dataclasses.fields(self)
               if (why := _range_problem(getattr(self, f.name), f.metadata))]
        bad += [f"{name} {why}, got {getattr(self, name)!r}" for name, why in self.check().items()]
        if bad:
            raise ValueError(f"invalid {type(self).__name__} values: {'; '.join(bad)}")

    def check(self) -> dict[str, str]:
        """Checks that involve several fields: ``{field: what is wrong}``; override as needed."""
        return {}

    # ---- dict round trip ------------------------------------------------------------------------
    @classmethod
    def from_dict(cls: type[C], d: dict) -> C:
        """Build from a dict (a saved ``config.json``, command-line values), naming unknown keys
        and wrong types."""
        if not isinstance(d, dict):
            raise ConfigTypeError(f"{cls.__name__} needs a dict of settings, got {type(d).__name__}")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys: {unknown}; valid keys: {sorted(known)}")
        return cls(**d)

    def to_dict(self) -> dict:
        """The settings as JSON-ready values (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=list))

    def replace(self: C, **changes) -> C:
        """A copy with ``changes`` (checked like any construction)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_json(cls: type[C], path: str | Path, *, section: str | None = None) -> C:
        """Read a saved config: the whole JSON object, or its ``section`` (a run's ``config.json``
        keeps the pre-training settings under ``"pretrain"``, fine-tuning under ``"finetune"``)."""
        path = Path(path)
        if path.is_dir():
            path = path / "config.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"no config file at {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path} is not a JSON config file ({exc})") from None
        if section is not None and isinstance(data, dict) and section in data:
            data = data[section]
        return cls.from_dict(data)

    # ---- introspection --------------------------------------------------------------------------
    @classmethod
    def hints(cls) -> dict[str, Any]:
        """The fields' annotations as types (``from __future__`` strings resolved)."""
        if cls not in Config._hints_cache:
            Config._hints_cache[cls] = typing.get_type_hints(cls)
        return Config._hints_cache[cls]

    @classmethod
    def field_help(cls) -> dict[str, str]:
        """Each field's trailing comment in the class source (``""`` where there is none)."""
        if cls not in Config._help_cache:
            comments: dict[str, str] = {}
            for klass in reversed(cls.__mro__):
                if klass is object or not dataclasses.is_dataclass(klass):
                    continue
                comments.update(_field_comments(klass))
            Config._help_cache[cls] = {f.name: comments.get(f.name, "") for f in dataclasses.fields(cls)}
        return Config._help_cache[cls]


def _field_comments(klass: type) -> dict[str, str]:
    try:
        source = textwrap.dedent(inspect.getsource(klass))
    except (OSError, TypeError):
        return {}
    comments = {tok.start[0]: tok.string.lstrip("#").strip()
                for tok in tokenize.generate_tokens(io.StringIO(source).readline) if tok.type == tokenize.COMMENT}
    body = ast.parse(source).body[0].body
    return {node.target.id: comments.get(node.end_lineno, "") for node in body
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)}


def _range_problem(value: Any, meta: typing.Mapping) -> str:
    """Why ``value`` breaks the field's declared range or choices, or ``""``."""
    if value is None or not meta:
        return ""
    if meta.get("choices") is not None and value not in meta["choices"]:
        return f"must be one of {', '.join(map(repr, meta['choices']))}"
    for key, ok, text in (("min", lambda v, b: v >= b, ">="), ("max", lambda v, b: v <= b, "<="),
                          ("above", lambda v, b: v > b, ">"), ("below", lambda v, b: v < b, "<")):
        bound = meta.get(key)
        if bound is not None and isinstance(value, (int, float)) and not ok(value, bound):
            return f"must be {text} {bound}"
    return ""


def type_name(hint: Any) -> str:
    """A readable name of an annotation: ``int``, ``float | None``, ``tuple[float, float]``."""
    if hint is type(None):
        return "None"
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    return str(hint).replace("typing.", "")


def coerce(value: Any, hint: Any, where: str) -> Any:
    """``value`` checked against annotation ``hint`` (int -> float and list -> tuple widen);
    raises :class:`ConfigTypeError` naming ``where`` and the expected type."""
    try:
        return _coerce(value, hint)
    except _Mismatch:
        raise ConfigTypeError(f"{where} must be {type_name(hint)}, got {value!r} ({type(value).__name__})") from None


class _Mismatch(Exception):
    pass


def _coerce(value: Any, hint: Any) -> Any:
    if hint is Any:
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is not type(None):
                try:
                    return _coerce(value, arg)
                except _Mismatch:
                    continue
        raise _Mismatch
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _Mismatch
    if hint is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if origin is tuple or hint is tuple:
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        if args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise _Mismatch
            return tuple(_coerce(v, a) for v, a in zip(value, args))
        return tuple(_coerce(v, args[0]) for v in value) if args else tuple(value)
    if origin is list or hint is list:
        if not isinstance(value, (list, tuple)):
            raise _Mismatch
        return [_coerce(v, args[0]) for v in value] if args else list(value)
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise _Mismatch
        return dict(value)
    if isinstance(hint, type):
        if isinstance(value, hint):
            return value
        raise _Mismatch
    return value


def check_parameters(namespace: dict) -> None:
    """Check a notebook's parameters against the annotations of its ``parameters`` cell.

    Call it in the cell after the parameters (papermill injects its values between the two):
    ``check_parameters(globals())``. An ``int`` is accepted where a ``float`` is annotated; any
    other mismatch raises :class:`ConfigTypeError` naming the parameter, the expected type, the
    value given, and how to pass it."""
    annotations = namespace.get("__annotations__", {})
    bad = []
    for name, hint in annotations.items():
        if name not in namespace or isinstance(hint, str):  # a string annotation is not checkable here
            continue
        try:
            namespace[name] = _coerce(namespace[name], hint)
        except _Mismatch:
            bad.append(f"{name} must be {type_name(hint)}, got {namespace[name]!r} ({type(namespace[name]).__name__})")
    if bad:
        raise ConfigTypeError("notebook parameters of the wrong type: " + "; ".join(bad) +
                              ". With papermill, -p passes numbers and true/false as such and -r passes text")


__all__ = ["Config", "ConfigTypeError", "check_parameters", "coerce", "setting", "type_name"]
