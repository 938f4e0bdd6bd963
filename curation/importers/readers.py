"""Streaming readers for the containers import formats come in: JSON Lines, a JSON
array, and CSV. Each yields ``(location, record)`` and never holds the whole file."""
import csv
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from .records import RecordError

CHUNK_SIZE = 1 << 20


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
            yield f"line {number}", _loads(line)
        except json.JSONDecodeError as error:
            raise RecordError(f"line {number}", None, f"broken JSON ({error.msg} at column {error.colno})")


def _loads(line: str) -> Any:
    """orjson (several times faster); on anything it refuses, the json module, which
    also accepts NaN and integers beyond 64 bits and words the error messages."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)


def _lines(text: IO[str]) -> Iterator[str]:
    try:
        for line in text:
            yield line.lstrip("\ufeff") if line.startswith("\ufeff") else line
    except UnicodeDecodeError as error:
        raise RecordError(f"byte {error.start}", None, "the file is not UTF-8 text")


def iter_json_array(text: IO[str]) -> Iterator[tuple[str, Any]]:
    """Decode a top-level JSON array one element at a time."""
    decoder = json.JSONDecoder()
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
        start_line = line
        line += buffer.count("\n", pos, end)
        pos = end
        yield f"record {index} (line {start_line})", value
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
            yield f"line {reader.line_num}", row
    except csv.Error as error:
        raise RecordError(f"line {reader.line_num}", None, f"broken CSV ({error})")


READERS = {"array": iter_json_array, "jsonl": iter_jsonl, "csv": iter_csv}
