"""The one error every importer raises for input it cannot read.

A multi-report analysis must be able to report "this file is bad, because ..." and
carry on with the other reports, so importers never leak sqlite3, gzip or JSON
exceptions: they wrap them in :class:`TraceFormatError`, which always names the file.
"""

from __future__ import annotations

from pathlib import Path

NSYS_EXPORT_HOWTO = (
    "export it to SQLite where Nsight Systems is installed: "
    "nsys export --type sqlite --output {stem}.sqlite {name}"
)


class TraceFormatError(ValueError):
    """The file at ``path`` is not a trace we can read; ``problem`` says why."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def nsys_rep_howto(path: str | Path) -> str:
    """The exact command that turns ``path`` (an .nsys-rep) into a SQLite export."""
    p = Path(path)
    return NSYS_EXPORT_HOWTO.format(stem=p.with_suffix("").name, name=p.name)
