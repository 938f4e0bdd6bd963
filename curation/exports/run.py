"""One export, start to finish: select, stream in batches, label, split, write, card.

``export_write`` is what the command, the Celery task and the admin action run.
Memory stays flat: rows stream from a server-side cursor on PostgreSQL in batches
of ``batch_size`` pairs, and what a batch needs beyond the pair rows is loaded with
one query per kind per batch.
"""
import gc
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connection, transaction

from curation.agreement import report as agreement_report
from curation.models import Project, Rubric

from .card import ExportStats, dataset_card
from .files import CsvSink, JsonlSink, ParquetSink, Sink
from .formats import WRITERS, ConcordWriter, FormatWriter, TrlWriter
from .items import ExportItem, SkipPair
from .options import ExportError, ExportOptions
from .selection import (
    JudgmentTally,
    estimated_count,
    prompts_with_rubrics,
    prompts_without_pairs,
    selected_pairs,
    split_of,
    stream,
)

DEFAULT_BATCH = 2000
DATA_SUFFIXES = (".jsonl", ".parquet", ".csv", ".json")

Progress = Callable[[int, int], None]


@dataclass
class ExportResult:
    directory: Path
    files: list[dict]  # {"name", "split", "rows", "sha256", "data"}
    card_name: str
    card: str
    stats: ExportStats
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(f["rows"] for f in self.files if f["data"])

    @property
    def sha256(self) -> dict[str, str]:
        return {f["name"]: f["sha256"] for f in self.files}

    def line(self) -> str:
        data = [f for f in self.files if f["data"]]
        where = ", ".join(f"{f['name']} ({f['rows']:,})" for f in data)
        skipped = sum(self.stats.skipped.values())
        rate = self.rows / self.seconds if self.seconds else 0
        tail = f"; {skipped:,} pairs left out ({', '.join(self.stats.skipped)})" if skipped else ""
        return (
            f"Exported {self.stats.pairs:,} pairs as {self.rows:,} rows to {self.directory}/: {where}; "
            f"card {self.card_name}; {self.seconds:.1f} s ({rate:,.0f} rows/s){tail}."
        )


def output_paths(output: Path, options: ExportOptions, writer: FormatWriter) -> tuple[Path, str, dict[str, Path]]:
    """(directory, stem, split → data file). One file unless a test split is asked for."""
    extension = ".parquet" if options.parquet else (".csv" if options.format == "csv" else ".jsonl")
    name = output.name
    for suffix in DATA_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    if not name:
        raise ExportError("the output needs a file name", "output")
    directory = output.parent
    if options.test_fraction and not writer.split_in_column:
        files = {split: directory / f"{name}.{writer.split_names[split]}{extension}" for split in ("train", "test")}
    else:
        files = {"all": directory / f"{name}{extension}"}
    return directory, name, files


def _sink(path: Path, writer: FormatWriter, options: ExportOptions, with_extras: bool) -> Sink:
    schema = writer.schema(with_extras=with_extras)
    if options.parquet:
        return ParquetSink(path, schema)
    if options.format == "csv":
        return CsvSink(path, schema.names)
    return JsonlSink(path)


