"""What a recipe declares about itself: its arguments, tables, notebook and report limits.

One declaration drives every front end. The CLI builds its options from it, the REST
API and the JupyterLab form read :meth:`RecipeSpec.json_schema`, and the engine
validates arguments with :func:`validate_args` before any report is opened, so a typo
costs milliseconds, not a half-finished run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nsight_lab.recipe.errors import RecipeArgError

if TYPE_CHECKING:
    from nsight_lab.trace import Trace

LIST_STR = list[str]
"""The ``type`` of an argument holding several strings (``Arg("names", type=LIST_STR)``)."""

CHOICE = "choice"
_SCALARS: dict[Any, str] = {bool: "boolean", int: "integer", float: "number", str: "string"}
#: Where reports are mapped; the names are nsys recipe's own.
MODES = ("none", "concurrent", "dask-futures")
#: Other spellings accepted for a mode (``dask`` was this project's first name for it).
MODE_ALIASES = {"dask": "dask-futures"}


def normalize_mode(mode: str) -> str:
    """The canonical name of ``mode``; raises RecipeArgError naming the choices."""
    canonical = MODE_ALIASES.get(mode, mode)
    if canonical not in MODES:
        raise RecipeArgError(
            "mode", f"--mode {mode!r}: must be one of {', '.join(MODES)} (or 'dask')"
        )
    return canonical


@dataclass(frozen=True)
class Arg:
    """One recipe argument. ``type`` is bool, int, float, str, ``"choice"`` or ``list[str]``.

    An argument with ``choices`` is a choice whatever ``type`` says, so recipes may
    write either ``Arg("x", type="choice", choices=[...])`` or ``Arg("x", type=str, choices=[...])``.
    """

    name: str
    type: Any = str
    default: Any = None
    help: str = ""
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: Sequence[str] | None = None

    @property
    def kind(self) -> str:
        """JSON-ish type name: boolean, integer, number, string, choice or array."""
        if self.choices is not None or self.type == CHOICE:
            return CHOICE
        if self.type == LIST_STR or self.type is list:
            return "array"
        if self.type in _SCALARS:
            return _SCALARS[self.type]
        raise TypeError(f"recipe argument {self.name!r}: unsupported type {self.type!r}")

    @property
    def flag(self) -> str:
        """The CLI option for this argument (``--snake-name`` written with dashes)."""
        return "--" + self.name.replace("_", "-")

    def to_json_schema(self) -> dict[str, Any]:
        kind = self.kind
        schema: dict[str, Any] = {"title": self.name, "description": self.help}
        if kind == CHOICE:
            schema["type"] = "string"
            schema["enum"] = list(self.choices or ())
        elif kind == "array":
            schema["type"] = "array"
            schema["items"] = {"type": "string"}
        else:
            schema["type"] = kind
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.default is not None:
            schema["default"] = list(self.default) if kind == "array" else self.default
        return schema

    def coerce(self, value: Any) -> Any:
        """Turn a CLI string or a JSON value into this argument's type, or raise naming it.

        Strings are accepted for every type because the CLI and query strings hand
        over text; JSON bodies hand over typed values. Both end up identical.
        """
        kind = self.kind
        where = f"argument {self.name!r} ({self.flag})"
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise RecipeArgError(self.name, f"{where}: expected true or false, got {value!r}")
        if kind == "array":
            if isinstance(value, str):
                items = [v.strip() for v in value.split(",") if v.strip()]
            elif isinstance(value, (list, tuple)):
                items = [str(v) for v in value]
            else:
                raise RecipeArgError(
                    self.name, f"{where}: expected a list of strings, got {value!r}"
                )
            return items
        if kind == CHOICE:
            text = str(value)
            if text not in (self.choices or ()):
                allowed = ", ".join(self.choices or ())
                raise RecipeArgError(self.name, f"{where}: {text!r} is not one of: {allowed}")
            return text
        if kind == "string":
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise RecipeArgError(self.name, f"{where}: expected text, got {value!r}")
            return str(value)
        number: int | float
        try:
            if kind == "integer":
                if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                    raise ValueError
                number = int(value) if not isinstance(value, str) else int(value.strip())
            else:
                if isinstance(value, bool):
                    raise ValueError
                number = float(value)
        except (TypeError, ValueError):
            noun = "an integer" if kind == "integer" else "a number"
            raise RecipeArgError(self.name, f"{where}: expected {noun}, got {value!r}") from None
        if self.minimum is not None and number < self.minimum:
            raise RecipeArgError(self.name, f"{where}: must be >= {self.minimum:g}, got {number}")
        if self.maximum is not None and number > self.maximum:
            raise RecipeArgError(self.name, f"{where}: must be <= {self.maximum:g}, got {number}")
        return number


def _common_args_schema() -> dict[str, dict[str, Any]]:
    """The arguments every recipe takes, named and shaped as ``nsys recipe`` has them."""
    return {
        "input": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "description": "Report files or folders; 'DIR:N' takes the first N files of DIR.",
            "x-common": True,
        },
        "output": {
            "type": "string",
            "description": "Output folder (default: '<recipe>-N', the next free N).",
            "x-common": True,
        },
        "force_overwrite": {
            "type": "boolean",
            "default": False,
            "description": "Replace an existing output folder.",
            "x-common": True,
        },
        "csv": {
            "type": "boolean",
            "default": False,
            "description": "Write CSV instead of Parquet.",
            "x-common": True,
        },
        "mode": {
            "type": "string",
            "enum": list(MODES),
            "default": "none",
            "description": "none: in this process; concurrent: one worker process per core; dask-futures (or dask): a Dask cluster (NSIGHT_LAB_DASK_SCHEDULER, else a local one).",
            "x-common": True,
        },
        "filter_time": {
            "type": "string",
            "pattern": r"^\s*\d*\s*/\s*\d*\s*$",
            "description": "Keep events within START/END ns (either side may be empty). Excludes filter_nvtx.",
            "x-common": True,
        },
        "filter_nvtx": {
            "type": "string",
            "description": "Keep events within the INDEX-th range NAME[@DOMAIN][/INDEX] per process. Excludes filter_time.",
            "x-common": True,
        },
        "filter_projected_nvtx": {
            "type": "string",
            "description": (
                "Like filter_nvtx, but GPU work is kept within the range's projection onto the "
                "GPU (first to last GPU operation launched inside it). Excludes the other filters."
            ),
            "x-common": True,
        },
    }


COMMON_ARG_NAMES = frozenset(_common_args_schema())


SOURCES = ("nsys", "kineto", "pyspy", "annotations")
"""Report sources a recipe may name in ``sources`` (importers of :mod:`nsight_lab.trace`)."""


@dataclass(frozen=True)
class RecipeSpec:
    """A recipe's declaration: the single source for help, forms, validation and records.

    ``question`` (what the recipe answers, one line), ``sources`` (which report kinds
    feed it) and ``counterpart`` (the nsys recipe or HTA analysis it stands for) make
    up the catalogue in docs/RECIPES.md. ``aliases`` are older names that still find
    it (nsys 2022's ``gpukernsum``...). A recipe whose input no supported source
    records sets ``unavailable`` to the collector or nsys option that would produce
    it; ``recipe info`` shows that, and a run fails with it before reading anything.

    ``tables`` are the trace tables ``map_report`` reads (none declared: all of them);
    only those are loaded. ``columns`` narrows some of them further to the columns
    read, e.g. ``columns={"kernels": ("start", "end", "name", "short_name")}``; a
    table it does not name is loaded whole. Importers then read just that (the nsys
    importer selects only those columns and joins kernels to their launching thread
    only when ``tid`` is named), and the recipe sees tables holding only those
    columns, so reading one it did not declare fails at once.
    """

    name: str
    display_name: str
    description: str
    tables: Sequence[str] = ()
    notebook: str = "stats.ipynb"
    args: Sequence[Arg] = ()
    min_reports: int = 1
    max_reports: int | None = None
    question: str = ""
    sources: Sequence[str] = ()
    counterpart: str = ""
    aliases: Sequence[str] = ()
    unavailable: str | None = None
    columns: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from nsight_lab.trace.schema import table_schema

        for table in self.tables:
            table_schema(table)  # unknown tables fail when the recipe loads
        for table, cols in self.columns.items():
            if table not in self.tables:
                raise ValueError(
                    f"recipe {self.name}: columns names table {table!r}, which is not in tables"
                )
            table_schema(table, cols)
        names = [a.name for a in self.args]
        clash = sorted(set(names) & COMMON_ARG_NAMES)
        if clash:
            raise ValueError(f"recipe {self.name}: argument(s) {clash} shadow common arguments")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"recipe {self.name}: duplicate argument(s) {dupes}")
        for a in self.args:
            _ = a.kind  # raises on an unsupported type now, not at run time
        unknown = sorted(set(self.sources) - set(SOURCES))
        if unknown:
            raise ValueError(f"recipe {self.name}: unknown source(s) {unknown}; known: {SOURCES}")

    @property
    def runnable(self) -> bool:
        """False for catalogue entries whose input no supported source records."""
        return self.unavailable is None

    def reads(self) -> dict[str, list[str] | None]:
        """Table -> the columns map_report reads (None: every column); every table
        when the recipe declares none."""
        from nsight_lab.trace.schema import TABLES

        tables = list(self.tables) or list(TABLES)
        return {t: list(self.columns[t]) if t in self.columns else None for t in tables}

    def arg(self, name: str) -> Arg:
        for a in self.args:
            if a.name == name:
                return a
        raise KeyError(name)

    def json_schema(self) -> dict[str, Any]:
        """One JSON Schema object for the common and the recipe's own arguments."""
        props = _common_args_schema()
        for a in self.args:
            props[a.name] = a.to_json_schema()
        required = ["input", *(a.name for a in self.args if a.required)]
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": self.display_name,
            "description": self.description,
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": False,
            "x-recipe": self.name,
            "x-min-reports": self.min_reports,
            "x-max-reports": self.max_reports,
            "x-unavailable": self.unavailable,
        }


