"""Dataset import: validate every record first, then write them all in one transaction.

``dataset_import`` is what the ``import_dataset`` command, the upload form and the
API call. A bad record raises :class:`RecordError` naming the line (or record index)
and the field, and nothing is written. Importing the same file twice adds nothing.
"""
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import connection, transaction

from curation.models import Project

from .formats import FORMATS, PARSERS, Context, detect_format
from .limits import check_storable
from .readers import READERS, open_text, sniff_container
from .bulk import PostgresBulkWriter
from .records import Record, RecordError
from .writer import BatchWriter

__all__ = ["FORMATS", "ImportSummary", "RecordError", "dataset_import", "dataset_import_upload", "source_name"]

Progress = Callable[[str, int, int], None]

COUNT_LABELS = [
    ("pairs_created", "pairs new"),
    ("pairs_existing", "pairs already present"),
    ("prompts_created", "prompts new"),
    ("responses_created", "responses new"),
    ("human_judgments_created", "human judgments"),
    ("human_judgments_existing", "human judgments already present"),
    ("ai_judgments_created", "AI judgments"),
    ("ai_judgments_existing", "AI judgments already present"),
    ("adjudications_created", "gold labels"),
    ("scores_created", "scores"),
    ("rubrics_created", "rubrics"),
]


@dataclass
class ImportSummary:
    format: str
    records: int
    dry_run: bool
    seconds: float
    counts: Counter = field(default_factory=Counter)
    # Seconds per phase of the PostgreSQL fast path (stage, write, refresh, commit), for benchmarks.
    phases: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        parts = [f"{self.counts[key]:,} {label}" for key, label in COUNT_LABELS if self.counts[key]]
        parts += [f"{n:,} {key}" for key, n in sorted(self.counts.items()) if key.startswith("skipped")]
        verb = "Would import" if self.dry_run else "Imported"
        detail = ", ".join(parts) or "nothing new"
        return f"{verb} {self.records:,} {self.format} records in {self.seconds:.1f} s: {detail}."

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "records": self.records,
            "dry_run": self.dry_run,
            "seconds": round(self.seconds, 3),
            **{key: value for key, value in sorted(self.counts.items())},
        }


def source_name(filename: str) -> str:
    """The file's name without directories and data suffixes: 'natural' for natural.json.gz."""
    name = Path(filename).name
    for suffix in (".gz", ".jsonl", ".json", ".csv", ".txt"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name or "upload"


def _records(path: Path, fmt: str, source: str, progress: Progress | None, phase: str) -> Iterator[Record]:
    container = "csv" if fmt == "csv" else sniff_container(path)
    if fmt not in ("auto", "csv") and container == "csv":
        raise RecordError("line 1", None, f"the {fmt} format needs JSON or JSON Lines, and this file is neither")
    total = path.stat().st_size
    text, counter = open_text(path)
    with text:
        parser = PARSERS.get(fmt)
        context = Context(source=source, fmt=fmt)
        for n, (location, raw) in enumerate(READERS[container](text)):
            if parser is None:
                fmt = detect_format(raw, container)
                parser, context = PARSERS[fmt], Context(source=source, fmt=fmt)
            record = parser(raw, location, context)
            if phase == "validating":  # the write pass reads the same, already checked, records
                check_storable(record)
            yield record
            if progress and n % 1000 == 0:
                progress(phase, counter.bytes_read, total)
        if progress:
            progress(phase, total, total)


def _detected_format(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    container = sniff_container(path)
    if container == "csv":
        return "csv"
    text, _ = open_text(path)
    with text:
        for location, raw in READERS[container](text):
            return detect_format(raw, container)
    raise RecordError("line 1", None, "the file holds no records")


def dataset_import(
    *,
    path: str | Path,
    project: Project,
    fmt: str = "auto",
    dry_run: bool = False,
    source: str | None = None,
    progress: Progress | None = None,
    batch_size: int = 1000,
    bulk: bool | None = None,
) -> ImportSummary:
    """Validate the whole file, then import it atomically. Raises RecordError.

    On PostgreSQL (``bulk`` None or True) records are validated as they are staged
    with COPY and written set-based once the whole file is valid (``bulk.py``);
    elsewhere, or with ``bulk=False``, a validation pass precedes batched ORM writes.
    """
    from curation.services import pairs_refresh

    started = time.monotonic()
    path = Path(path)
    if fmt not in FORMATS and fmt != "auto":
        raise RecordError("file", "format", f"unknown format {fmt!r}; use one of auto, {', '.join(FORMATS)}")
    if not path.is_file():
        raise RecordError(str(path), None, "no such file")
    source = source or source_name(path.name)
    fmt = _detected_format(path, fmt)
    if connection.vendor == "postgresql" if bulk is None else bulk:
        return _bulk_import(path, project, fmt, source, progress, dry_run, started)

    n_records = 0
    for _ in _records(path, fmt, source, progress, "validating"):
        n_records += 1
    if n_records == 0:
        raise RecordError("line 1", None, "the file holds no records")

    writer = BatchWriter(project, origin=fmt)
    with transaction.atomic():
        batch: list[Record] = []
        for record in _records(path, fmt, source, progress, "writing"):
            batch.append(record)
            if len(batch) >= batch_size:
                writer.write(batch)
                batch = []
                pairs_refresh(pair_ids=writer.touched_pairs)
                writer.touched_pairs = set()
        if batch:
            writer.write(batch)
        pairs_refresh(pair_ids=writer.touched_pairs)
        if dry_run:
            transaction.set_rollback(True)
    return ImportSummary(
        format=fmt,
        records=n_records,
        dry_run=dry_run,
        seconds=time.monotonic() - started,
        counts=writer.counts,
    )


def _bulk_import(path: Path, project: Project, fmt: str, source: str, progress: Progress | None, dry_run: bool,
                 started: float) -> ImportSummary:
    """One pass: each record is validated and staged; the first bad one raises and
    the transaction drops the staging, so nothing reaches the real tables."""
    from curation.services import pairs_refresh

    phases: dict[str, float] = {}
    mark = time.monotonic()

    def phase(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        phases[name] = round(now - mark, 3)
        mark = now

    with transaction.atomic():
        writer = PostgresBulkWriter(project, origin=fmt)
        n_records = 0
        for record in _records(path, fmt, source, progress, "validating"):
            writer.add(record)
            n_records += 1
        if n_records == 0:
            raise RecordError("line 1", None, "the file holds no records")
        if progress:
            progress("writing", 0, 1)
        to_refresh = writer.finish()
        phase("write")
        pairs_refresh(pair_ids=to_refresh)
        phase("refresh")
        if progress:
            progress("writing", 1, 1)
        if dry_run:
            transaction.set_rollback(True)
    phase("commit")  # deferred foreign-key checks run here
    phases["stage"] = writer.stage_seconds
    phases["write"] = round(phases["write"] - writer.stage_seconds, 3)
    return ImportSummary(
        format=fmt, records=n_records, dry_run=dry_run, seconds=time.monotonic() - started, counts=writer.counts,
        phases=phases,
    )


def dataset_import_upload(*, upload, project: Project, fmt: str = "auto", dry_run: bool = False) -> ImportSummary:
    """Import an uploaded file (the upload form and the API): it is copied to a
    temporary file keeping its suffixes (so .gz is read as gzip), then imported."""
    import tempfile

    suffix = "".join(Path(upload.name).suffixes[-2:])
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
        for chunk in upload.chunks():
            handle.write(chunk)
        handle.flush()
        return dataset_import(path=handle.name, project=project, fmt=fmt, dry_run=dry_run, source=source_name(upload.name))
