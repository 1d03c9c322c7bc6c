"""What each collector can be told for one collection, checked the same way everywhere.

Options travel by name (``{"rate": 250, "native": true}``) from the CLI, the REST
API, the JupyterLab form, ``%nsight start`` and presets to the coordinator, which
refuses the ones a tag's collectors cannot apply, and on to each agent, which checks
them again before it starts. One catalog serves both sides, so the refusal reads the
same wherever it is made. Standard library only: the agent imports this.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class OptionSpec:
    name: str
    #: ``bool``, ``int``, ``str`` or ``float``.
    type: type
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        """How the CLI spells it: ``--record-shapes``."""
        return "--" + self.name.replace("_", "-")


def _nsys(name: str, help: str, choices: tuple[str, ...] = (), kind: type = str) -> OptionSpec:
    return OptionSpec(name, kind, help, choices=choices)


#: Every option, by collector. Names are unique across collectors, so a flat
#: ``{name: value}`` from a user always says which collector it is meant for.
CATALOG: dict[str, dict[str, OptionSpec]] = {
    "pyspy": {
        o.name: o
        for o in (
            OptionSpec("rate", int, "samples per second", minimum=1, maximum=10_000),
            OptionSpec("native", bool, "include native (C/C++) frames"),
            OptionSpec("idle", bool, "include idle threads"),
            OptionSpec("gil", bool, "only sample the thread holding the GIL"),
        )
    },
    "torch": {
        o.name: o
        for o in (
            OptionSpec("record_shapes", bool, "record operator input shapes"),
            OptionSpec("with_stack", bool, "record Python source locations of ops"),
            OptionSpec("profile_memory", bool, "track tensor memory allocation"),
            OptionSpec("with_flops", bool, "estimate FLOPs of matrix ops"),
        )
    },
    "cupti": {
        o.name: o
        for o in (
            OptionSpec(
                "buffer_mb", int, "size of each CUPTI activity buffer", minimum=1, maximum=256
            ),
            OptionSpec(
                "max_records",
                int,
                "records kept per collection; later ones are counted, not kept",
                minimum=1,
                maximum=100_000_000,
            ),
            OptionSpec("driver_api", bool, "also record CUDA driver API calls"),
        )
    },
    # The switches `nsys start` accepts for a capture window (long names, no dashes).
    "nsys": {
        o.name: o
        for o in (
            _nsys("sample", "CPU IP/backtrace sampling", ("process-tree", "system-wide", "none")),
            _nsys("backtrace", "backtrace method", ("lbr", "fp", "dwarf", "none")),
            _nsys("sampling-frequency", "samples per second (100-8000)", kind=int),
            _nsys("cpuctxsw", "CPU context switches", ("process-tree", "system-wide", "none")),
            _nsys("stats", "print summaries at stop", ("true", "false")),
            _nsys("export", "extra export formats, comma-separated"),
            _nsys("gpu-metrics-devices", "GPUs to sample metrics on (e.g. all, 0,1)"),
            _nsys("gpu-metrics-frequency", "GPU metrics samples per second", kind=int),
            _nsys("gpu-metrics-set", "GPU metrics set alias"),
            _nsys("cuda-memory-usage", "track GPU memory usage", ("true", "false")),
            _nsys("capture-range-end", "what to do at the range end (e.g. stop, repeat:N)"),
        )
    },
    "annotations": {},
}

#: Which collector each option belongs to.
OWNER: dict[str, str] = {name: c for c, specs in CATALOG.items() for name in specs}


class OptionError(ValueError):
    """An option a collector cannot apply; the message names both and the way out."""


def _flags(collector: str) -> str:
    specs = CATALOG.get(collector, {})
    return ", ".join(s.flag for s in specs.values()) or "no options"


def describe(collector: str) -> str:
    """``torch takes --record-shapes, --with-stack, ...``."""
    return f"{collector} takes {_flags(collector)}"


def _coerce(spec: OptionSpec, value: Any, collector: str) -> Any:
    where = f"{collector} option {spec.flag}"
    if spec.type is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise OptionError(f"{where} is true or false, got {value!r}")
    if spec.type in (int, float):
        if isinstance(value, bool):
            raise OptionError(f"{where} is a number, got {value!r}")
        try:
            number = spec.type(value)
        except (TypeError, ValueError):
            raise OptionError(f"{where} is a number, got {value!r}") from None
        if spec.type is int and isinstance(value, float) and not value.is_integer():
            raise OptionError(f"{where} is a whole number, got {value!r}")
        if spec.minimum is not None and number < spec.minimum:
            raise OptionError(f"{where} is at least {spec.minimum:g}, got {value!r}")
        if spec.maximum is not None and number > spec.maximum:
            raise OptionError(f"{where} is at most {spec.maximum:g}, got {value!r}")
        return number
    text = str(value)
    if not text or any(ch in text for ch in "\0\n\r"):
        raise OptionError(f"{where} must be one line of text, got {value!r}")
    if spec.choices and text not in spec.choices:
        raise OptionError(f"{where} is one of {', '.join(spec.choices)}; got {value!r}")
    return text


def check(collector: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options ``collector`` will apply, typed; :class:`OptionError` for any other.

    The message names the collector, the option and what the collector does take.
    """
    specs = CATALOG.get(collector)
    if specs is None:
        if not options:  # a collector outside the catalog (a plug-in) takes no options
            return {}
        names = ", ".join("--" + n.replace("_", "-") for n in options)
        raise OptionError(f"the {collector} collector takes no options; got {names}")
    out: dict[str, Any] = {}
    for name, value in options.items():
        spec = specs.get(name)
        if spec is None:
            owner = OWNER.get(name)
            flag = "--" + name.replace("_", "-")
            if owner is None:
                raise OptionError(f"unknown collector option {flag}; {describe(collector)}")
            raise OptionError(
                f"the {collector} collector cannot apply {flag} (a {owner} option); "
                f"{describe(collector)}"
            )
        out[name] = _coerce(spec, value, collector)
    return out


def check_known(options: Mapping[str, Any]) -> dict[str, Any]:
    """Options typed by their owners; refuses names that belong to no collector."""
    out: dict[str, Any] = {}
    for name, value in options.items():
        owner = OWNER.get(name)
        if owner is None:
            known = ", ".join(f"{c}: {_flags(c)}" for c in CATALOG if CATALOG[c])
            raise OptionError(f"unknown collector option --{name.replace('_', '-')}; {known}")
        out[name] = _coerce(CATALOG[owner][name], value, owner)
    return out
