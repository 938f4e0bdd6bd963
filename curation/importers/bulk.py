"""The PostgreSQL fast path of dataset import: COPY into staging tables, then one
``INSERT … SELECT … ON CONFLICT DO NOTHING`` per table.

Why: the ORM path (``writer.BatchWriter``) spends nearly all its time building model
instances, compiling multi-row INSERTs and refreshing every touched pair in Python
(about 1,000 pairs/s). Here each record is parsed and validated once, its rows go to
temporary tables with ``COPY FROM STDIN`` (in chunks, as they are read), and the real
tables are written set-based at the end, ids resolved by content-hash joins, all in
the caller's transaction. A bad record raises before anything reaches the real
tables, and the transaction rolls the staging (and the few judge configs created on
first sight) back: nothing is written.

What it writes is what the ORM path writes, field by field (tests/test_import_bulk.py
compares the two): first occurrence wins for a prompt, response or pair, labels are
re-oriented when a stored pair has its sides the other way round, and a row that
exists (by content hash, or one judgment per annotator or judge per pair) is left
alone, so re-importing a file creates nothing.

Tiers and consensus: a pair created by this import whose only source is one record
gets its state from ``consensus.pair_state`` computed in Python while the record is
read (what ``pairs_refresh`` would compute from the same labels), written with the
pair itself. Every other pair that got a new label (an existing pair, or a pair
given by several records) goes through ``services.pairs_refresh``, as do all pairs
when the project weights annotators by gold accuracy or has auto-accepted strata
(their state depends on more than the record).
"""
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterable

import orjson
from django.contrib.auth import get_user_model
from django.db import connection

from curation.consensus import AIRecord, HumanRecord, pair_state, status_after_refresh
from curation.hashing import pair_hash, prompt_hash, response_hash
from curation.models import AutoAcceptStratum, JudgeConfig, Project

from .records import AdjudicationLabel, AILabel, HumanLabel, Record

CHUNK_RECORDS = 20_000

logger = logging.getLogger(__name__)
EXPLAIN = bool(os.environ.get("CONCORD_IMPORT_EXPLAIN"))  # profiling aid: log each statement's plan

# Staging tables: name → column definitions. ``seq`` is the record's position in the
# file, ``pseq``/``lseq`` a pair's or label's position in its record: "first wins"
# and insertion order follow them, so ids ascend in file order as on the ORM path.
STAGING = {
    "s_prompt": "seq int, hash text, text text, messages jsonb, category text, origin text, external_id text, "
                "metadata jsonb",
    "s_response": "seq int, rseq int, prompt_hash text, hash text, text text, producer text, producer_kind text, "
                  "params jsonb, conditioning jsonb, n_tokens int, finish_reason text, n_chars int",
    "s_pair": "seq int, pseq int, hash text, prompt_hash text, a_hash text, b_hash text, external_id text, "
              "origin text, metadata jsonb, flags jsonb, ensemble_mu float8, ensemble_sigma float8, tier text, "
              "status text, gold_verdict smallint, gold_source text, consensus_verdict smallint, "
              "consensus_strength float8, label_verdict smallint, label_source text, n_human_judgments int",
    "s_human": "seq int, pseq int, lseq int, annotator text, verdict smallint, strength_known bool, raw_value text, "
               "raw_scale text, rationale text, aspects jsonb, aspects_flipped jsonb, checklist_answers jsonb, "
               "shown_order text, mode text, time_spent_ms int, is_revision bool, context text, "
               "used_assistance bool, flags jsonb",
    "s_ai": "seq int, pseq int, lseq int, judge_id bigint, verdict smallint, strength_known bool, raw_value text, "
            "raw_scale text, rationale text, confidence float8, parse_ok bool, aspects jsonb, aspects_flipped jsonb, "
            "runs jsonb, flags jsonb, position_consistent bool, length_rule_applied bool, "
            "verdict_before_length_rule smallint, expected_verdict float8, checklist_answers jsonb, context text",
    "s_adjudication": "seq int, pseq int, lseq int, verdict smallint, source text, note text, source_detail text, "
                      "reviewer_id int",
    "s_score": "seq int, sseq int, prompt_hash text, response_hash text, judge_id bigint, aspect text, value float8, "
               "rationale text, expected float8",
    "s_rubric": "seq int, lseq int, prompt_hash text, kind text, version int, items jsonb, text text, origin text, "
                "task_type text",
}