def validate_args(spec: RecipeSpec, raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check and coerce a recipe's own arguments; fill defaults. Raises RecipeArgError."""
    raw = dict(raw or {})
    known = {a.name for a in spec.args}
    unknown = sorted(set(raw) - known)
    if unknown:
        listing = ", ".join(sorted(known)) or "none"
        raise RecipeArgError(
            unknown[0],
            f"recipe {spec.name}: unknown argument(s) {', '.join(unknown)}; it takes: {listing}",
        )
    out: dict[str, Any] = {}
    for a in spec.args:
        if a.name in raw and raw[a.name] is not None:
            out[a.name] = a.coerce(raw[a.name])
        elif a.required:
            raise RecipeArgError(
                a.name, f"recipe {spec.name}: argument {a.name!r} ({a.flag}) is required"
            )
        else:
            out[a.name] = list(a.default) if a.kind == "array" and a.default else a.default
    return out


@dataclass(frozen=True)
class ReportInfo:
    """Which report a map result came from (``index`` is its position in the input list)."""

    name: str
    path: str
    rank: int | None
    index: int


@dataclass
class ReportContext:
    """What ``map_report`` gets: the report's trace (already filtered) and who it is.

    :meth:`warn` records something the reader of the results should know (rows left
    out, data missing); it ends up in the run record's ``Warnings``, naming the report.
    """

    trace: Trace
    report: ReportInfo
    extra: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        self.notes.append(message)
