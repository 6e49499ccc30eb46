"""One way to turn a config dataclass into a command line: every field is a flag, its help in the field.

    @dataclass
    class EvalConfig:
        checkpoint: str = arg("", "checkpoint folder", positional=True)
        seeds: tuple[int, ...] = arg((), "only these seed_<s> runs (default: all)")
        device: str = arg("auto", "auto | cpu | cuda | cuda:N")
        progress: bool = arg(True, "progress bars")

    cfg = parse_config(EvalConfig, argv, prog="python -m train.x", description="...")

How a field's type becomes an argument (types are read with `typing.get_type_hints`, so string
annotations under `from __future__ import annotations` work):

  bool                 --flag / --no-flag
  int, float, str, Path  one value of that type
  X | None             one value of X; the default may be None
  tuple[X, ...]        one or more values ("*", zero or more, when the default is empty)
  tuple[X, X, X]       exactly that many values
  Literal["a", "b"]    one of the listed values

Field metadata, set with `arg(...)`: `help`; `choices`; `positional` (a positional argument,
optional when it has a default); `flag` (another spelling than --field-name); `metavar`; `group`
(a titled argument group in --help). A field without `arg` gets its name as help.

`parse_config(..., config_file=True)` adds `--config FILE`: a JSON object of fields (e.g. a run's saved
config); flags given on the command line override it. A config's own validation (`__post_init__`
raising ValueError) becomes an argparse error (exit status 2) with the message. `command_line(cfg)`
is the inverse: the flags that reproduce a config, leaving out those at their defaults.

This module imports nothing of the project, so every floor may use it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Sequence, TypeVar, Union

C = TypeVar("C")
_SCALARS: dict[Any, Callable[[str], Any]] = {int: int, float: float, str: str, Path: Path}


def arg(default: Any = dataclasses.MISSING, help: str = "", *, choices: Sequence[Any] | None = None,
        positional: bool = False, flag: str | None = None, metavar: str | tuple[str, ...] | None = None,
        group: str | None = None) -> Any:
    """A dataclass field with its command-line help (and optional choices, flag name, group) in its metadata."""
    meta = {"help": help, "choices": None if choices is None else tuple(choices), "positional": positional,
            "flag": flag, "metavar": metavar, "group": group}
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class _Kind:
    """What argparse needs to know about one field type."""

    convert: Callable[[str], Any] | None  # None: a boolean switch
    nargs: int | str | None = None
    choices: tuple[Any, ...] | None = None
    sequence: bool = False  # parse into a tuple


def _kind(tp: Any, name: str) -> _Kind:
    origin, params = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        inner = [p for p in params if p is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"field {name!r}: only `X | None` unions become flags, got {tp}")
        return _kind(inner[0], name)
    if tp is bool:
        return _Kind(None)
    if origin is Literal:
        return _Kind(type(params[0]), choices=tuple(params))
    if origin in (tuple, list):
        if origin is tuple and params and params[-1] is not Ellipsis:
            if len(set(params)) != 1:
                raise TypeError(f"field {name!r}: a fixed tuple needs one element type, got {tp}")
            return _Kind(_scalar(params[0], name), nargs=len(params), sequence=True)
        return _Kind(_scalar(params[0] if params else str, name), nargs="+", sequence=True)
    return _Kind(_scalar(tp, name))


def _scalar(tp: Any, name: str) -> Callable[[str], Any]:
    if tp not in _SCALARS:
        raise TypeError(f"field {name!r}: type {tp} has no command-line form (use int, float, str, Path, bool, "
                        "a tuple of those, Literal or X | None)")
    return _SCALARS[tp]


def _default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return dataclasses.MISSING


def flag_name(f: dataclasses.Field) -> str:
    """The option string of a field: metadata `flag`, else --field-name."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, cls: type, defaults: Any = None) -> None:
    """Add one argument per field of the dataclass `cls` (defaults from the instance `defaults`, if given)."""
    hints = typing.get_type_hints(cls)
    groups: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        meta = f.metadata
        target = parser
        if meta.get("group"):
            target = groups.setdefault(meta["group"], parser.add_argument_group(meta["group"]))
        kind = _kind(hints[f.name], f.name)
        default = getattr(defaults, f.name) if defaults is not None else _default_of(f)
        kw: dict[str, Any] = {"help": meta.get("help") or f.name.replace("_", " ")}
        if default is not dataclasses.MISSING:
            kw["default"] = list(default) if kind.sequence and default is not None else default
        else:  # required: no "(default: None)" in --help
            kw["default"] = argparse.SUPPRESS
        if kind.convert is None:
            target.add_argument(flag_name(f), action=argparse.BooleanOptionalAction, **kw)
            continue
        kw["type"] = kind.convert
        choices = meta.get("choices") or kind.choices
        if choices:
            kw["choices"] = choices
        if meta.get("metavar"):
            kw["metavar"] = meta["metavar"]
        nargs = kind.nargs
        if nargs == "+" and (default == () or default == []):
            nargs = "*"
        if meta.get("positional"):
            if nargs is None and default is not dataclasses.MISSING:
                nargs = "?"
            target.add_argument(f.name, **({"nargs": nargs} if nargs else {}), **kw)
        else:
            if default is dataclasses.MISSING:
                kw["required"] = True
            target.add_argument(flag_name(f), **({"nargs": nargs} if nargs else {}), **kw)


