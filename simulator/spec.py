"""Hardware is data: YAML specs loaded into frozen dataclasses.

Every target (GPU, CPU, NPU) declares its spec as a ``@dataclass(frozen=True)`` whose field names
carry their units (``sram_kib``, ``bw_bytes_per_cycle``, ``clock_mhz``) and whose
``__post_init__`` checks invariants. :func:`load_spec` reads a preset name, a YAML path or a dict
and rejects unknown and missing keys by name, so a typo in a hardware file is an error, never a
silently ignored default.

Preset names follow one rule, :func:`preset_key`: kebab-case (lower-case letters and digits
joined by ``-``), the file ``presets/<name>.yaml``. Other spellings of the same name (``_`` for
``-``, upper case: ``a100_sxm4_40gb``, ``NPU_32x32``) are accepted as aliases and resolve to the
kebab-case preset; a new preset file must be named by the rule (a test checks every preset).

Every number in a spec must be finite and below a sanity ceiling for its unit
(:data:`SPEC_CEILINGS`, by the suffix of its key), so a typo such as ``array_rows: 1e30`` is an
error naming the key rather than a model that allocates or loops without end.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

#: A preset name: lower-case letters and digits in words joined by single hyphens.
PRESET_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

#: Sanity ceilings of spec values by key suffix (first match wins), then
#: :data:`DEFAULT_CEILING`. Far above any real part (TPU v1: 256 x 256 PEs; 192-core CPUs;
#: 6 GHz clocks; hundreds of MiB of SRAM) and far below what would make a model misbehave.
SPEC_CEILINGS: tuple[tuple[str, float], ...] = (
    ("_rows", 2**16), ("_cols", 2**16), ("cores", 2**16), ("_count", 2**16),
    ("_mhz", 1e5), ("_kib", 2**30), ("_mib", 2**20), ("_gib", 2**20), ("_bits", 2**12),
)
DEFAULT_CEILING = 2.0**40


def preset_key(name: str) -> str:
    """The kebab-case spelling of a preset name (``A100_SXM4_40GB`` -> ``a100-sxm4-40gb``);
    :data:`PRESET_NAME` must match the result of a valid preset name."""
    return re.sub(r"[-_\s]+", "-", str(name).strip().lower())


def check_preset_name(name: str) -> str:
    """``name`` if it follows the preset naming rule, else ValueError saying the rule."""
    if not isinstance(name, str) or not PRESET_NAME.match(name):
        raise ValueError(f"preset name {name!r} does not follow the rule: kebab-case, lower-case "
                         f"letters and digits joined by '-' (e.g. {preset_key(name)!r})")
    return name


def check_spec_value(cls_name: str, key: str, value: Any) -> None:
    """A spec number must be finite and at most the ceiling of its unit
    (:data:`SPEC_CEILINGS`); ValueError naming the key otherwise. Recurses into mappings
    (per-dtype rates) and lists."""
    if isinstance(value, dict):
        for k, v in value.items():
            check_spec_value(cls_name, f"{key}.{k}", v)
        return
    if isinstance(value, (list, tuple)):
        for v in value:
            check_spec_value(cls_name, key, v)
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if not math.isfinite(value):
        raise ValueError(f"{cls_name}.{key} must be a finite number, got {value!r}")
    ceiling = next((c for suffix, c in SPEC_CEILINGS if key.endswith(suffix)), DEFAULT_CEILING)
    if abs(value) > ceiling:
        raise ValueError(f"{cls_name}.{key}={value:g} is beyond the sane limit {ceiling:g} for "
                         "this unit; is it a typo?")


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
    for k, v in kwargs.items():
        check_spec_value(name, k, v)
    return cls(**kwargs)


def load_spec(cls: type[T], source: str | os.PathLike | dict, *, presets_dir: Path | None = None
              ) -> T:
    """Load a spec from a dict, a YAML file path, or a preset name (``<presets_dir>/<name>.yaml``,
    any spelling :func:`preset_key` maps to it).

    Raises ValueError naming the source when a preset does not exist (listing those that do),
    when a file cannot be read or is not valid YAML."""
    if isinstance(source, dict):
        return spec_from_dict(cls, source)
    data, name = read_spec_data(source, presets_dir=presets_dir)
    return spec_from_dict(cls, data, where=f"{cls.__name__} ({name})")


def read_spec_data(source: str | os.PathLike, *, presets_dir: Path | None = None
                   ) -> tuple[dict, str]:
    """The mapping of a preset (by name, any spelling :func:`preset_key` maps to it) or of a
    YAML file, without its ``sources`` (citations, not parameters), and the file's name.
    ValueError naming the source for a missing preset or file, an unreadable file, a YAML
    syntax error (with line and column), or a file that is not a mapping."""
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"hardware must be a preset name, a YAML path or a mapping, got "
                        f"{type(source).__name__}")
    path = Path(source)
    if not path.suffix and presets_dir is not None:
        candidate = presets_dir / f"{preset_key(str(source))}.yaml"
        if str(source).strip() and candidate.is_file():
            path = candidate
        elif path.is_dir():
            raise ValueError(f"hardware spec {str(path)!r} is a folder, not a preset or a "
                             ".yaml file")
        elif not path.is_file():
            raise ValueError(f"hardware preset {str(source)!r} not found; presets: "
                             f"{list_presets(presets_dir)} (or give a path to a .yaml file)")
    if not path.is_file():
        raise ValueError(f"hardware spec file {str(path)!r} "
                         f"{'is a folder' if path.is_dir() else 'does not exist'}")
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise ValueError(f"hardware spec file {str(path)!r} cannot be read: "
                         f"{exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"hardware spec file {str(path)!r} is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(f"hardware spec file {str(path)!r} is not valid YAML{where}: "
                         f"{problem}") from None
    if not isinstance(data, dict):
        raise TypeError(f"{path.name}: expected a mapping of keys to values, got "
                        f"{type(data).__name__}")
    return {k: v for k, v in data.items() if k != "sources"}, path.name


def list_presets(presets_dir: Path) -> list[str]:
    return sorted(p.stem for p in presets_dir.glob("*.yaml"))
