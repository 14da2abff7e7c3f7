"""Reading source files row by row: CSV (any delimiter, UTF-8 with or without BOM, latin-1 fallback) and Excel
(openpyxl read-only streaming). Each row comes with the line number a person would look up in the file."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROBE = 1 << 20  # bytes read to choose the encoding
SNIFF = 64 << 10  # characters given to csv.Sniffer
csv.field_size_limit(1 << 20)


class FileProblem(ValueError):
    """A file that cannot be read as a table (no header, unknown format)."""


@dataclass(frozen=True)
class Source:
    path: Path
    kind: str  # csv, xlsx
    encoding: str | None = None
    delimiter: str | None = None


def detect(path: Path) -> Source:
    """What the file is: Excel by its signature, otherwise CSV with its encoding and delimiter."""
    with path.open("rb") as handle:
        head = handle.read(PROBE)
    if head[:4] == b"PK\x03\x04":
        return Source(path, "xlsx")
    if not head.strip():
        raise FileProblem(f"{path.name}: the file is empty")
    encoding = "utf-8-sig"
    try:
        head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the probe's end
            encoding = "latin-1"
    sample = head[:SNIFF * 2].decode(encoding, errors="ignore")[:SNIFF]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    return Source(path, "csv", encoding, delimiter)


def header_and_rows(source: Source) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]:
    """The header and an iterator of (line number, row as {column: value}) — streamed, never the whole file."""
    header, rows = header_and_values(source)

    def as_dicts() -> Iterator[tuple[int, dict[str, Any]]]:
        try:
            for line, values in rows:
                yield line, dict(zip(header, values, strict=False))
        finally:
            rows.close()  # type: ignore[attr-defined]
    return header, as_dicts()


def header_and_values(source: Source) -> tuple[list[str], Iterator[tuple[int, list[Any]]]]:
    """The header and an iterator of (line number, the row's values in the header's order; a short row is
    short) — streamed. The importer reads rows this way: no dict per row."""
    if source.kind == "xlsx":
        return _excel(source.path)
    return _csv(source)


def _csv(source: Source) -> tuple[list[str], Iterator[tuple[int, list[Any]]]]:
    handle = open(source.path, encoding=source.encoding, newline="")  # noqa: SIM115 - closed by the iterator
    reader = csv.reader(handle, delimiter=source.delimiter or ",")
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        handle.close()
        raise FileProblem(f"{source.path.name}: no header row") from None

    def rows() -> Iterator[tuple[int, list[Any]]]:
        start = reader.line_num + 1
        try:
            for values in reader:
                if "".join(values).strip():  # a row of blanks is no row
                    yield start, values
                start = reader.line_num + 1
        finally:
            handle.close()
    return header, rows()


def _excel(path: Path) -> tuple[list[str], Iterator[tuple[int, list[Any]]]]:
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    sheet = book.worksheets[0]
    values = sheet.iter_rows(values_only=True)
    try:
        header = ["" if h is None else str(h).strip() for h in next(values)]
    except StopIteration:
        book.close()
        raise FileProblem(f"{path.name}: no header row") from None

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            for number, row in enumerate(values, start=2):
                if any(v not in (None, "") for v in row):
                    yield number, ["" if v is None else v for v in row]
        finally:
            book.close()
    return header, rows()