def from_namespace(cls: type[C], ns: argparse.Namespace | dict[str, Any]) -> C:
    """The dataclass from parsed arguments (lists become tuples where the field is a sequence)."""
    values = vars(ns) if isinstance(ns, argparse.Namespace) else dict(ns)
    hints = typing.get_type_hints(cls)
    kw = {}
    for f in dataclasses.fields(cls):
        if f.init and f.name in values:
            v, kind = values[f.name], _kind(hints[f.name], f.name)
            if isinstance(v, list) and kind.sequence:
                v = tuple(kind.convert(x) if kind.convert is Path else x for x in v)
            elif isinstance(v, str) and kind.convert is Path:  # a path read back from JSON
                v = Path(v)
            kw[f.name] = v
    return cls(**kw)


def from_dict(cls: type[C], d: dict[str, Any]) -> C:
    """The dataclass from a JSON object of its fields; unknown keys are an error that lists the known ones."""
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys {unknown}; known: {sorted(known)}")
    return from_namespace(cls, d)


def to_dict(cfg: Any) -> dict[str, Any]:
    """A config as a JSON-ready dict (tuples as lists, paths as strings), the inverse of `from_dict`."""
    def plain(v: Any) -> Any:
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        return str(v) if isinstance(v, Path) else v

    return {f.name: plain(getattr(cfg, f.name)) for f in dataclasses.fields(cfg) if f.init}


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Defaults shown after each help (not None: the help says what happens then); description and epilog
    (often a module docstring) keep their lines."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        return action.help if action.default is None else super()._get_help_string(action)


def build_parser(cls: type, defaults: Any = None, *, prog: str | None = None, description: str | None = None,
                 epilog: str | None = None, config_file: bool = False,
                 formatter_class: type = HelpFormatter) -> argparse.ArgumentParser:
    """An ArgumentParser with one argument per field (plus --config FILE when `config_file`)."""
    p = argparse.ArgumentParser(prog=prog, description=description, epilog=epilog, formatter_class=formatter_class)
    if config_file:
        p.add_argument("--config", type=Path, default=None,
                       help=f"JSON file of {cls.__name__} fields (e.g. a run's saved config); flags given on the "
                            "command line override it")
    add_arguments(p, cls, defaults)
    return p


def parse_config(cls: type[C], argv: Sequence[str] | None = None, *, config_file: bool = False,
                 check: Callable[[C, argparse.ArgumentParser], None] | None = None, **parser_kw: Any) -> C:
    """Parse argv into an instance of `cls`. `check(cfg, parser)` may call `parser.error` for rules
    that span several fields; the config's own ValueError also ends in `parser.error`."""
    defaults = None
    if config_file:
        pre = argparse.ArgumentParser(add_help=False)
        pre.add_argument("--config", type=Path)
        known, _ = pre.parse_known_args(argv)
        if known.config:
            try:
                defaults = from_dict(cls, json.loads(known.config.read_text()))
            except (OSError, json.JSONDecodeError, ValueError, TypeError) as e:
                raise SystemExit(f"--config {known.config}: {e}")
    parser = build_parser(cls, defaults, config_file=config_file, **parser_kw)
    ns = vars(parser.parse_args(argv))
    ns.pop("config", None)
    try:
        cfg = from_namespace(cls, ns)
    except ValueError as e:
        parser.error(str(e))
    if check is not None:
        check(cfg, parser)
    return cfg


def command_line(cfg: Any, prefix: str = "", skip: Iterable[str] = ()) -> str:
    """The flags that reproduce the config `cfg` (after `prefix`, e.g. "python -m train.distill"); fields at
    their defaults, positional ones and those in `skip` are left out."""
    cls = type(cfg)
    values, default = to_dict(cfg), to_dict(cls())
    skip = set(skip)
    parts = [prefix] if prefix else []
    for f in dataclasses.fields(cls):
        k = f.name
        if k in skip or not f.init or values[k] == default.get(k) or f.metadata.get("positional"):
            continue
        v, flag = values[k], flag_name(f)
        if isinstance(v, bool):
            parts.append(flag if v else "--no-" + flag[2:])
        elif isinstance(v, list):
            parts.append(" ".join([flag, *(str(x) for x in v)]))
        elif v is not None:
            parts.append(f"{flag} {v}")
    return " ".join(parts)
