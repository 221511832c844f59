"""Files of settings and typed setting fields, for any dataclass of settings.

    setting(default, help, **rules)   a dataclass field with its help and rules
    check_fields(obj)                 ConfigError naming the first value that breaks its rules
    from_mapping(cls, d)              cls(**d) with unknown keys named (close matches
                                      suggested) and JSON/TOML numbers coerced
    load_config_file(path)            a .json or .toml file of settings as a dict
    normalize_keys(d)                 dashes in keys written as underscores

A field's rules are ``choices`` (allowed values), ``min`` (>=), ``above``
(>), ``max`` (<=) and ``path`` ("file" or "dir": shown as a path on a
command line); its type (int, float, str or bool, optionally None) comes
from its annotation. :class:`refrnn.run.settings.TrainConfig` is declared
with these.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import math
import sys
import typing
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, as a package (a dependency before Python 3.11)
    import tomli as tomllib


class ConfigError(ValueError):
    """A bad setting, unknown key or unreadable config file (names the value).

    ``key`` is the setting at fault when there is one (for CLI messages).
    """

    def __init__(self, message, key=None):
        super().__init__(message)
        self.key = key


def setting(default, help, **rules):
    """A settings field: ``help`` text and validation ``rules`` in its metadata
    (module docstring)."""
    return dataclasses.field(default=default, metadata={"help": help, **rules})


def field_type(cls, name: str):
    """(type, optional) of field ``name`` of the dataclass ``cls``: int, float, str or bool."""
    hint = _hints(cls)[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return (args[0], True) if args else (hint, False)


@functools.lru_cache(maxsize=None)
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


_KIND_WORDS = {int: "an integer", float: "a number", str: "a string"}
_BOUNDS = (("min", lambda v, b: v < b, ">="), ("above", lambda v, b: v <= b, ">"),
           ("max", lambda v, b: v > b, "<="))


def check_fields(obj) -> None:
    """ConfigError (key: the field) for the first field of ``obj`` whose value
    breaks its type or rules."""
    for f in dataclasses.fields(obj):
        _check_field(type(obj), f, getattr(obj, f.name))


def _check_field(cls, f, value):
    kind, optional = field_type(cls, f.name)
    name, rules = f.name, f.metadata
    if value is None:
        if optional:
            return
        raise ConfigError(f"{name} must be given", name)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}", name)
        return
    if kind is str:
        ok = isinstance(value, str)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
              and not math.isnan(value))
        if ok and math.isinf(value):
            raise ConfigError(f"{name} must be finite, got {value!r}", name)
    if not ok:
        raise ConfigError(f"{name} must be {_KIND_WORDS[kind]}, got {value!r}", name)
    if "choices" in rules and value not in rules["choices"]:
        shown = ", ".join(repr(a) for a in rules["choices"])
        raise ConfigError(f"{name} must be one of {shown}; got {value!r}", name)
    for rule, bad, words in _BOUNDS:
        if rule in rules and bad(value, rules[rule]):
            raise ConfigError(f"{name} must be {words} {rules[rule]}, got {value!r}", name)


def from_mapping(cls, d: dict):
    """``cls(**d)`` (keys normalised); ConfigError naming unknown keys, each with
    its closest field name. Ints for float fields and integral floats for int
    fields (what JSON and TOML give) are converted; nothing is validated."""
    d = normalize_keys(d)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in d if k not in names]
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(k, names, n=1)
            hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError("unknown setting(s): " + ", ".join(hints))
    return cls(**{k: _coerce(field_type(cls, k)[0], v) for k, v in d.items()})


def _coerce(kind, value):
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def normalize_keys(d) -> dict:
    """A copy of the mapping ``d`` with dashes in its keys written as underscores.

    Two keys naming one setting (``task-set`` and ``task_set``) are a
    ConfigError: which one wins would be an accident of their order."""
    if not isinstance(d, dict):
        raise ConfigError(f"a config must be a mapping of settings, got {type(d).__name__}")
    out, spelled = {}, {}
    for k, v in d.items():
        name = str(k).replace("-", "_")
        if name in out:
            raise ConfigError(f"setting {name!r} is given twice (as {spelled[name]!r} and "
                              f"{str(k)!r}); keep one")
        out[name], spelled[name] = v, str(k)
    return out


def _refuse_duplicate_keys(pairs):
    """json.loads object_pairs_hook: a key given twice in one object is an error
    (json keeps the last one silently)."""
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise ConfigError(f"key {k!r} appears twice; keep one")
        seen[k] = v
    return seen


def load_config_file(path) -> dict:
    """Read settings from ``path``: ``.json`` or ``.toml`` (a top-level table).

    TOML is read by the standard library's tomllib (Python 3.11+; before, by
    ``tomli``, a dependency there). Returns a dict (keys with underscores);
    raises ConfigError naming the file for unreadable or malformed files and for
    a setting given twice (``hidden`` twice, or ``task-set`` and ``task_set``).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".toml"):
        raise ConfigError(f"config file {str(path)!r} must end in .json or .toml")
    try:
        text = path.read_bytes().decode("utf-8")
        data = (json.loads(text, object_pairs_hook=_refuse_duplicate_keys) if suffix == ".json"
                else tomllib.loads(text))  # TOML itself forbids a key twice
    except ConfigError as e:
        raise ConfigError(f"config file {str(path)!r}: {e}") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {str(path)!r}: {e.strerror or e}") from None
    except ValueError as e:  # UnicodeDecodeError, JSONDecodeError, TOMLDecodeError
        raise ConfigError(f"config file {str(path)!r} is not valid "
                          f"{suffix[1:].upper()}: {e}") from None
    except RecursionError:  # a JSON or TOML value nested thousands of levels deep
        raise ConfigError(f"config file {str(path)!r} is nested too deeply to be a file "
                          "of settings") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a table of settings")
    try:
        return normalize_keys(data)
    except ConfigError as e:
        raise ConfigError(f"config file {str(path)!r}: {e}") from None