TEMP_TABLES = [*STAGING, "m_prompt", "t_new_pair", "m_pair", "t_touched"]


def _json(value) -> str:
    """JSON text for a jsonb column (PostgreSQL normalises it, as for the ORM's json.dumps)."""
    if not value:
        if value is None:
            return None  # type: ignore[return-value]
        return "{}" if isinstance(value, dict) else "[]"
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # integers beyond 64 bits, which orjson does not write
        return json.dumps(value)


def _json_or_empty(value, empty: str) -> str:
    return empty if value is None else _json(value)


def _negate(value):
    return None if value is None else -value


class PostgresBulkWriter:
    """Stages records (``add``), then writes them (``finish``); same counts as BatchWriter."""

    def __init__(self, project: Project, *, origin: str):
        self.project = project
        self.origin = origin
        self.counts: Counter = Counter()
        self.judges: dict[str, tuple[int, str, str]] = {}  # name → (id, kind, model)
        self.reviewers: dict[str, int | None] = {}
        self.buffers: dict[str, list[tuple]] = {name: [] for name in STAGING}
        self.seq = 0
        self.started = time.monotonic()
        self.stage_seconds = 0.0  # reading, validating and COPY into the staging tables
        self.precompute = project.consensus_weighting != Project.ConsensusWeighting.GOLD_ACCURACY and not (
            AutoAcceptStratum.objects.filter(project=project, active=True).exists()
        )
        self.quorum = project.effective_quorum
        self.min_confidence = project.silver_confidence
        self.overlap = project.overlap
        with connection.cursor() as cursor:
            # Sorting and hashing a million staged rows in 4 MB (the default) spills to disk.
            cursor.execute("SET LOCAL work_mem = '256MB'")
            # Inside an outer transaction (tests, a caller's atomic block) ON COMMIT DROP
            # has not fired yet for an earlier import: drop what is left.
            cursor.execute(f"DROP TABLE IF EXISTS {', '.join(TEMP_TABLES)}")
            for name, columns in STAGING.items():
                cursor.execute(f"CREATE TEMPORARY TABLE {name} ({columns}) ON COMMIT DROP")

    # -- staging ------------------------------------------------------------------------

    def add(self, record: Record) -> None:
        self.seq += 1
        seq = self.seq
        buffers = self.buffers
        origin = self.origin
        phash = prompt_hash(record.prompt_text, record.prompt_messages)
        buffers["s_prompt"].append((
            seq, phash, record.prompt_text, _json(record.prompt_messages), record.category[:100],
            (record.prompt_origin or origin)[:50], record.prompt_external_id[:200],
            _json_or_empty(record.prompt_metadata, "{}"),
        ))
        rhashes = []
        for rseq, response in enumerate(record.responses):
            rhash = response_hash(response.text)
            rhashes.append(rhash)
            buffers["s_response"].append((
                seq, rseq, phash, rhash, response.text, response.producer[:300], response.producer_kind,
                _json_or_empty(response.params, "{}"), _json_or_empty(response.conditioning, "{}"),
                response.n_tokens, response.finish_reason, len(response.text),
            ))
        for pseq, pr in enumerate(record.pairs):
            a_hash, b_hash = rhashes[pr.a], rhashes[pr.b]
            state = self._stage_labels(seq, pseq, pr, record)
            buffers["s_pair"].append((
                seq, pseq, pair_hash(phash, a_hash, b_hash), phash, a_hash, b_hash, pr.external_id[:200],
                (pr.origin or origin)[:50], _json_or_empty(pr.metadata, "{}"), _json_or_empty(pr.flags, "[]"),
                pr.ensemble_mu, pr.ensemble_sigma, *state,
            ))
        for sseq, score in enumerate(record.scores):
            judge_id = self._judge(score.judge, AILabel(judge=score.judge, verdict=None, method="rate_aspects"))[0]
            buffers["s_score"].append((
                seq, sseq, phash, rhashes[score.response], judge_id, score.aspect, score.value, score.rationale,
                score.expected,
            ))
        for lseq, rubric in enumerate(record.rubrics):
            buffers["s_rubric"].append((
                seq, lseq, phash, rubric.kind, rubric.version, _json_or_empty(rubric.items, "[]"), rubric.text,
                rubric.origin, rubric.task_type,
            ))
        for reason in record.skipped:
            self.counts[f"skipped ({reason})"] += 1
        if seq % CHUNK_RECORDS == 0:
            self.flush()

    def _stage_labels(self, seq: int, pseq: int, pr, record: Record) -> tuple:
        """Stage the pair's labels; return its state as if it were new and this its only record."""
        humans: list[HumanRecord] = []
        seen_humans = set()
        for lseq, label in enumerate(pr.human):
            self._stage_human(seq, pseq, lseq, label)
            key = (label.annotator, label.is_revision)
            if key in seen_humans:
                continue
            seen_humans.add(key)
            if not label.is_revision and label.verdict is not None:
                humans.append(HumanRecord(annotator_id=label.annotator, verdict=label.verdict))  # type: ignore[arg-type]
        ai: list[AIRecord] = []
        seen_judges = set()
        for lseq, label in enumerate(pr.ai):
            judge_id, kind, model = self._judge(label.judge, label)
            self._stage_ai(seq, pseq, lseq, judge_id, label)
            if judge_id in seen_judges:
                continue
            seen_judges.add(judge_id)
            ai.append(AIRecord(judge_config_id=judge_id, verdict=label.verdict, kind=kind, model=model,
                               confidence=label.confidence, position_consistent=label.position_consistent))
        adjudication = None
        seen_adjudications = set()
        for lseq, label in enumerate(pr.adjudications):
            row = self._stage_adjudication(seq, pseq, lseq, label)
            key = row[3:7]
            if key not in seen_adjudications:
                seen_adjudications.add(key)
                adjudication = (label.verdict, label.source, row[6])
        if not self.precompute:
            return ("unverified", "open", None, "", None, None, None, "", 0)
        state = pair_state(
            humans=humans, ai=ai, adjudication=adjudication[:2] if adjudication else None, quorum=self.quorum,
            min_confidence=self.min_confidence, flags=pr.flags,
        )
        return (
            state.tier,
            status_after_refresh("open", state.tier, n_human=state.n_human_judgments, overlap=self.overlap),
            adjudication[0] if adjudication else None,
            (adjudication[2] or adjudication[1])[:100] if adjudication else "",
            state.consensus_verdict,
            state.consensus_strength,
            state.label_verdict,
            state.label_source,
            state.n_human_judgments,
        )

    def _stage_human(self, seq: int, pseq: int, lseq: int, label: HumanLabel) -> None:
        aspects = label.aspects
        self.buffers["s_human"].append((
            seq, pseq, lseq, label.annotator, label.verdict, label.strength_known, label.raw_value, label.raw_scale,
            label.rationale, _json_or_empty(aspects, "{}"),
            _json({k: -v for k, v in aspects.items()}) if aspects else "{}",
            _json_or_empty(label.checklist_answers, "{}"), label.shown_order, label.mode, label.time_spent_ms,
            label.is_revision, label.context, label.used_assistance, _json_or_empty(label.flags, "[]"),
        ))

    def _stage_ai(self, seq: int, pseq: int, lseq: int, judge_id: int, label: AILabel) -> None:
        aspects = label.aspects
        flipped = {k: -v for k, v in aspects.items() if isinstance(v, (int, float))} if aspects else {}
        self.buffers["s_ai"].append((
            seq, pseq, lseq, judge_id, label.verdict, label.strength_known, label.raw_value, label.raw_scale,
            label.rationale, label.confidence, label.parse_ok, _json_or_empty(aspects, "{}"), _json(flipped),
            _json_or_empty(label.runs, "[]"), _json_or_empty(label.flags, "[]"), label.position_consistent,
            label.length_rule_applied, label.verdict_before_length_rule, label.expected_verdict,
            _json_or_empty(label.checklist_answers, "{}"), label.context,
        ))

    def _stage_adjudication(self, seq: int, pseq: int, lseq: int, label: AdjudicationLabel) -> tuple:
        reviewer_id = self._reviewer(label.reviewer) if label.reviewer else None
        detail = label.source_detail or (f"reviewer {label.reviewer}" if label.reviewer and not reviewer_id else "")
        row = (seq, pseq, lseq, label.verdict, label.source, label.note, detail[:200], reviewer_id)
        self.buffers["s_adjudication"].append(row)
        return row

    def _judge(self, name: str, label: AILabel) -> tuple[int, str, str]:
        """The project's judge config of this name, created as the ORM path creates it."""
        found = self.judges.get(name)
        if found is None:
            config, _ = JudgeConfig.objects.get_or_create(
                project=self.project,
                name=name,
                defaults={
                    "kind": label.kind,
                    "method": "construction" if label.kind == "construction" else label.method,
                    "backend": label.backend or "import",
                    "model": label.model,
                    "template_version": label.template_version,
                    "params": label.params or {"imported_from": self.origin},
                },
            )
            found = self.judges[name] = (config.pk, config.kind, config.model)
        return found

    def _reviewer(self, name: str) -> int | None:
        if name not in self.reviewers:
            user = get_user_model().objects.filter(username=name).values_list("id", flat=True).first()
            self.reviewers[name] = user
        return self.reviewers[name]

    def flush(self) -> None:
        """COPY the buffered rows into the staging tables."""
        with connection.cursor() as cursor:
            for name, rows in self.buffers.items():
                if not rows:
                    continue
                with cursor.cursor.copy(f"COPY {name} FROM STDIN") as copy:
                    write_row = copy.write_row
                    for row in rows:
                        write_row(row)
                rows.clear()

    # -- writing ------------------------------------------------------------------------

    @staticmethod
    def _staged_counts(cursor) -> dict[str, int]:
        cursor.execute(
            "SELECT (SELECT count(DISTINCT hash) FROM s_prompt), (SELECT count(*) FROM s_pair), "
            "(SELECT count(*) FROM s_human), (SELECT count(*) FROM s_ai), (SELECT count(*) FROM s_adjudication), "
            "(SELECT count(*) FROM s_score), (SELECT count(*) FROM s_rubric)"
        )
        return dict(zip(("prompts", "pairs", "humans", "ai", "adjudications", "scores", "rubrics"), cursor.fetchone()))

    def finish(self) -> set[int]:
        """Write the staged rows to the real tables; return the pairs pairs_refresh must see."""
        self.flush()
        self.stage_seconds = round(time.monotonic() - self.started, 3)
        project = self.project.pk
        with connection.cursor() as cursor:
            def run(sql: str, params: Iterable = ()) -> int:
                started = time.monotonic()
                if EXPLAIN and sql.lstrip().startswith(("INSERT", "WITH", "CREATE TEMPORARY TABLE m_")):
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, {"project": project, **dict(params)})
                    logger.debug("\n".join(row[0] for row in cursor.fetchall()))
                    return 0
                cursor.execute(sql, {"project": project, **dict(params)})
                logger.debug("%.3f s, %s rows: %s", time.monotonic() - started, cursor.rowcount, sql.strip()[:60])
                return cursor.rowcount

            run("ANALYZE s_prompt")
            run("ANALYZE s_pair")
            # Counted as BatchWriter counts (a key appears when the ORM path would add to it).
            counts = self.counts
            staged = self._staged_counts(cursor)
            created = run(PROMPTS_SQL)
            if created:
                counts["prompts_created"] += created
            counts["prompts_existing"] += staged["prompts"] - created
            # The planner needs to know the tables just grew (autovacuum may not have run).
            run("ANALYZE curation_prompt")
            run(PROMPT_MAP_SQL)
            run("CREATE UNIQUE INDEX ON m_prompt (hash)")
            run("ANALYZE m_prompt")
            created = run(RESPONSES_SQL)
            if created:
                counts["responses_created"] += created
            run("ANALYZE curation_response")
            run("CREATE TEMPORARY TABLE t_new_pair (id bigint, hash text) ON COMMIT DROP")
            created = run(PAIRS_SQL)
            if created:
                counts["pairs_created"] += created
            counts["pairs_existing"] += staged["pairs"] - created
            run("ANALYZE curation_pair")
            run(PAIR_MAP_SQL)
            run("ANALYZE m_pair")
            run("CREATE TEMPORARY TABLE t_touched (pair_id bigint) ON COMMIT DROP")
            if staged["humans"]:
                run(ANNOTATORS_SQL, {"source": f"import:{self.origin}"})
                created = run(HUMAN_SQL.format(revision="false", revises="NULL::bigint", join=""))
                created += run(HUMAN_SQL.format(revision="true", revises="o.id", join=HUMAN_REVISES_JOIN))
                counts["human_judgments_created"] += created
                if staged["humans"] > created:
                    counts["human_judgments_existing"] += staged["humans"] - created
            if staged["ai"]:
                created = run(AI_SQL)
                counts["ai_judgments_created"] += created
                if staged["ai"] > created:
                    counts["ai_judgments_existing"] += staged["ai"] - created
            if staged["adjudications"]:
                counts["adjudications_created"] += run(ADJUDICATIONS_SQL)
            if staged["scores"]:
                counts["scores_created"] += run(SCORES_SQL)
            if staged["rubrics"]:
                counts["rubrics_created"] += run(RUBRICS_SQL)
            cursor.execute(REFRESH_SQL if self.precompute else "SELECT DISTINCT pair_id FROM t_touched")
            refresh = {row[0] for row in cursor.fetchall()}
            cursor.execute(f"DROP TABLE {', '.join(TEMP_TABLES)}")
        return refresh