@contextmanager
def consistent_snapshot() -> Iterator[None]:
    """On PostgreSQL the export reads one REPEATABLE READ snapshot, so the pair rows
    and what each batch loads beside them agree, and the planner is told the whole
    result is wanted (cursor_tuple_fraction = 1: hash joins, not a fast-start plan).
    Elsewhere (SQLite) no transaction is held: a long one would block writers."""
    if connection.vendor != "postgresql":
        yield
        return
    outermost = not connection.in_atomic_block
    if outermost:
        with connection.cursor():  # runs the health check outside the transaction
            pass
    with transaction.atomic():
        with connection.cursor() as cursor:
            if outermost:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("SET LOCAL cursor_tuple_fraction = 1.0")
            # JIT compiling the export's big queries took seconds and saved less.
            cursor.execute("SET LOCAL jit = off")
        yield


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """The stream allocates millions of short-lived dicts and tuples, freed by their
    reference counts; each allocation burst set off the cyclic collector, which then
    walked every tracked object in the process (1M trl pairs: 9.7–10.0 → 8.2–8.8 s,
    alternating). It runs again, if it was on, when the stream ends however it ends.
    The export makes no reference cycles per row, so memory does not grow (peak as
    before, bench/export.py)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def export_write(
    *,
    project: Project,
    options: ExportOptions,
    output: Path,
    progress: Progress | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> ExportResult:
    """Write the export; raises ExportError (and leaves no files behind)."""
    started = time.monotonic()
    options.validate()
    writer = WRITERS[options.format](options)
    directory, stem, data_paths = output_paths(Path(output), options, writer)
    directory.mkdir(parents=True, exist_ok=True)
    inline_extras = not options.extras_in_sidecar
    sinks = {key: _sink(path, writer, options, inline_extras) for key, path in data_paths.items()}
    sidecars: dict[str, Sink] = {}
    if not inline_extras:
        sidecars = {key: JsonlSink(path.with_name(_stem(path) + ".meta.jsonl")) for key, path in data_paths.items()}
    stats = ExportStats()
    notes = _notes(options)
    try:
        pairs = selected_pairs(project, options)
        with consistent_snapshot(), cyclic_gc_paused():
            total = estimated_count(project, options)
            done = 0
            tally = JudgmentTally(project)
            plain = _plain_trl(writer, options, inline_extras, len(sinks) > 1)
            fields = TrlWriter.PLAIN_FIELDS if plain else None
            for batch in stream(pairs, needs=writer.needs, tally=tally, batch_size=batch_size, fields=fields,
                                tuples=plain):
                rows, meta = _batch_rows(batch, writer, options, stats, inline_extras, len(sinks) > 1, plain)
                for key, sink in sinks.items():
                    if plain:  # one JSONL file of flat rows that start with "prompt"
                        sink.write_flat(rows[key], first_key="prompt")
                    else:
                        sink.write(rows[key])
                for key, sidecar in sidecars.items():
                    sidecar.write(meta[key])
                done += len(batch.rows)
                if progress:
                    progress(done, total)
            if isinstance(writer, ConcordWriter):
                _prompt_lines(project, pairs, writer, options, sinks, stats, batch_size)
            figures = tally.figures()
        for sink in (*sinks.values(), *sidecars.values()):
            sink.finish()
    except BaseException:
        for sink in (*sinks.values(), *sidecars.values()):
            sink.abort()
        raise
    files = [
        {"name": sink.path.name, "split": _split_name(key, writer), "rows": sink.rows, "sha256": sink.sha256, "data": True}
        for key, sink in sinks.items()
    ] + [
        {"name": sidecar.path.name, "split": _split_name(key, writer), "rows": sidecar.rows, "sha256": sidecar.sha256,
         "data": False}
        for key, sidecar in sidecars.items()
    ]
    # The project's agreement report (human–human α and κ, each judge against humans,
    # with bootstrap intervals) describes how far the labels can be trusted.
    figures["report"] = agreement_report(project, intervals=True)
    card = dataset_card(project=project, options=options, stats=stats, files=files, figures=figures, notes=notes)
    for sink in (*sinks.values(), *sidecars.values()):
        sink.commit()
    card_path = directory / "README.md"
    card_path.write_text(card, encoding="utf-8")
    return ExportResult(
        directory=directory, files=files, card_name=card_path.name, card=card, stats=stats,
        seconds=time.monotonic() - started, notes=notes,
    )


def _plain_trl(writer: FormatWriter, options: ExportOptions, inline_extras: bool, split_files: bool) -> bool:
    """Plain trl rows, every selected pair in one JSONL file: built in one loop per batch
    (``TrlWriter.plain_rows``) from fewer columns (``TrlWriter.PLAIN_FIELDS``)."""
    return (
        isinstance(writer, TrlWriter) and writer.plain and inline_extras and not split_files
        and options.min_agreement is None and not options.test_fraction and not options.parquet
    )


def _batch_rows(batch, writer: FormatWriter, options: ExportOptions, stats: ExportStats, inline_extras: bool,
                split_files: bool, plain: bool) -> tuple[dict[str, list[dict]], dict[str, list[dict]]]:
    """A batch's output rows (and sidecar rows) per file; counts what was written."""
    if plain:
        out = writer.plain_rows(batch)
        combinations = Counter(map(writer.PLAIN_CARD_KEY, batch.rows))
        stats.count_combinations(
            {(tier, "train", *rest): n for (tier, *rest), n in combinations.items()},
            [line["agreement"] for line in out if line["agreement"] is not None],
        )
        return {"all": out}, {}
    rows: dict[str, list[dict]] = defaultdict(list)
    meta: dict[str, list[dict]] = defaultdict(list)
    written: list[tuple[dict, str, float | None]] = []
    min_agreement, test_fraction, seed = options.min_agreement, options.test_fraction, options.seed
    json_text = options.parquet and isinstance(writer, ConcordWriter)
    for row in batch.rows:
        agreement = batch.agreement(row)
        if min_agreement is not None and (agreement is None or agreement < min_agreement):
            stats.skipped["pair agreement below the minimum"] += 1
            continue
        split = split_of(row["prompt__content_hash"], seed=seed, test_fraction=test_fraction) if test_fraction else "train"
        item = ExportItem.of(row, agreement, split)
        try:
            produced = writer.rows(item, batch)
        except SkipPair as skip:
            stats.skipped[skip.reason] += 1
            continue
        key = split if split_files else "all"
        extras = item.extras()
        for out in produced:
            if json_text:
                out = writer.for_parquet(out)
            if inline_extras:
                out.update(extras)  # csv's own label_source and tier columns hold the same values
            else:
                meta[key].append({**extras, "split": split})
            rows[key].append(out)
        written.append((row, split, agreement))
    stats.count(written)
    return rows, meta


