"""Streaming readers for the containers import formats come in: JSON Lines, a JSON
array, and CSV. Each yields ``(location, record)`` and never holds the whole file."""
import csv
import gzip
import io
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from .records import RecordError

CHUNK_SIZE = 1 << 20

# JSON escapes that decode to text no database column can hold: NUL (PostgreSQL text
# refuses it) and UTF-16 surrogates, which are fine in a pair but not alone. Only a
# record whose raw text has one of these escapes is walked (a pair's high half is
# common in ASCII-escaped files, so the walk confirms).
SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):
        raise ValueError(f"{text[:40]} is beyond the range of a number")
    return value


# NaN and Infinity are not JSON (Python reads them anyway), and 1e400 overflows:
# no JSON column of PostgreSQL takes them.
decode_json = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_float).decode


def check_text(value: Any, location: str, path: str = "") -> None:
    """Raise RecordError naming the field if a string holds NUL or a lone surrogate."""
    if isinstance(value, str):
        if "\x00" in value:
            raise RecordError(location, path or None, "contains a NUL character (\\u0000), which cannot be stored")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise RecordError(location, path or None, "contains a lone UTF-16 surrogate escape (\\ud800–\\udfff), "
                                                      "which is not text") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, location, path)
            check_text(item, location, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_text(item, location, f"{path}[{index}]")


class CountingReader(io.RawIOBase):
    """Wraps a binary file and counts bytes read, for progress bars."""

    def __init__(self, raw: IO[bytes]):
        self.raw = raw
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.bytes_read += n
        return n

    def close(self) -> None:
        self.raw.close()
        super().close()


def open_text(path: Path) -> tuple[IO[str], CountingReader]:
    raw = open(path, "rb")
    counter = CountingReader(raw)
    binary: IO[bytes] = io.BufferedReader(counter, buffer_size=CHUNK_SIZE)
    if path.suffix == ".gz":
        binary = gzip.GzipFile(fileobj=binary)  # type: ignore[assignment]
    text = io.TextIOWrapper(binary, encoding="utf-8", errors="strict", newline="")
    return text, counter


def sniff_container(path: Path) -> str:
    """``array`` for a JSON array, ``jsonl`` for JSON Lines, ``csv`` otherwise."""
    text, _ = open_text(path)
    with text:
        try:
            head = text.read(4096)
        except UnicodeDecodeError:
            raise RecordError("byte 0", None, "the file is not UTF-8 text")
    stripped = head.lstrip("\ufeff \t\r\n")
    if not stripped:
        raise RecordError("line 1", None, "the file is empty")
    if stripped[0] == "[":
        return "array"
    if stripped[0] == "{":
        return "jsonl"
    return "csv"


def iter_jsonl(text: IO[str]) -> Iterator[tuple[str, Any]]:
    for number, line in enumerate(_lines(text), start=1):
        if not line.strip():
            continue
        try:
            value = _loads(line)
        except json.JSONDecodeError as error:
            raise RecordError(f"line {number}", None, f"broken JSON ({error.msg} at column {error.colno})")
        except ValueError as error:
            raise RecordError(f"line {number}", None, f"broken JSON ({error})")
        if SUSPECT_ESCAPE.search(line):
            check_text(value, f"line {number}")
        yield f"line {number}", value


def _loads(line: str) -> Any:
    """orjson (several times faster); on anything it refuses, ``decode_json``, which
    takes integers beyond 64 bits, refuses NaN and infinities, and words the errors."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return decode_json(line)


def _lines(text: IO[str]) -> Iterator[str]:
    try:
        for line in text:
            yield line.lstrip("\ufeff") if line.startswith("\ufeff") else line
    except UnicodeDecodeError as error:
        raise RecordError(f"byte {error.start}", None, "the file is not UTF-8 text")


def iter_json_array(text: IO[str]) -> Iterator[tuple[str, Any]]:
    """Decode a top-level JSON array one element at a time."""
    decoder = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_float)
    buffer = ""
    eof = False
    line = 1
    index = 0
    pos = 0

    def fill() -> bool:
        nonlocal buffer, eof, pos
        if eof:
            return False
        try:
            chunk = text.read(CHUNK_SIZE)
        except UnicodeDecodeError:
            raise RecordError(f"record {index}", None, "the file is not UTF-8 text")
        if not chunk:
            eof = True
            return False
        buffer = buffer[pos:] + chunk
        pos = 0
        return True

    def skip_whitespace() -> None:
        nonlocal pos, line
        while True:
            while pos < len(buffer) and buffer[pos] in " \t\r\n\ufeff":
                if buffer[pos] == "\n":
                    line += 1
                pos += 1
            if pos < len(buffer) or not fill():
                return

    skip_whitespace()
    if pos >= len(buffer) or buffer[pos] != "[":
        raise RecordError("line 1", None, "expected a JSON array starting with '['")
    pos += 1
    expect_value = True
    first = True
    while True:
        skip_whitespace()
        if pos >= len(buffer):
            raise RecordError(f"record {index} (line {line})", None, "broken JSON: the array is not closed")
        char = buffer[pos]
        if char == "]" and (first or not expect_value):
            pos += 1
            skip_whitespace()
            if pos < len(buffer):
                raise RecordError(f"line {line}", None, "broken JSON: data after the closing ']'")
            return
        if not expect_value:
            if char != ",":
                raise RecordError(f"record {index} (line {line})", None, "broken JSON: expected ',' or ']'")
            pos += 1
            expect_value = True
            continue
        while True:
            try:
                value, end = decoder.raw_decode(buffer, pos)
                break
            except json.JSONDecodeError as error:
                incomplete = error.pos >= len(buffer) or error.msg.startswith("Unterminated string")
                if not incomplete or not fill():
                    raise RecordError(
                        f"record {index} (line {line})", None, f"broken JSON ({error.msg})"
                    )
            except ValueError as error:  # NaN, Infinity, 1e400
                raise RecordError(f"record {index} (line {line})", None, f"broken JSON ({error})")
        start_line = line
        location = f"record {index} (line {start_line})"
        if SUSPECT_ESCAPE.search(buffer, pos, end):
            check_text(value, location)
        line += buffer.count("\n", pos, end)
        pos = end
        yield location, value
        index += 1
        first = False
        expect_value = False


def iter_csv(text: IO[str]) -> Iterator[tuple[str, Any]]:
    reader = csv.DictReader(_lines(text))
    try:
        fieldnames = reader.fieldnames
    except csv.Error as error:
        raise RecordError("line 1", None, f"broken CSV ({error})")
    if not fieldnames:
        raise RecordError("line 1", None, "the CSV file has no header row")
    try:
        for row in reader:
            if None in row:
                raise RecordError(f"line {reader.line_num}", None, "more cells than header columns")
            check_text(row, f"line {reader.line_num}")  # NUL bytes (the text is strict UTF-8: no surrogates)
            if None in row.values():  # DictReader's filler for the cells a short row lacks
                cells = sum(value is not None for value in row.values())
                raise RecordError(f"line {reader.line_num}", None,
                                  f"fewer cells than header columns ({cells} of {len(fieldnames)})")
            yield f"line {reader.line_num}", row
    except csv.Error as error:
        raise RecordError(f"line {reader.line_num}", None, f"broken CSV ({error})")


READERS = {"array": iter_json_array, "jsonl": iter_jsonl, "csv": iter_csv}