# Each INSERT takes the first occurrence of a natural key (DISTINCT ON … ORDER BY
# key, seq) and inserts in file order (ORDER BY seq), skipping rows that exist.
PROMPTS_SQL = """
INSERT INTO curation_prompt (project_id, text, messages, content_hash, category, origin, external_id, metadata,
                             created_at)
SELECT %(project)s, text, messages, hash, category, origin, external_id, metadata, now()
FROM s_prompt
WHERE seq IN (SELECT min(seq) FROM s_prompt GROUP BY hash)
ORDER BY seq
ON CONFLICT (project_id, content_hash) DO NOTHING
"""

PROMPT_MAP_SQL = """
CREATE TEMPORARY TABLE m_prompt ON COMMIT DROP AS
SELECT p.id, p.content_hash AS hash FROM curation_prompt p
WHERE p.project_id = %(project)s AND p.content_hash IN (SELECT hash FROM s_prompt)
"""

RESPONSES_SQL = """
INSERT INTO curation_response (prompt_id, text, content_hash, producer, producer_kind, params, conditioning,
                               n_chars, n_tokens, finish_reason, created_at)
SELECT prompt_id, text, hash, producer, producer_kind, params, conditioning, n_chars, n_tokens, finish_reason, now()
FROM (SELECT m.id AS prompt_id, s.*
      FROM s_response s JOIN m_prompt m ON m.hash = s.prompt_hash
      WHERE (s.seq, s.rseq) IN (SELECT DISTINCT ON (prompt_hash, hash) seq, rseq FROM s_response
                                ORDER BY prompt_hash, hash, seq, rseq)) AS first
ORDER BY seq, rseq
ON CONFLICT (prompt_id, content_hash) DO NOTHING
"""

