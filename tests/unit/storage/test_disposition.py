"""Download names cannot break out of the Content-Disposition header."""

from __future__ import annotations

from nsight_lab.storage.disposition import content_disposition


def test_plain_names_pass_through() -> None:
    assert content_disposition("train_default_0_report.nsys-rep") == (
        'attachment; filename="train_default_0_report.nsys-rep"; '
        "filename*=UTF-8''train_default_0_report.nsys-rep"
    )


def test_quotes_and_line_breaks_are_neutralised() -> None:
    value = content_disposition('a"b\r\nSet-Cookie: x=1')
    assert "\r" not in value and "\n" not in value
    assert value.count('"') == 2


def test_unicode_travels_percent_encoded_and_folders_are_dropped() -> None:
    value = content_disposition("../../sessions/été.bin")
    assert 'filename="_t_.bin"' in value
    assert "filename*=UTF-8''%C3%A9t%C3%A9.bin" in value
