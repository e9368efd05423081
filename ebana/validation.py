"""Type and finiteness checks of configuration dataclasses, from their type hints.

Every config section (``[circuit]``, ``[device]``, ...) calls :func:`check_fields` first in
its ``__post_init__``: each field must hold a value of its annotated type (``int`` means an
integer, not ``1.5`` or ``true``; ``float`` a finite number, never NaN or inf; ``str`` text
without control characters, since config text reaches netlists and TOML files), and the
error names the dotted key and the value. Range checks stay with each section.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Literal

from ebana.errors import ConfigError

__all__ = ["check_fields", "check_text", "describe_type"]

_CONTROL = {chr(c) for c in range(32)} | {"\x7f"}


def check_text(value: str, key: str) -> None:
    """Refuse text with control characters (newlines would start new netlist/TOML lines)."""
    bad = sorted({c for c in value if c in _CONTROL})
    if bad:
        raise ConfigError(f"{key} must not contain control characters (found {', '.join(repr(c) for c in bad)}), "
                          f"got {value!r}")


_PLURAL = {int: "integers", float: "finite numbers", bool: "booleans", str: "texts"}


def _shown(value: Any) -> str:
    """A value as the user wrote it (tuples were TOML/CLI lists)."""
    if isinstance(value, tuple):
        return repr([list(v) if isinstance(v, tuple) else v for v in value])
    return repr(value)


def describe_type(hint: Any) -> str:
    """Readable name of a type hint for error messages."""
    origin = typing.get_origin(hint)
    if hint is type(None):
        return "none"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe_type(a) for a in typing.get_args(hint))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            inner = args[0]
            if typing.get_origin(inner) is tuple:
                n = len(typing.get_args(inner))
                return f"a list of [{', '.join('abcdef'[:n])}] lists"
            return f"a list of {_PLURAL.get(inner, describe_type(inner))}"
        return f"a list of {len(args)} values"
    if dataclasses.is_dataclass(hint):
        return "a table of keys"
    return {int: "an integer", float: "a finite number", bool: "true or false", str: "text"}.get(hint, str(hint))


def _ok(value: Any, hint: Any, key: str) -> tuple[bool, Any]:
    """(value matches hint, value normalised: ints to floats, lists to tuples)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if arg is type(None):
                if value is None:
                    return True, None
                continue
            ok, v = _ok(value, arg, key)
            if ok:
                return True, v
        return False, value
    if origin is Literal:
        return value in typing.get_args(hint) and isinstance(value, str), value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return False, value
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            args = (args[0],) * len(value)
        if len(args) != len(value):
            return False, value
        out = []
        for k, (elem, arg) in enumerate(zip(value, args)):
            ok, v = _ok(elem, arg, f"{key}[{k}]")
            if not ok:
                return False, value
            out.append(v)
        return True, tuple(out)
    if dataclasses.is_dataclass(hint):
        return isinstance(value, hint), value
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False, value
        return math.isfinite(value), float(value)
    if hint is str:
        if not isinstance(value, str):
            return False, value
        check_text(value, key)
        return True, value
    return True, value


def check_fields(obj: Any, section: str = "") -> None:
    """Check (and normalise, on the frozen dataclass ``obj``) every field against its type hint.

    ``section`` is the dotted prefix of the keys in messages (``"circuit"`` -> ``circuit.gain``).
    Raises :class:`~ebana.errors.ConfigError` naming the key, the expected type and the value.
    """
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        key = f"{section}.{f.name}" if section else f.name
        value = getattr(obj, f.name)
        ok, norm = _ok(value, hints[f.name], key)
        if not ok:
            raise ConfigError(f"{key} must be {describe_type(hints[f.name])}, got {_shown(value)}")
        if norm is not value:
            object.__setattr__(obj, f.name, norm)
