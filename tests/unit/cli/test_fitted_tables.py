"""Tables that fit an 80-column terminal: ids and sizes whole, long names cut, one line each."""

from __future__ import annotations

from nsight_lab.cli.output import Column, Printer, _cell, fit_widths


def test_kept_columns_stay_whole_and_long_names_are_cut_to_fit() -> None:
    columns = [
        Column("file id", "keep"),
        Column("process"),
        Column("instance"),
        Column("size", "keep", "right"),
    ]
    cells = [
        [
            "0123456789abcdef",
            "a-very-long-process-name-indeed",
            "rank-0-of-a-long-job-name",
            "121.3 KiB",
        ]
    ]
    widths = fit_widths(columns, cells, 50)
    assert widths[0] == 16 and widths[3] == 9
    assert sum(widths) + 2 * 3 <= 50
    assert min(widths[1], widths[2]) >= 6
    assert _cell("a-very-long-process-name-indeed", 8, "left") == "a-very-…"
    assert _cell("9 KiB", 8, "right") == "   9 KiB"


def test_short_values_are_never_padded_out_to_the_terminal() -> None:
    widths = fit_widths([Column("a"), Column("b", "keep")], [["x", "yy"]], 80)
    assert widths == [1, 2]


def test_a_terminal_too_narrow_for_every_column_keeps_every_column() -> None:
    columns = [Column("id", "keep"), Column("name", min_width=6)]
    widths = fit_widths(columns, [["0123456789abcdef", "something long"]], 10)
    assert widths == [16, 6]  # the line runs long rather than dropping a column


def test_the_printer_writes_one_line_per_row_and_treats_brackets_as_text(capsys: object) -> None:
    printer = Printer()
    printer.console.width = 40
    printer.fitted_table(
        [Column("id", "keep"), Column("title")],
        [["s1", "[bold]not markup[/bold] and a long tail of words"], ["s2", "short"]],
    )
    out = capsys.readouterr().out.splitlines()  # type: ignore[attr-defined]
    assert len(out) == 4 and all(len(line) <= 40 for line in out)
    assert out[2].startswith("s1  [bold]not markup[/bold]") and out[2].endswith("…")
