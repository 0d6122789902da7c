"""Report tables as CSV and XLSX files, streamed.

CSV: UTF-8 with a byte-order mark (so Excel opens the Chinese right), CRLF
lines, one row at a time from the rows' iterator: memory stays flat however
many orders a year holds. XLSX: XlsxWriter in ``constant_memory`` mode
(each row goes to disk as it is written) into a temporary file, then sent in
blocks.

In both, a text cell a spreadsheet would run (it starts with = + - @, tab or
CR: formula or DDE injection, OWASP "CSV injection") gets the audit export's
escape (``shared.services.audit.escape_cell``: a leading apostrophe), and in
XLSX every text is written as a string, never as a formula. Numbers and
true/false stay what they are; a negative number is a number, not text.

Column labels are resolved when the export is asked for (inside the request,
in the caller's language), not when the first byte is sent.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import xlsxwriter

from shared.services.audit import FORMULA_STARTS, escape_cell

Columns = Sequence[tuple[str, Any]]
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIMETYPE = "text/csv"
BLOCK = 64 * 1024
SHEET = "orders"


def _cell(value: Any) -> Any:
    """A value as a CSV cell: booleans as 1/0, nothing as empty, text escaped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return 1 if value else 0
    return escape_cell(value)


def _labels(columns: Columns) -> list[str]:
    return [str(label) for _key, label in columns]


def csv_stream(columns: Columns, rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """The table as CSV text chunks: the BOM and header first, then a chunk
    per row. The header's labels are rendered now (in the request)."""
    header = _labels(columns)
    keys = [key for key, _label in columns]
    return _csv_lines(header, keys, rows)


# The first characters a spreadsheet runs (``audit.FORMULA_STARTS``), for the
# per-cell pre-check: a year's CSV has millions of cells, almost none of them
# dangerous, so the check is one type test and one set lookup, inline.
_DANGEROUS = frozenset(FORMULA_STARTS)
# Rows written per chunk: fewer, larger chunks for the server to send, and
# still a few hundred kilobytes at most in memory.
CSV_ROWS_PER_CHUNK = 100
# Values csv.writer writes as they are.
_PLAIN: frozenset[type] = frozenset((int, float))


def _cells(row: Mapping[str, Any], keys: Sequence[str]) -> list[Any]:
    """``_cell`` of every key's value, without a call per cell."""
    cells: list[Any] = list(map(row.get, keys))
    for index, value in enumerate(cells):
        kind: type = type(value)
        if kind is str:
            if value and value[0] in _DANGEROUS:
                cells[index] = "'" + value
        elif kind is bool:
            cells[index] = 1 if value else 0
        elif value is None:
            cells[index] = ""
        elif kind not in _PLAIN:
            cells[index] = _cell(value)
    return cells


def _csv_lines(
    header: list[str], keys: list[str], rows: Iterable[Mapping[str, Any]]
) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def taken() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow([escape_cell(label) for label in header])
    yield "\ufeff" + taken()
    pending = 0
    for row in rows:
        writer.writerow(_cells(row, keys))
        pending += 1
        if pending == CSV_ROWS_PER_CHUNK:
            yield taken()
            pending = 0
    if pending:
        yield taken()


def xlsx_stream(columns: Columns, rows: Iterable[Mapping[str, Any]]) -> Iterator[bytes]:
    """The table as an XLSX file, in blocks. The workbook is written row by
    row (``constant_memory``) to a temporary file, which is deleted once
    sent (or when the generator is dropped). The header is rendered now."""
    header = _labels(columns)
    keys = [key for key, _label in columns]
    return _xlsx_blocks(header, keys, rows)


def write_xlsx(
    target: Any, header: Sequence[str], keys: Sequence[str], rows: Iterable[Mapping[str, Any]]
) -> None:
    """Write the workbook to ``target`` (a path or a binary file)."""
    workbook = xlsxwriter.Workbook(
        target,
        {
            "constant_memory": True,
            # Text is text: never turned into numbers, URLs or formulas.
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
        },
    )
    try:
        sheet = workbook.add_worksheet(SHEET)
        bold = workbook.add_format({"bold": True})
        for col, label in enumerate(header):
            sheet.write_string(0, col, str(escape_cell(label)), bold)
        for line, row in enumerate(rows, start=1):
            for col, key in enumerate(keys):
                _xlsx_cell(sheet, line, col, row.get(key))
    finally:
        workbook.close()


def _xlsx_cell(sheet: Any, line: int, col: int, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        sheet.write_boolean(line, col, value)
    elif isinstance(value, int | float):
        sheet.write_number(line, col, value)
    else:
        sheet.write_string(line, col, str(escape_cell(str(value))))


def _xlsx_blocks(
    header: Sequence[str], keys: Sequence[str], rows: Iterable[Mapping[str, Any]]
) -> Iterator[bytes]:
    handle, path = tempfile.mkstemp(prefix="baylight-report-", suffix=".xlsx")
    os.close(handle)
    try:
        write_xlsx(path, header, keys, rows)
        with open(path, "rb") as stream:
            while block := stream.read(BLOCK):
                yield block
    finally:
        os.unlink(path)