def _prompt_lines(project, pairs, writer: ConcordWriter, options, sinks: dict[str, Sink], stats: ExportStats,
                  batch_size: int) -> None:
    """Concord's prompt-only lines: the rubrics of the exported pairs' prompts and, in
    a whole-project export, the prompts that have no pairs yet."""
    prompts = prompts_with_rubrics(pairs)
    if options.everything:
        prompts = prompts | prompts_without_pairs(project)
    fields = ("id", "text", "messages", "external_id", "origin", "metadata", "category", "content_hash")
    batch: list[dict] = []

    def flush() -> None:
        rubrics = defaultdict(list)
        for rubric in Rubric.objects.filter(prompt_id__in=[p["id"] for p in batch]).order_by("prompt_id", "kind", "version", "id"):
            rubrics[rubric.prompt_id].append(writer.rubric(rubric))
        by_split: dict[str, list[dict]] = defaultdict(list)
        for prompt in batch:
            record = writer.prompt_fields(
                text=prompt["text"], messages=prompt["messages"], external_id=prompt["external_id"],
                origin=prompt["origin"], metadata=prompt["metadata"], category=prompt["category"],
            )
            record["rubrics"] = rubrics[prompt["id"]]
            split = split_of(prompt["content_hash"], seed=options.seed, test_fraction=options.test_fraction)
            by_split[split if len(sinks) > 1 else "all"].append(writer.for_parquet(record) if options.parquet else record)
        for key, records in by_split.items():
            sinks[key].write(records)
        stats.prompt_lines += len(batch)

    for prompt in prompts.order_by("id").values(*fields).iterator(chunk_size=batch_size):
        batch.append(prompt)
        if len(batch) >= batch_size:
            flush()
            batch = []
    if batch:
        flush()


def _stem(path: Path) -> str:
    name = path.name
    for suffix in DATA_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _split_name(key: str, writer: FormatWriter) -> str:
    if key == "all":
        return "train"
    return writer.split_names[key]


def _notes(options: ExportOptions) -> list[str]:
    notes = []
    if options.extras_in_sidecar:
        notes.append("pair_id, label_source, tier, agreement and split of each row are in the `.meta.jsonl` sidecar "
                     "beside its data file (row i ↔ row i)")
    else:
        notes.append("columns pair_id, label_source, tier and agreement are added to every row (`--strict` leaves "
                     "them out and writes a `.meta.jsonl` sidecar instead)")
    if options.margin:
        notes.append(f"margin: {options.margin} (abs_s = |s| of the label, 0..2)")
    if options.synthetic_scores:
        notes.append("score_chosen / score_rejected are synthetic for pairs without aspect ratings: |s| and 0")
    if options.format == "helpsteer2":
        notes.append("preference_strength maps s = -2..2 to -3, -1, 0, 1, 3; response_1 is A, response_2 is B; "
                     "the split column holds train / validation")
        if options.include_ai_justifications:
            notes.append("AI rationales are included in all_preferences_unprocessed, tagged '[AI judge NAME]'")
    if options.effective_keep_ties and options.format in ("trl", "hh", "openai", "ultrafeedback"):
        notes.append("ties are kept: a tie is written with response A as chosen (its label is 0)")
    if options.parquet and options.format == "concord":
        notes.append("in Parquet, concord's free-form fields (prompt when a conversation, metadata, judgments, "
                     "ai_judgments, adjudications, scores, rubrics, flags) are JSON text; the JSONL file is the "
                     "one the importer reads")
    if options.test_fraction:
        notes.append("split by prompt: a prompt is in test when int(sha256(seed ‖ prompt content hash)[:8], 16) "
                     f"mod 10⁴ < {options.test_fraction:g}·10⁴; no prompt is on both sides")
    return notes
