"""The export writers on their own: every formula start escaped in every
text cell (tab and CR too, which typed text cannot hold but an old row or
an integration's might), numbers and booleans kept, the CSV streamed."""

from __future__ import annotations

import csv
import io
from typing import Any

import openpyxl

from shared.services import report_export
from shared.services.audit import FORMULA_STARTS

COLUMNS = [("name", "=Name"), ("amount", "Amount"), ("done", "Done"), ("note", "Note")]


def rows() -> list[dict[str, Any]]:
    return [
        {"name": f"{start}cmd|' /C calc'!A0", "amount": -12.5, "done": True, "note": None}
        for start in FORMULA_STARTS
    ] + [{"name": "王师傅", "amount": 3, "done": False, "note": "普通"}]


def test_csv_has_a_bom_escapes_every_formula_start_and_streams() -> None:
    chunks = report_export.csv_stream(COLUMNS, iter(rows()))
    first = next(chunks)
    assert first.startswith("\ufeff'=Name,Amount")
    text = first + "".join(chunks)
    found = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert found[0] == ["'=Name", "Amount", "Done", "Note"]
    for start, row in zip(FORMULA_STARTS, found[1:], strict=False):
        assert row[0] == f"'{start}cmd|' /C calc'!A0"
        assert row[1:] == ["-12.5", "1", ""]
    assert found[-1] == ["王师傅", "3", "0", "普通"]


def test_csv_is_lazy() -> None:
    taken: list[int] = []

    def endless() -> Any:
        n = 0
        while True:
            taken.append(n)
            yield {"name": str(n), "amount": n, "done": False, "note": ""}
            n += 1

    chunks = report_export.csv_stream(COLUMNS, endless())
    for _chunk in range(11):
        next(chunks)
    # The header, then ten chunks of rows: no row read before its chunk.
    assert len(taken) == 10 * report_export.CSV_ROWS_PER_CHUNK


def test_xlsx_writes_text_as_text_never_a_formula() -> None:
    blob = b"".join(report_export.xlsx_stream(COLUMNS, iter(rows())))
    sheet = openpyxl.load_workbook(io.BytesIO(blob))[report_export.SHEET]
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == ("'=Name", "Amount", "Done", "Note")
    for start, row in zip(FORMULA_STARTS, values[1:], strict=False):
        # openpyxl reads a stored CR back as Excel's escape of it.
        shown = "_x000D_" if start == "\r" else start
        assert row == (f"'{shown}cmd|' /C calc'!A0", -12.5, True, None)
    assert values[-1] == ("王师傅", 3, False, "普通")
    for cells in sheet.iter_rows():
        for cell in cells:
            assert cell.data_type != "f"
