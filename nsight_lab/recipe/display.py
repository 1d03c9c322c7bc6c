"""How recipe tables read in notebooks and HTML: numbers printed the way nsys prints them.

``nsys stats`` prints ``3,481,709`` and ``167,993,715.5``: thousands separators, one
decimal on averages, never ``1.68e+08``. People compare our tables with those by eye,
so every recipe notebook renders through :func:`show`, which also adds a human
reading (``3.48 ms``) beside the main time column, where a glance beats counting
digits. Pure formatting: the data files keep full precision.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

#: Columns that get a human-unit companion (the first one present in a table).
HUMAN_TIME_COLUMNS = (
    "Total Time (ns)",
    "Total Proj Time (ns)",
    "Duration (ns)",
    "Time (ns)",
    "Projected Duration",
    "Delta (ns)",
)
_UNITS = ((1e9, "s"), (1e6, "ms"), (1e3, "µs"))
_BYTE_UNITS = ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB"))


def fmt_number(value: Any) -> str:
    """``1234`` -> ``1,234``; ``1234.56`` -> ``1,234.6``; missing -> ``""``; never exponents."""
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) or (hasattr(value, "dtype") and "int" in str(value.dtype)):
        return f"{int(value):,}"
    if isinstance(value, float) or (hasattr(value, "dtype") and "float" in str(value.dtype)):
        number = float(value)
        if math.isnan(number):
            return ""
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
        return f"{number:,.1f}"
    return str(value)


def _scaled(value: Any, units: tuple[tuple[float, str], ...], base: str) -> str:
    """``value`` in the largest of ``units`` it reaches, two decimals; else in ``base``."""
    if value is None or value is pd.NA:
        return ""
    number = float(value)
    if math.isnan(number):
        return ""
    for scale, unit in units:
        if abs(number) >= scale:
            return f"{number / scale:,.2f} {unit}"
    return f"{number:,.0f} {base}"


def human_ns(value: Any) -> str:
    """Nanoseconds in the largest unit that keeps a leading digit: ``3.48 ms``, ``120 ns``."""
    return _scaled(value, _UNITS, "ns")


def human_bytes(value: Any) -> str:
    """Bytes in powers of 1000, as nsys's MB columns: ``12.50 MB``."""
    return _scaled(value, _BYTE_UNITS, "B")


def with_human_time(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with a human-unit copy of its main time column right after it."""
    for col in HUMAN_TIME_COLUMNS:
        if col in df.columns and pd.api.types.is_numeric_dtype(df[col]):
            label = col.removesuffix(" (ns)") if col.endswith(" (ns)") else col
            out = df.copy()
            at = list(out.columns).index(col) + 1
            out.insert(at, f"{label} (human)", df[col].map(human_ns))
            return out
    return df


def formatters(df: pd.DataFrame) -> dict[Any, str | Callable[[object], str] | None]:
    """One formatter per numeric column: integers with separators, floats with one decimal."""
    return {
        str(col): fmt_number
        for col in df.columns
        if pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col])
    }


def styled(df: pd.DataFrame, *, human: bool = True) -> Any:
    """A pandas Styler printing numbers as nsys does (and, with ``human``, a human time column)."""
    view = with_human_time(df) if human else df
    return view.style.format(formatters(view), na_rep="").hide(axis="index")


def show(df: pd.DataFrame, rows: int = 20, *, human: bool = True) -> None:
    """Display the first ``rows`` rows of ``df``, formatted; says how many were left out."""
    from IPython.display import Markdown, display

    display(styled(df.head(rows), human=human))
    if len(df) > rows:
        display(Markdown(f"*{len(df) - rows:,} more rows in the data file.*"))


def table_loader(output_dir: str | Path, data_format: str) -> Callable[[str], pd.DataFrame]:
    """``load(name)``: a table the recipe wrote into ``output_dir`` (Parquet, or CSV with --csv)."""
    folder = Path(output_dir)

    def load(name: str) -> pd.DataFrame:
        if data_format == "csv":
            return pd.read_csv(folder / f"{name}.csv")
        return pd.read_parquet(folder / f"{name}.parquet")

    return load


def short(text: Any, width: int = 60) -> str:
    """A label that fits a plot axis: long kernel names end in an ellipsis."""
    text = str(text)
    return text if len(text) <= width else text[: width - 3] + "..."
