"""Reading a data file row by row: CSV in any delimiter (sniffed), UTF-8 with or without a byte-order mark, each
row with its line number in the file (the header is line 1), so a report can name it."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path


def csv_rows(path: Path, *, delimiter: str | None = None, encoding: str = "utf-8-sig"
             ) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(newline="", encoding=encoding) as handle:
        sample = handle.read(64 * 1024)
        handle.seek(0)
        if delimiter is None:
            try:
                delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
            except csv.Error:
                delimiter = ","
        reader = csv.DictReader(handle, delimiter=delimiter)
        for row in reader:
            yield reader.line_num, {k.strip(): (v or "") for k, v in row.items() if k is not None}