PAIRS_SQL = """
WITH inserted AS (
    INSERT INTO curation_pair (project_id, prompt_id, response_a_id, response_b_id, content_hash, external_id, origin,
                               metadata, flags, ensemble_mu, ensemble_sigma, tier, status, gold_verdict, gold_source,
                               consensus_verdict, consensus_strength, label_verdict, label_source, n_human_judgments,
                               n_active_leases, created_at, updated_at)
    SELECT %(project)s, m.id, ra.id, rb.id, s.hash, s.external_id, s.origin, s.metadata, s.flags, s.ensemble_mu,
           s.ensemble_sigma, s.tier, s.status, s.gold_verdict, s.gold_source, s.consensus_verdict, s.consensus_strength,
           s.label_verdict, s.label_source, s.n_human_judgments, 0, now(), now()
    FROM (SELECT * FROM s_pair WHERE (seq, pseq) IN (SELECT DISTINCT ON (hash) seq, pseq FROM s_pair
                                                     ORDER BY hash, seq, pseq)) AS s
    JOIN m_prompt m ON m.hash = s.prompt_hash
    JOIN curation_response ra ON ra.prompt_id = m.id AND ra.content_hash = s.a_hash
    JOIN curation_response rb ON rb.prompt_id = m.id AND rb.content_hash = s.b_hash
    ORDER BY s.seq, s.pseq
    ON CONFLICT (project_id, content_hash) DO NOTHING
    RETURNING id, content_hash
)
INSERT INTO t_new_pair SELECT id, content_hash FROM inserted
"""

