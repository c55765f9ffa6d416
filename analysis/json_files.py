"""Results as strict JSON: NaN and infinities become null, arrays lists; written atomically."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.files import atomic_write_text

__all__ = ["atomic_write_json", "json_safe"]


def json_safe(obj: Any) -> Any:
    """``obj`` with only JSON types: dict keys as strings, tuples and arrays as lists, dataclasses
    as dicts, numpy scalars as Python ones, NaN, infinities and missing values as None, anything
    else (paths included) as its ``str``."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [json_safe(v) for v in obj.tolist()]
    if is_dataclass(obj) and not isinstance(obj, type):
        return json_safe(asdict(obj))
    if isinstance(obj, np.generic):
        obj = obj.item()
    if obj is None or obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, bool | int | str):
        return obj
    return str(obj)


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Writes :func:`json_safe` of ``obj`` to ``path`` atomically (indented, strict JSON)."""
    text = json.dumps(json_safe(obj), indent=2, allow_nan=False) + "\n"
    return atomic_write_text(path, text)
