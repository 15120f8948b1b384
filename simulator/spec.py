"""Hardware is data: YAML specs loaded into frozen dataclasses.

Every target (GPU, CPU, NPU) declares its spec as a ``@dataclass(frozen=True)`` whose field names
carry their units (``sram_kib``, ``bw_bytes_per_cycle``, ``clock_mhz``) and whose
``__post_init__`` checks invariants. :func:`load_spec` reads a preset name, a YAML path or a dict
and rejects unknown and missing keys by name, so a typo in a hardware file is an error, never a
silently ignored default.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


def _check_type(cls_name: str, key: str, value: Any, annotation: Any) -> Any:
    """Coerce YAML scalars to the annotated type; raise TypeError naming the key otherwise."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_type(cls_name, key, value, arg)
            except TypeError as exc:
                errors.append(str(exc))
        raise TypeError(f"{cls_name}.{key}: {value!r} matches none of {annotation}")
    if annotation is bool:
        if not isinstance(value, bool):
            raise TypeError(f"{cls_name}.{key} must be true/false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{cls_name}.{key} must be an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{cls_name}.{key} must be a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise TypeError(f"{cls_name}.{key} must be a string, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"{cls_name}.{key} must be a list, got {value!r}")
        args = typing.get_args(annotation)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_check_type(cls_name, key, v, args[0]) for v in value)
        if len(args) != len(value):
            raise TypeError(f"{cls_name}.{key} must have {len(args)} items, got {value!r}")
        return tuple(_check_type(cls_name, key, v, a) for v, a in zip(value, args))
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise TypeError(f"{cls_name}.{key} must be a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(annotation):
        return spec_from_dict(annotation, value, where=f"{cls_name}.{key}")
    return value


def spec_from_dict(cls: type[T], data: dict, *, where: str | None = None) -> T:
    """Build ``cls`` from ``data``: unknown keys and missing required keys raise ValueError
    naming them; values of the wrong type raise TypeError naming the key."""
    name = where or cls.__name__
    if not isinstance(data, dict):
        raise TypeError(f"{name}: expected a mapping of keys to values, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{name}: unknown key(s) {unknown}; allowed keys: {sorted(fields)}")
    missing = sorted(k for k, f in fields.items() if k not in data
                     and f.default is dataclasses.MISSING
                     and f.default_factory is dataclasses.MISSING)
    if missing:
        raise ValueError(f"{name}: missing required key(s) {missing}")
    kwargs = {k: _check_type(name, k, v, hints[k]) for k, v in data.items()}
    return cls(**kwargs)


def load_spec(cls: type[T], source: str | os.PathLike | dict, *, presets_dir: Path | None = None
              ) -> T:
    """Load a spec from a dict, a YAML file path, or a preset name (``<presets_dir>/<name>.yaml``).

    Raises ValueError naming the source when a preset does not exist (listing those that do)."""
    if isinstance(source, dict):
        return spec_from_dict(cls, source)
    path = Path(source)
    if not path.suffix and presets_dir is not None:
        candidate = presets_dir / f"{source}.yaml"
        if not candidate.exists():
            raise ValueError(f"hardware preset {str(source)!r} not found; presets: "
                             f"{list_presets(presets_dir)} (or give a path to a .yaml file)")
        path = candidate
    if not path.exists():
        raise ValueError(f"hardware spec file {str(path)!r} does not exist")
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k != "sources"}  # citations, not parameters
    return spec_from_dict(cls, data, where=f"{cls.__name__} ({path.name})")


def list_presets(presets_dir: Path) -> list[str]:
    return sorted(p.stem for p in presets_dir.glob("*.yaml"))