# Each staged pair occurrence → the stored pair, and whether the stored pair has the
# record's sides the other way round (its labels are then negated).
PAIR_MAP_SQL = """
CREATE TEMPORARY TABLE m_pair ON COMMIT DROP AS
SELECT s.seq, s.pseq, p.id AS pair_id, ra.content_hash <> s.a_hash AS flipped
FROM s_pair s
JOIN curation_pair p ON p.project_id = %(project)s AND p.content_hash = s.hash
JOIN curation_response ra ON ra.id = p.response_a_id
"""

ANNOTATORS_SQL = """
INSERT INTO curation_annotator (name, source, created_at)
SELECT name, %(source)s, now()
FROM (SELECT annotator AS name, min(seq::bigint * 1000000 + pseq * 1000 + lseq) AS first FROM s_human GROUP BY annotator) AS a
ORDER BY first
ON CONFLICT (name) DO NOTHING
"""

HUMAN_SQL = """
WITH inserted AS (
    INSERT INTO curation_judgment (project_id, pair_id, annotator_id, is_human, verdict, strength_known, raw_value,
                                   raw_scale, rationale, aspects, checklist_answers, shown_order, mode, time_spent_ms,
                                   is_revision, revises_id, context, used_assistance, flags, length_rule_applied,
                                   parse_ok, runs, created_at)
    SELECT %(project)s, h.pair_id, h.annotator_id, true,
           CASE WHEN h.flipped THEN -h.verdict ELSE h.verdict END, h.strength_known, h.raw_value, h.raw_scale,
           h.rationale, CASE WHEN h.flipped THEN h.aspects_flipped ELSE h.aspects END, h.checklist_answers,
           CASE WHEN NOT h.flipped THEN h.shown_order WHEN h.shown_order = 'ab' THEN 'ba'
                WHEN h.shown_order = 'ba' THEN 'ab' ELSE '' END,
           h.mode, h.time_spent_ms, h.is_revision, {revises}, h.context, h.used_assistance, h.flags, false, true, '[]',
           now()
    FROM (SELECT DISTINCT ON (m.pair_id, a.id) s.*, m.pair_id, m.flipped, a.id AS annotator_id
          FROM s_human s JOIN m_pair m USING (seq, pseq) JOIN curation_annotator a ON a.name = s.annotator
          WHERE s.is_revision = {revision}
          ORDER BY m.pair_id, a.id, s.seq, s.pseq, s.lseq) AS h
    {join}
    ORDER BY h.seq, h.pseq, h.lseq
    ON CONFLICT (pair_id, annotator_id, is_revision) WHERE annotator_id IS NOT NULL DO NOTHING
    RETURNING pair_id
)
INSERT INTO t_touched SELECT pair_id FROM inserted
"""
HUMAN_REVISES_JOIN = (
    "LEFT JOIN curation_judgment o ON o.pair_id = h.pair_id AND o.annotator_id = h.annotator_id "
    "AND NOT o.is_revision"
)

