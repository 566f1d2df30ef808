"""The CSV engine shared by every import: decode, sniff, split into numbered rows.

Encodings: UTF-8 (with or without BOM), else Windows-1250 (what Czech Excel
writes) or ISO-8859-2 (see :func:`decode`). Delimiters: comma or semicolon (tab
too), chosen from the header. Row numbers are those a spreadsheet shows: the
header is row 1.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
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


_C1 = re.compile(rb"[\x80-\x9f]")
_LATIN2_CARON = re.compile(rb"[\xa9\xab\xae\xb9\xbb\xbe]")


def decode(data: bytes) -> tuple[str, str]:
    """Return ``(text, encoding)``: UTF-8 (with or without BOM) when the bytes are
    valid UTF-8, else Windows-1250 (Czech Excel) or ISO-8859-2 (older tools).

    The two single-byte encodings agree on every Czech letter but Š š Ť ť Ž ž,
    which cp1250 puts at 0x8A-0x9E (control characters in ISO-8859-2) and
    ISO-8859-2 at 0xA9-0xBE (© « ® ą » ľ in cp1250). So: any byte in 0x80-0x9F
    means cp1250; else one of those six bytes means ISO-8859-2; else cp1250.
    (charset-normalizer, tried first, took Latin-2 Czech for cp1250.)"""
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
    if not _C1.search(data) and _LATIN2_CARON.search(data):
        return data.decode("iso8859_2"), "iso8859_2"
    try:
        return data.decode("cp1250"), "cp1250"
    except UnicodeDecodeError as exc:
        raise JobFailed(
            f"the file is neither UTF-8, Windows-1250 nor ISO-8859-2 "
            f"(undecodable byte at offset {exc.start})"
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
            if values and (values[0].strip() or "".join(values).strip()):
                rows.append((row_no, values))
    except csv.Error as exc:
        raise JobFailed(f"row {row_no}: {exc}") from None
    return Table(encoding, delimiter, columns, rows, ignored)
