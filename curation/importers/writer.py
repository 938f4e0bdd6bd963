"""Writes normalised records to the database in batches, idempotently.

Every row has a natural key (content hashes, one judgment per annotator or judge per
pair), so a batch looks up what exists, inserts what is missing and never makes a
second copy. A fixed number of queries runs per batch whatever its size.
"""
from collections import Counter
from collections.abc import Iterable

from django.contrib.auth import get_user_model

from curation.hashing import pair_hash, prompt_hash, response_hash
from curation.models import (
    Adjudication,
    Annotator,
    JudgeConfig,
    Judgment,
    Pair,
    Project,
    Prompt,
    Response,
    Rubric,
    Score,
)

from .records import AILabel, HumanLabel, Record, ResponseRecord

INSERT_BATCH = 1000


def _chunks(values: list, size: int = 5000) -> Iterable[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _negate(value):
    return None if value is None else -value


class BatchWriter:
    def __init__(self, project: Project, *, origin: str):
        self.project = project
        self.origin = origin
        self.counts: Counter = Counter()
        self.annotators: dict[str, int] = {}
        self.judges: dict[str, int] = {}
        self.reviewers: dict[str, int | None] = {}
        self.touched_pairs: set[int] = set()

    # -- lookups --------------------------------------------------------------------

    def _annotator_ids(self, names: set[str]) -> None:
        missing = [n for n in names if n not in self.annotators]
        if not missing:
            return
        Annotator.objects.bulk_create(
            [Annotator(name=n, source=f"import:{self.origin}") for n in missing], ignore_conflicts=True
        )
        for name, pk in Annotator.objects.filter(name__in=missing).values_list("name", "id"):
            self.annotators[name] = pk

    def _judge_ids(self, labels: dict[str, AILabel]) -> None:
        missing = {n: label for n, label in labels.items() if n not in self.judges}
        if not missing:
            return
        JudgeConfig.objects.bulk_create(
            [
                JudgeConfig(
                    project=self.project,
                    name=name,
                    kind=label.kind,
                    method="construction" if label.kind == "construction" else label.method,
                    backend=label.backend or "import",
                    model=label.model,
                    template_version=label.template_version,
                    params=label.params or {"imported_from": self.origin},
                )
                for name, label in missing.items()
            ],
            ignore_conflicts=True,
        )
        rows = JudgeConfig.objects.filter(project=self.project, name__in=list(missing)).values_list("name", "id")
        self.judges.update(dict(rows))

    def _reviewer_ids(self, names: set[str]) -> None:
        missing = [n for n in names if n not in self.reviewers]
        if not missing:
            return
        found = dict(get_user_model().objects.filter(username__in=missing).values_list("username", "id"))
        for name in missing:
            self.reviewers[name] = found.get(name)

    # -- the batch ------------------------------------------------------------------

    def write(self, records: list[Record]) -> None:
        project = self.project
        # Prompts, by content hash.
        prompt_rows: dict[str, Record] = {}
        record_prompt_hash: list[str] = []
        for record in records:
            key = prompt_hash(record.prompt_text, record.prompt_messages)
            record_prompt_hash.append(key)
            prompt_rows.setdefault(key, record)
        prompt_ids = self._existing_prompts(list(prompt_rows))
        new_prompts = [
            Prompt(
                project=project,
                text=r.prompt_text,
                messages=r.prompt_messages,
                content_hash=key,
                category=r.category[:100],
                origin=(r.prompt_origin or self.origin)[:50],
                external_id=r.prompt_external_id[:200],
                metadata=r.prompt_metadata,
            )
            for key, r in prompt_rows.items()
            if key not in prompt_ids
        ]
        if new_prompts:
            Prompt.objects.bulk_create(new_prompts, batch_size=INSERT_BATCH, ignore_conflicts=True)
            self.counts["prompts_created"] += len(new_prompts)
            prompt_ids.update(self._existing_prompts([p.content_hash for p in new_prompts]))
        self.counts["prompts_existing"] += len(prompt_rows) - len(new_prompts)

        # Responses, by (prompt, normalised text hash).
        wanted: dict[tuple[int, str], ResponseRecord] = {}
        record_response_keys: list[list[tuple[int, str]]] = []
        for record, key in zip(records, record_prompt_hash):
            pid = prompt_ids[key]
            keys = []
            for response in record.responses:
                rkey = (pid, response_hash(response.text))
                keys.append(rkey)
                wanted.setdefault(rkey, response)
            record_response_keys.append(keys)
        response_ids = self._existing_responses(list(wanted))
        new_responses = [
            Response(
                prompt_id=pid,
                text=response.text,
                content_hash=rhash,
                producer=response.producer[:300],
                producer_kind=response.producer_kind,
                params=response.params,
                conditioning=response.conditioning,
                n_tokens=response.n_tokens,
                finish_reason=response.finish_reason,
                n_chars=len(response.text),
            )
            for (pid, rhash), response in wanted.items()
            if (pid, rhash) not in response_ids
        ]
        if new_responses:
            Response.objects.bulk_create(new_responses, batch_size=INSERT_BATCH, ignore_conflicts=True)
            self.counts["responses_created"] += len(new_responses)
            response_ids.update(self._existing_responses([(r.prompt_id, r.content_hash) for r in new_responses]))

        # Pairs, by side-independent content hash.
        pair_specs = []  # (record, pair record, pair hash, a_id, b_id)
        wanted_pairs: dict[str, tuple] = {}
        for record, key, rkeys in zip(records, record_prompt_hash, record_response_keys):
            for pr in record.pairs:
                a_key, b_key = rkeys[pr.a], rkeys[pr.b]
                phash = pair_hash(key, a_key[1], b_key[1])
                a_id, b_id = response_ids[a_key], response_ids[b_key]
                pair_specs.append((record, pr, phash, a_id, b_id))
                wanted_pairs.setdefault(phash, (prompt_ids[key], a_id, b_id, pr))
        pair_rows = self._existing_pairs(list(wanted_pairs))
        new_pairs = [
            Pair(
                project=project,
                prompt_id=pid,
                response_a_id=a_id,
                response_b_id=b_id,
                content_hash=phash,
                external_id=pr.external_id[:200],
                origin=(pr.origin or self.origin)[:50],
                metadata=pr.metadata,
                flags=pr.flags,
                ensemble_mu=pr.ensemble_mu,
                ensemble_sigma=pr.ensemble_sigma,
            )
            for phash, (pid, a_id, b_id, pr) in wanted_pairs.items()
            if phash not in pair_rows
        ]
        if new_pairs:
            Pair.objects.bulk_create(new_pairs, batch_size=INSERT_BATCH, ignore_conflicts=True)
            self.counts["pairs_created"] += len(new_pairs)
            pair_rows.update(self._existing_pairs([p.content_hash for p in new_pairs]))
        self.counts["pairs_existing"] += len(pair_specs) - len(new_pairs)

        # Labels, re-oriented when the stored pair has the sides the other way round.
        humans: list[tuple[int, HumanLabel, bool]] = []
        ais: list[tuple[int, AILabel, bool]] = []
        adjudications = []
        for record, pr, phash, a_id, _b_id in pair_specs:
            pair_id, stored_a = pair_rows[phash]
            flipped = stored_a != a_id
            humans.extend((pair_id, label, flipped) for label in pr.human)
            ais.extend((pair_id, label, flipped) for label in pr.ai)
            adjudications.extend((pair_id, label, flipped) for label in pr.adjudications)
        self._write_human(humans)
        self._write_ai(ais)
        self._write_adjudications(adjudications)
        self._write_scores(records, record_response_keys, response_ids)
        self._write_rubrics(records, record_prompt_hash, prompt_ids)
        for record in records:
            for reason in record.skipped:
                self.counts[f"skipped ({reason})"] += 1

    # -- existing rows ----------------------------------------------------------------

    def _existing_prompts(self, hashes: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(hashes):
            found.update(
                Prompt.objects.filter(project=self.project, content_hash__in=chunk).values_list("content_hash", "id")
            )
        return found

    def _existing_responses(self, keys: list[tuple[int, str]]) -> dict[tuple[int, str], int]:
        found: dict[tuple[int, str], int] = {}
        wanted = set(keys)
        for chunk in _chunks(keys):
            rows = Response.objects.filter(
                prompt_id__in={k[0] for k in chunk}, content_hash__in={k[1] for k in chunk}
            ).values_list("prompt_id", "content_hash", "id")
            for pid, rhash, rid in rows:
                if (pid, rhash) in wanted:
                    found[(pid, rhash)] = rid
        return found

    def _existing_pairs(self, hashes: list[str]) -> dict[str, tuple[int, int]]:
        found: dict[str, tuple[int, int]] = {}
        for chunk in _chunks(hashes):
            rows = Pair.objects.filter(project=self.project, content_hash__in=chunk).values_list(
                "content_hash", "id", "response_a_id"
            )
            found.update({h: (pid, a) for h, pid, a in rows})
        return found

    # -- labels -----------------------------------------------------------------------

    def _write_human(self, items: list[tuple[int, HumanLabel, bool]]) -> None:
        if not items:
            return
        self._annotator_ids({label.annotator for _, label, _ in items})
        pair_ids = list({pid for pid, _, _ in items})
        existing = set()
        for chunk in _chunks(pair_ids):
            existing.update(
                Judgment.objects.filter(pair_id__in=chunk, annotator__isnull=False).values_list(
                    "pair_id", "annotator_id", "is_revision"
                )
            )
        rows = []
        for pair_id, label, flipped in items:
            key = (pair_id, self.annotators[label.annotator], label.is_revision)
            if key in existing:
                self.counts["human_judgments_existing"] += 1
                continue
            existing.add(key)
            verdict = _negate(label.verdict) if flipped else label.verdict
            aspects = {k: -v for k, v in label.aspects.items()} if flipped else label.aspects
            shown = {"ab": "ba", "ba": "ab"}.get(label.shown_order, "") if flipped else label.shown_order
            rows.append(
                Judgment(
                    project=self.project,
                    pair_id=pair_id,
                    annotator_id=key[1],
                    is_human=True,
                    verdict=verdict,
                    strength_known=label.strength_known,
                    raw_value=label.raw_value,
                    raw_scale=label.raw_scale,
                    rationale=label.rationale,
                    aspects=aspects,
                    checklist_answers=label.checklist_answers,
                    shown_order=shown,
                    mode=label.mode,
                    time_spent_ms=label.time_spent_ms,
                    is_revision=label.is_revision,
                    context=label.context,
                    used_assistance=label.used_assistance,
                    flags=label.flags,
                )
            )
            self.touched_pairs.add(pair_id)
        firsts = [row for row in rows if not row.is_revision]
        revisions = [row for row in rows if row.is_revision]
        Judgment.objects.bulk_create(firsts, batch_size=INSERT_BATCH)
        if revisions:
            revised = Judgment.objects.filter(
                pair_id__in={row.pair_id for row in revisions},
                annotator_id__in={row.annotator_id for row in revisions},
                is_revision=False,
            ).values_list("pair_id", "annotator_id", "id")
            originals = {(pair_id, annotator_id): pk for pair_id, annotator_id, pk in revised}
            for row in revisions:
                row.revises_id = originals.get((row.pair_id, row.annotator_id))
            Judgment.objects.bulk_create(revisions, batch_size=INSERT_BATCH)
        self.counts["human_judgments_created"] += len(rows)

    def _write_ai(self, items: list[tuple[int, AILabel, bool]]) -> None:
        if not items:
            return
        labels: dict[str, AILabel] = {}
        for _, label, _ in items:
            labels.setdefault(label.judge, label)  # a new judge config is made from its first label
        self._judge_ids(labels)
        pair_ids = list({pid for pid, _, _ in items})
        existing = set()
        for chunk in _chunks(pair_ids):
            existing.update(
                Judgment.objects.filter(pair_id__in=chunk, judge_config__isnull=False).values_list(
                    "pair_id", "judge_config_id"
                )
            )
        rows = []
        for pair_id, label, flipped in items:
            key = (pair_id, self.judges[label.judge])
            if key in existing:
                self.counts["ai_judgments_existing"] += 1
                continue
            existing.add(key)
            rows.append(
                Judgment(
                    project=self.project,
                    pair_id=pair_id,
                    judge_config_id=key[1],
                    is_human=False,
                    verdict=_negate(label.verdict) if flipped else label.verdict,
                    strength_known=label.strength_known,
                    raw_value=label.raw_value,
                    raw_scale=label.raw_scale,
                    rationale=label.rationale,
                    confidence=label.confidence,
                    parse_ok=label.parse_ok,
                    aspects={k: -v for k, v in label.aspects.items()
                             if isinstance(v, (int, float))} if flipped else label.aspects,
                    runs=label.runs,
                    flags=label.flags,
                    position_consistent=label.position_consistent,
                    length_rule_applied=label.length_rule_applied,
                    verdict_before_length_rule=(
                        _negate(label.verdict_before_length_rule) if flipped else label.verdict_before_length_rule
                    ),
                    expected_verdict=(
                        _negate(label.expected_verdict) if flipped else label.expected_verdict
                    ),
                    checklist_answers=label.checklist_answers,
                    context=label.context,
                    mode="imported",
                )
            )
            self.touched_pairs.add(pair_id)
        Judgment.objects.bulk_create(rows, batch_size=INSERT_BATCH)
        self.counts["ai_judgments_created"] += len(rows)

    def _write_adjudications(self, items) -> None:
        if not items:
            return
        self._reviewer_ids({label.reviewer for _, label, _ in items if label.reviewer})
        pair_ids = list({pid for pid, _, _ in items})
        existing = set()
        for chunk in _chunks(pair_ids):
            existing.update(
                Adjudication.objects.filter(pair_id__in=chunk).values_list(
                    "pair_id", "verdict", "source", "source_detail", "note"
                )
            )
        rows = []
        for pair_id, label, flipped in items:
            verdict = -label.verdict if flipped else label.verdict
            reviewer_id = self.reviewers.get(label.reviewer) if label.reviewer else None
            detail = label.source_detail or (f"reviewer {label.reviewer}" if label.reviewer and not reviewer_id else "")
            # Keyed on the detail as stored, so an unknown reviewer's label is found again on re-import.
            key = (pair_id, verdict, label.source, detail[:200], label.note)
            if key in existing:
                continue
            existing.add(key)
            rows.append(
                Adjudication(
                    project=self.project,
                    pair_id=pair_id,
                    reviewer_id=reviewer_id,
                    verdict=verdict,
                    note=label.note,
                    source=label.source,
                    source_detail=detail[:200],
                )
            )
            self.touched_pairs.add(pair_id)
        Adjudication.objects.bulk_create(rows, batch_size=INSERT_BATCH)
        self.counts["adjudications_created"] += len(rows)

    def _write_scores(self, records, record_response_keys, response_ids) -> None:
        items = []
        judge_labels = {}
        for record, rkeys in zip(records, record_response_keys):
            for score in record.scores:
                items.append((response_ids[rkeys[score.response]], score))
                judge_labels.setdefault(
                    score.judge, AILabel(judge=score.judge, verdict=None, method="rate_aspects")
                )
        if not items:
            return
        self._judge_ids(judge_labels)
        existing = set()
        for chunk in _chunks(list({rid for rid, _ in items})):
            existing.update(Score.objects.filter(response_id__in=chunk).values_list("response_id", "judge_config_id", "aspect"))
        rows = []
        for response_id, score in items:
            key = (response_id, self.judges[score.judge], score.aspect)
            if key in existing:
                continue
            existing.add(key)
            rows.append(
                Score(
                    project=self.project,
                    response_id=response_id,
                    judge_config_id=key[1],
                    aspect=score.aspect,
                    value=score.value,
                    expected=score.expected,
                    rationale=score.rationale,
                    parse_ok=score.value is not None,
                )
            )
        Score.objects.bulk_create(rows, batch_size=INSERT_BATCH)
        self.counts["scores_created"] += len(rows)

    def _write_rubrics(self, records, record_prompt_hash, prompt_ids) -> None:
        items = [
            (prompt_ids[key], rubric)
            for record, key in zip(records, record_prompt_hash)
            for rubric in record.rubrics
        ]
        if not items:
            return
        existing = set(
            Rubric.objects.filter(prompt_id__in={pid for pid, _ in items}).values_list("prompt_id", "kind", "version")
        )
        rows = []
        for prompt_id, rubric in items:
            key = (prompt_id, rubric.kind, rubric.version)
            if key in existing:
                continue
            existing.add(key)
            rows.append(
                Rubric(
                    project=self.project,
                    prompt_id=prompt_id,
                    kind=rubric.kind,
                    version=rubric.version,
                    items=rubric.items,
                    text=rubric.text,
                    origin=rubric.origin,
                    task_type=rubric.task_type,
                )
            )
        Rubric.objects.bulk_create(rows, batch_size=INSERT_BATCH)
        self.counts["rubrics_created"] += len(rows)