AI_SQL = """
WITH inserted AS (
    INSERT INTO curation_judgment (project_id, pair_id, judge_config_id, is_human, verdict, strength_known, raw_value,
                                   raw_scale, rationale, confidence, parse_ok, aspects, runs, flags,
                                   position_consistent, length_rule_applied, verdict_before_length_rule,
                                   expected_verdict, checklist_answers, context, mode, shown_order, is_revision,
                                   used_assistance, created_at)
    SELECT %(project)s, h.pair_id, h.judge_id, false,
           CASE WHEN h.flipped THEN -h.verdict ELSE h.verdict END, h.strength_known, h.raw_value, h.raw_scale,
           h.rationale, h.confidence, h.parse_ok, CASE WHEN h.flipped THEN h.aspects_flipped ELSE h.aspects END,
           h.runs, h.flags, h.position_consistent, h.length_rule_applied,
           CASE WHEN h.flipped THEN -h.verdict_before_length_rule ELSE h.verdict_before_length_rule END,
           CASE WHEN h.flipped THEN -h.expected_verdict ELSE h.expected_verdict END,
           h.checklist_answers, h.context, 'imported', '', false, false, now()
    FROM (SELECT DISTINCT ON (m.pair_id, s.judge_id) s.*, m.pair_id, m.flipped
          FROM s_ai s JOIN m_pair m USING (seq, pseq)
          ORDER BY m.pair_id, s.judge_id, s.seq, s.pseq, s.lseq) AS h
    ORDER BY h.seq, h.pseq, h.lseq
    ON CONFLICT (pair_id, judge_config_id) WHERE judge_config_id IS NOT NULL DO NOTHING
    RETURNING pair_id
)
INSERT INTO t_touched SELECT pair_id FROM inserted
"""

