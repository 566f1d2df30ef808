"""The CSV engine shared by every import: decode, sniff, split into numbered rows.

Encodings: UTF-8 (with or without BOM), else Windows-1250, which is what Czech
Excel writes. Delimiters: comma or semicolon (tab too), chosen from the header.
Row numbers are those a spreadsheet shows: the header is row 1.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass

from ._errors import JobFailed

_DELIMITERS = (";", ",", "\t")


@dataclass(frozen=True, slots=True)
class Table:
    encoding: str
    delimiter: str
    columns: tuple[str, ...]
    rows: list[tuple[int, list[str]]]  # (row number, raw values in header order)
    ignored_columns: tuple[str, ...] = ()


def decode(data: bytes) -> tuple[str, str]:
    """Return ``(text, encoding)``."""
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise JobFailed(
                f"the file starts with a UTF-8 BOM but byte {exc.start + 3} is not UTF-8"
            ) from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1250"), "cp1250"
    except UnicodeDecodeError as exc:
        raise JobFailed(
            f"the file is neither UTF-8 nor Windows-1250 (undecodable byte at offset {exc.start})"
        ) from None


def sniff_delimiter(header_line: str) -> str:
    """The delimiter that splits the header most often, outside quotes."""
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for ch in header_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(_DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


_ALIASES = {
    "e_mail": "email",
    "mail": "email",
    "telephone": "phone",
    "tel": "phone",
    "zip": "postal_code",
    "zip_code": "postal_code",
    "postcode": "postal_code",
    "psc": "postal_code",
    "latitude": "lat",
    "longitude": "lng",
    "lon": "lng",
}


def normalise_column(name: str) -> str:
    """``" E-mail "`` -> ``email``, ``Postal Code`` -> ``postal_code``."""
    col = "_".join(name.strip().strip('"').lower().replace("-", " ").split())
    return _ALIASES.get(col, col)


def read_table(data: bytes, *, required: frozenset[str], known: frozenset[str]) -> Table:
    if not data.strip():
        raise JobFailed("the file is empty")
    text, encoding = decode(data)
    if "\x00" in text:
        raise JobFailed("the file contains NUL bytes: it is not a CSV text file")
    first_line = text.split("\n", 1)[0]
    delimiter = sniff_delimiter(first_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    try:
        header = next(reader)
    except StopIteration:
        raise JobFailed("the file has no header row") from None
    except csv.Error as exc:
        raise JobFailed(f"row 1: {exc}") from None
    columns = tuple(normalise_column(c) for c in header)
    seen: set[str] = set()
    for col in columns:
        if col and col in seen:
            raise JobFailed(f"column {col!r} appears twice in the header")
        seen.add(col)
    missing = sorted(required - seen)
    if missing:
        raise JobFailed(
            f"missing required column(s): {', '.join(missing)}; the header has: "
            f"{', '.join(c for c in columns if c) or '(nothing)'}"
        )
    ignored = tuple(c for c in columns if c and c not in known)
    rows: list[tuple[int, list[str]]] = []
    row_no = 1
    try:
        for values in reader:
            row_no += 1
            if values and "".join(values).strip():
                rows.append((row_no, values))
    except csv.Error as exc:
        raise JobFailed(f"row {row_no}: {exc}") from None
    return Table(encoding, delimiter, columns, rows, ignored)