ADJUDICATIONS_SQL = """
WITH inserted AS (
    INSERT INTO curation_adjudication (project_id, pair_id, reviewer_id, verdict, note, source, source_detail,
                                       created_at)
    SELECT %(project)s, h.pair_id, h.reviewer_id, h.verdict, h.note, h.source, h.source_detail, now()
    FROM (SELECT DISTINCT ON (m.pair_id, v.verdict, s.source, s.source_detail, s.note)
                 s.seq, s.pseq, s.lseq, s.source, s.note, s.source_detail, s.reviewer_id, m.pair_id, v.verdict
          FROM s_adjudication s JOIN m_pair m USING (seq, pseq),
               LATERAL (SELECT CASE WHEN m.flipped THEN -s.verdict ELSE s.verdict END AS verdict) AS v
          ORDER BY m.pair_id, v.verdict, s.source, s.source_detail, s.note, s.seq, s.pseq, s.lseq) AS h
    WHERE NOT EXISTS (SELECT 1 FROM curation_adjudication e
                      WHERE e.pair_id = h.pair_id AND e.verdict = h.verdict AND e.source = h.source
                        AND e.source_detail = h.source_detail AND e.note = h.note)
    ORDER BY h.seq, h.pseq, h.lseq
    RETURNING pair_id
)
INSERT INTO t_touched SELECT pair_id FROM inserted
"""

SCORES_SQL = """
INSERT INTO curation_score (project_id, response_id, judge_config_id, aspect, value, expected, rationale, parse_ok,
                            probabilities, details, created_at)
SELECT %(project)s, response_id, judge_id, aspect, value, expected, rationale, value IS NOT NULL, '[]', '{}', now()
FROM (SELECT DISTINCT ON (r.id, s.judge_id, s.aspect) s.*, r.id AS response_id
      FROM s_score s JOIN m_prompt m ON m.hash = s.prompt_hash
      JOIN curation_response r ON r.prompt_id = m.id AND r.content_hash = s.response_hash
      ORDER BY r.id, s.judge_id, s.aspect, s.seq, s.sseq) AS first
ORDER BY seq, sseq
ON CONFLICT (response_id, judge_config_id, aspect) DO NOTHING
"""

RUBRICS_SQL = """
INSERT INTO curation_rubric (project_id, prompt_id, kind, version, items, text, origin, task_type, created_at)
SELECT %(project)s, prompt_id, kind, version, items, text, origin, task_type, now()
FROM (SELECT DISTINCT ON (m.id, s.kind, s.version) s.*, m.id AS prompt_id
      FROM s_rubric s JOIN m_prompt m ON m.hash = s.prompt_hash
      ORDER BY m.id, s.kind, s.version, s.seq, s.lseq) AS first
ORDER BY seq, lseq
ON CONFLICT (prompt_id, kind, version) WHERE prompt_id IS NOT NULL DO NOTHING
"""

# Touched pairs whose state was not computed while staging: pairs that existed
# before, and new pairs given by more than one record.
REFRESH_SQL = """
SELECT DISTINCT t.pair_id FROM t_touched t
LEFT JOIN t_new_pair n ON n.id = t.pair_id
LEFT JOIN (SELECT hash FROM s_pair GROUP BY hash HAVING count(*) > 1) AS d ON d.hash = n.hash
WHERE n.id IS NULL OR d.hash IS NOT NULL
"""
