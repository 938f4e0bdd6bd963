"""A large, consistent synthetic project for the scale benchmarks, loaded fast on PostgreSQL.

    python -m bench.synthetic [--pairs 1000000] [--project bench-1m] [--seed 7] [--replace]

What it creates (at 1,000,000 pairs): 200 annotators (app users, password
``synthetic``, members with the annotator role) and a reviewer (``SLUG-reviewer``),
four AI JudgeConfigs (pairwise and rubric judges on two models, both shown orders),
500,000 prompts in 30 categories, three responses per prompt, two pairs per prompt,
and exactly 3,000,000 judgments: 2,000,000 human (on average two per pair, from 200
annotators, never twice the same annotator on a pair, with a per-annotator accuracy
around a latent true verdict) and 1,000,000 AI (each with its two runs, confidence,
position consistency and parse_ok as ``generation.methods.judge`` stores them). Every
human judgment has its submitted queue Assignment. 2% of pairs carry an imported
expert label (gold), and the reviewer has decided part of the pairs that reached the
overlap without consensus.

Consistency with the app: the tier, label, consensus and status of each pair are
computed by ``curation.consensus.pair_state`` itself, the AI swap combination by
``generation.judges.verdicts.combine_runs`` and the length rule, routing scores by
``curation.routing.routing_score`` and the human budget is filled as
``services.pairs_route`` fills it. Rows are streamed with PostgreSQL COPY from Python
generators in one transaction; for a big load the secondary indexes and foreign keys
of the loaded tables are dropped first and rebuilt at the end (still in the same
transaction, so an interrupted load leaves nothing behind). VACUUM ANALYZE runs at the end.

Not created: LLMCall rows (``runs[].llm_call`` is null), checklists/rubrics, scores.
PostgreSQL only: it refuses SQLite.
"""
from __future__ import annotations

import argparse
import functools
import heapq
import json
import os
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bench.common import setup_django

PASSWORD = "synthetic"
N_ANNOTATORS = 200
CATEGORIES = [
    "coding", "math", "writing", "reasoning", "summarization", "extraction", "classification", "brainstorming",
    "open_qa", "closed_qa", "rewriting", "translation", "roleplay", "advice", "science", "history", "health",
    "finance", "law", "travel", "cooking", "sports", "music", "movies", "education", "career", "technology",
    "philosophy", "safety", "chit_chat",
]
# (name, method, model, accuracy, position-bias rate, scores options?)
JUDGES = [
    ("pairwise-checklist", "judge_pairwise", "Qwen/Qwen2.5-7B-Instruct", 0.80, 0.07, True),
    ("rubric-then-judge", "judge_rubric", "Qwen/Qwen2.5-7B-Instruct", 0.74, 0.10, True),
    ("pairwise-checklist-llama", "judge_pairwise", "meta-llama/Llama-3.1-8B-Instruct", 0.70, 0.14, False),
    ("rubric-then-judge-llama", "judge_rubric", "meta-llama/Llama-3.1-8B-Instruct", 0.64, 0.18, False),
]
JUDGE_WEIGHTS = [0.4, 0.3, 0.2, 0.1]  # which judges ran on a pair (coverage)
PRODUCERS = ["Qwen/Qwen2.5-7B-Instruct", "meta-llama/Llama-3.1-8B-Instruct", "mistralai/Mistral-7B-Instruct-v0.3"]
# Per block of ten pairs (shuffled): human judgments (overlap 3 reached on six,
# two on one in progress) and AI judges; exactly 2 and 1 per pair on average.
HUMANS_PATTERN = [3, 3, 3, 3, 3, 3, 2, 0, 0, 0]
AI_PATTERN = [2, 2, 2, 1, 1, 1, 1, 0, 0, 0]
TRUTH = [-2, -1, -1, -1, 0, 0, 1, 1, 1, 2]
GOLD_IMPORT_RATE = 0.02
REVIEW_RATE = 0.4  # of the pairs awaiting adjudication
DAYS = 84
WORDS = [
    "the", "a", "answer", "explains", "step", "first", "then", "because", "result", "value", "function", "list",
    "example", "data", "model", "user", "code", "check", "error", "simple", "clear", "short", "detailed", "note",
    "case", "input", "output", "number", "table", "text", "reason", "method", "final", "option", "best", "approach",
    "update", "test", "version", "query", "rule", "term", "point", "idea", "plan", "draft", "summary",
]
COPY_CHUNK = 20_000
BIG_LOAD = 50_000
RATIONALES = {-1: "Response 1 covers the request better.", 0: "Both responses are equally good.",
              1: "Response 2 covers the request better."}  # pairs from which indexes are dropped and rebuilt around the load


class NotPostgres(SystemExit):
    pass


def sign(value: float) -> int:
    return (value > 0) - (value < 0)


@dataclass
class Loaded:
    project_id: int
    slug: str
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


# --- COPY helpers -------------------------------------------------------------------------


def text(value: str) -> str:
    """A value in COPY's text format."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def cell(value) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    return str(value)


def copy_rows(cursor, table: str, columns: list[str], rows) -> int:
    """Stream ``rows`` (tuples of already formatted cells) into ``table`` with COPY."""
    n = 0
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with cursor.copy(sql) as copy:
        buffer: list[str] = []
        for row in rows:
            buffer.append("\t".join(row))
            n += 1
            if len(buffer) >= COPY_CHUNK:
                copy.write("\n".join(buffer) + "\n")
                buffer.clear()
        if buffer:
            copy.write("\n".join(buffer) + "\n")
    return n


def reserve_ids(cursor, table: str, n: int) -> int:
    """First of ``n`` consecutive ids taken from the table's sequence."""
    cursor.execute(f"SELECT pg_get_serial_sequence('{table}', 'id')")
    sequence = cursor.fetchone()[0]
    cursor.execute(f"SELECT nextval('{sequence}')")
    first = cursor.fetchone()[0]
    if n > 1:
        cursor.execute("SELECT setval(%s, %s)", [sequence, first + n - 1])
    return first


class Clock:
    """Timestamps as COPY text, cheap: one formatted string per hour, cached."""

    def __init__(self, start: datetime):
        self.start = start
        self.hours: dict[int, str] = {}

    def at(self, seconds: float) -> str:
        hour, rest = divmod(int(seconds * 1000), 3_600_000)
        base = self.hours.get(hour)
        if base is None:
            base = (self.start + timedelta(hours=hour)).strftime("%Y-%m-%d %H")
            self.hours[hour] = base
        minute, rest = divmod(rest, 60_000)
        return f"{base}:{minute:02d}:{rest // 1000:02d}.{rest % 1000:03d}+00"


# --- indexes and foreign keys around a big load -------------------------------------------


def drop_secondary(cursor, tables: list[str]) -> list[str]:
    """Drop the loaded tables' indexes (all but primary keys) and outgoing foreign keys;
    returns the statements that put them back."""
    restore: list[str] = []
    for table in tables:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
            [table],
        )
        for name, definition in cursor.fetchall():
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            restore.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        cursor.execute(
            """
            SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), c.conname, pg_get_constraintdef(c.oid)
            FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
            WHERE i.indrelid = %s::regclass AND NOT i.indisprimary
            """,
            [table],
        )
        for index, definition, constraint, constraint_definition in cursor.fetchall():
            if constraint:
                cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{constraint}"')
                restore.insert(0, f'ALTER TABLE {table} ADD CONSTRAINT "{constraint}" {constraint_definition}')
            else:
                cursor.execute(f"DROP INDEX {index}")
                restore.insert(0, definition)
    return restore  # indexes and unique constraints first, then foreign keys


# --- the load --------------------------------------------------------------------------------


def check_postgres() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        raise NotPostgres(
            f"bench.synthetic needs PostgreSQL (it loads with COPY); this database is {connection.vendor}. "
            "Set DATABASE_URL=postgres://USER@HOST:5432/DBNAME."
        )


def delete_project(project_id: int) -> None:
    """Raw deletes in dependency order (the ORM collector would load millions of ids)."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        for table in (
            "annotation_assignment", "curation_judgment_llm_calls", "curation_judgment", "curation_adjudication",
            "curation_autoacceptstratum", "curation_score", "curation_pair", "curation_rubric",
        ):
            where = "project_id = %s"
            if table == "curation_judgment_llm_calls":
                where = "judgment_id IN (SELECT id FROM curation_judgment WHERE project_id = %s)"
            cursor.execute(f"DELETE FROM {table} WHERE {where}", [project_id])
        cursor.execute(
            "DELETE FROM curation_response WHERE prompt_id IN (SELECT id FROM curation_prompt WHERE project_id = %s)",
            [project_id],
        )
        for table in ("curation_prompt", "curation_judgeconfig", "curation_membership"):
            cursor.execute(f"DELETE FROM {table} WHERE project_id = %s", [project_id])
        from curation.models import Project

        Project.objects.filter(pk=project_id).delete()


def people(slug: str, project):
    """Annotator users (one shared password hash), their Annotators, the reviewer, memberships."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from curation.models import Annotator, Membership

    User = get_user_model()
    password = make_password(PASSWORD)
    names = [f"{slug}-annotator-{k:03d}" for k in range(N_ANNOTATORS)]
    existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    User.objects.bulk_create([User(username=n, password=password) for n in names if n not in existing])
    users = {u.username: u for u in User.objects.filter(username__in=names)}
    have = set(Annotator.objects.filter(user__in=users.values()).values_list("user_id", flat=True))
    Annotator.objects.bulk_create(
        [Annotator(name=n, user=users[n], source="app") for n in names if users[n].pk not in have]
    )
    annotators = dict(Annotator.objects.filter(user__in=users.values()).values_list("user__username", "id"))
    reviewer, _ = User.objects.get_or_create(username=f"{slug}-reviewer", defaults={"password": password})
    Membership.objects.bulk_create(
        [Membership(project=project, user=users[n], role=Membership.Role.ANNOTATOR) for n in names]
        + [Membership(project=project, user=reviewer, role=Membership.Role.REVIEWER)]
    )
    return [annotators[n] for n in names], reviewer.pk


def judge_configs(project) -> list[int]:
    from curation.models import JudgeConfig
    from curation.services import params_hash

    ids = []
    for name, method, model, *_ in JUDGES:
        params = {"swap": True, "n_samples": 1, "max_new_tokens": 1024}
        if method == "judge_rubric":
            params = {"swap": True, "single_call": False, "max_new_tokens": 1024}
        ids.append(
            JudgeConfig.objects.create(
                project=project, name=name, kind="ai", method=method, backend="transformers", model=model,
                template_version="1", params=params, params_hash=params_hash(params),
            ).pk
        )
    return ids


class Corpus:
    """Random words drawn once; a text is a slice of them at a random word start
    (drawing every word of three million texts would dominate the load)."""

    def __init__(self, rng: random.Random, n_words: int = 200_000):
        words = [WORDS[int(rng.random() * len(WORDS))] for _ in range(n_words)]
        self.text = " ".join(words)
        self.starts = [0]
        for word in words[:-1]:
            self.starts.append(self.starts[-1] + len(word) + 1)
        self.limit = len(self.text) - 1000

    def words(self, rng: random.Random, n_chars: int) -> str:
        start = self.starts[int(rng.random() * (len(self.starts) // 2))]
        end = self.text.rfind(" ", start, start + n_chars)
        return self.text[start:end if end > start else start + n_chars]


def prompt_text(corpus: Corpus, rng: random.Random, i: int, category: str) -> str:
    return f"[{category}] Question {i}: {corpus.words(rng, 40 + int(rng.random() * 120))}?"


def response_text(corpus: Corpus, rng: random.Random, prompt_index: int, k: int, n_chars: int) -> str:
    return f"Answer {k} to question {prompt_index}: {corpus.words(rng, n_chars)}."


@functools.cache
def combined_runs(scores: bool, ab: int | None, ba: int | None, peak_ab: float, peak_ba: float):
    """The two runs of an AI judgment (as ``generation.methods.judge.run_dict`` stores
    them, in COPY text) and their swap combination by the real ``combine_runs``. Cached:
    the arguments take few distinct values (peaks in hundredths)."""
    from generation.judges.verdicts import RunVerdict, combine_runs

    runs, run_verdicts = [], []
    for order, stored, peak in (("AB", ab, peak_ab), ("BA", ba, peak_ba)):
        probabilities = None
        if scores:
            probabilities = [round((1 - peak) / 4, 4)] * 5
            probabilities[stored + 2] = peak
        as_shown = None if stored is None else (stored if order == "AB" else -stored)
        runs.append({
            "shown_order": order, "sample": 0, "verdict": stored, "verdict_as_shown": as_shown,
            "d": as_shown + 3 if as_shown is not None else None, "probabilities": probabilities,
            "rationale": RATIONALES[sign(as_shown or 0)], "checklist_answers": None, "parse_ok": stored is not None,
            "llm_call": None, "score_llm_call": None,
        })
        run_verdicts.append(RunVerdict(order, stored, tuple(probabilities) if probabilities else None))
    first_parsed = next((r for r in runs if r["parse_ok"]), None)
    rationale = first_parsed["rationale"] if first_parsed else ""
    return combine_runs(run_verdicts), rationale, text(json.dumps(runs))


class Generator:
    """Every row of the project, drawn from one seeded RNG per table."""

    def __init__(self, *, n_pairs: int, seed: int, project, annotators: list[int], reviewer_id: int,
                 judge_ids: list[int], first_prompt: int, first_response: int, first_pair: int):
        from curation.routing import routing_weights

        self.n_pairs, self.seed, self.project = n_pairs, seed, project
        self.annotators, self.reviewer_id, self.judge_ids = annotators, reviewer_id, judge_ids
        self.first_prompt, self.first_response, self.first_pair = first_prompt, first_response, first_pair
        self.n_prompts = (n_pairs + 1) // 2
        now = datetime.now(UTC).replace(microsecond=0)
        self.clock = Clock(now - timedelta(days=DAYS))
        self.weights = routing_weights(project.routing_weights)
        rng = random.Random(seed)
        self.skill = [rng.uniform(0.55, 0.92) for _ in annotators]
        # Category sizes fall off like real data: a few big categories, a long tail.
        self.category_weights = [1 / (k + 3) for k in range(len(CATEGORIES))]
        self.prompt_category: list[int] = []
        self.response_len: list[int] = []  # n_chars per response, in id order
        self.response_hash: list[str] = []
        self.prompt_hash: list[str] = []
        self.pairs: list[tuple] = []  # pair rows without routing status
        self.adjudications: list[tuple] = []
        self.counts = {"human": 0, "ai": 0}
        self.corpus = Corpus(random.Random(seed))

    # prompts and responses ------------------------------------------------------------------

    def prompts(self):
        from curation.hashing import prompt_hash

        rng = random.Random(self.seed * 1009 + 1)
        created = text(self.clock.at(0))
        categories = rng.choices(range(len(CATEGORIES)), weights=self.category_weights, k=self.n_prompts)
        for i in range(self.n_prompts):
            category = CATEGORIES[categories[i]]
            body = prompt_text(self.corpus, rng, i, category)
            digest = prompt_hash(body)
            self.prompt_category.append(categories[i])
            self.prompt_hash.append(digest)
            yield (str(self.first_prompt + i), str(self.project.pk), text(body), "\\N", digest, category, "bench-synthetic", "\\N",
                   f"synthetic-{i}", "{}", "\\N", created)

    def responses(self):
        from curation.hashing import response_hash

        rng = random.Random(self.seed * 1009 + 2)
        created = text(self.clock.at(60))
        params = json.dumps({"temperature": 0.7, "top_p": 1.0, "max_new_tokens": 512})
        for p in range(self.n_prompts):
            prompt_id = str(self.first_prompt + p)
            for k in range(3):
                body = response_text(self.corpus, rng, p, k, 40 + int(rng.random() * 700))
                digest = response_hash(body)
                self.response_len.append(len(body))
                self.response_hash.append(digest)
                yield (str(self.first_response + 3 * p + k), prompt_id, text(body), digest, PRODUCERS[k], "model", params, "{}", str(len(body)),
                       str(len(body) // 4), "stop", "\\N", "\\N", "\\N", created)

    # judgments and the pair states they lead to ----------------------------------------------

    def judgments(self):
        """Human and AI judgments, pair by pair; each pair's state is kept for ``pair_rows``."""
        from curation.hashing import pair_hash, seeded_coin

        rng = random.Random(self.seed * 1009 + 3)
        project = self.project
        quorum, silver = project.effective_quorum, project.silver_confidence
        humans_pattern, ai_pattern = list(HUMANS_PATTERN), list(AI_PATTERN)
        n_annotators = len(self.annotators)
        pid = str(project.pk)
        for i in range(self.n_pairs):
            if i % 10 == 0:
                rng.shuffle(humans_pattern)
                rng.shuffle(ai_pattern)
            p, k = divmod(i, 2)
            first, second = self.first_response + 3 * p, self.first_response + 3 * p + 1 + k
            swap = seeded_coin(self.seed, "pair", i)
            a, b = (second, first) if swap else (first, second)
            len_a = self.response_len[a - self.first_response]
            len_b = self.response_len[b - self.first_response]
            truth = TRUTH[int(rng.random() * len(TRUTH))]
            if truth and rng.random() < 0.3:  # a mild length bias in the data: the better side longer
                truth = sign(len_b - len_a) or truth
            pair_id = self.first_pair + i
            gold_import = rng.random() < GOLD_IMPORT_RATE
            ai_records = []
            if ai_pattern[i % 10]:
                keys = sorted(range(len(self.judge_ids)), key=lambda j: -rng.random() ** (1 / JUDGE_WEIGHTS[j]))
                for j in sorted(keys[: ai_pattern[i % 10]]):
                    row, record = self.ai_judgment(rng, pid, pair_id, j, truth, len_a, len_b)
                    ai_records.append(record)
                    self.counts["ai"] += 1
                    yield row
            human_records = []
            n_human = humans_pattern[i % 10]
            if n_human:
                day0 = rng.uniform(7, DAYS - 3) * 86400  # the last one at least a day ago
                for slot, a_index in enumerate(rng.sample(range(n_annotators), n_human)):
                    verdict = self.human_verdict(rng, truth, self.skill[a_index])
                    human_records.append(verdict)
                    seconds = day0 + slot * rng.uniform(60, 86400)
                    self.counts["human"] += 1
                    yield self.human_row(rng, pid, pair_id, self.annotators[a_index], verdict, seconds)
            humans, ai = tuple(human_records), tuple(ai_records)
            adjudication = None
            state, evidence = pair_outcome(humans, ai, None, quorum, silver)
            if gold_import:
                adjudication = (truth or rng.choice((-1, 1)), "import", "expert label")
            elif n_human >= quorum and state.consensus_verdict is None and rng.random() < REVIEW_RATE:
                adjudication = (truth, "review", "")
            if adjudication:
                state, evidence = pair_outcome(humans, ai, adjudication[:2], quorum, silver)
                self.adjudications.append((pair_id, *adjudication))
            content = pair_hash(self.prompt_hash[p], self.response_hash[first - self.first_response],
                                self.response_hash[second - self.first_response])
            self.pairs.append((pair_id, self.first_prompt + p, a, b, content, i, state, adjudication, evidence,
                               self.prompt_category[p]))

    def human_verdict(self, rng: random.Random, truth: int, skill: float) -> int:
        if rng.random() < skill:
            verdict = truth
        elif rng.random() < 0.65:
            verdict = truth + rng.choice((-1, 1))
        else:
            verdict = rng.randint(-2, 2)
        verdict = max(-2, min(2, verdict))
        return verdict if self.project.verdict_scale == 5 else max(-1, min(1, verdict))

    def human_row(self, rng, pid, pair_id, annotator_id, verdict, seconds) -> tuple:
        """As ``annotation.services.assignment_submit`` → ``judgment_record_human`` writes it (blind mode)."""
        flags = '["both_bad"]' if rng.random() < 0.01 else "[]"
        return (
            pid, str(pair_id), str(annotator_id), "\\N", "t", str(verdict), "t", "", "", "\\N", "f", "\\N", "\\N",
            "\\N", "t", "", "{}", "{}", "[]", "\\N", "ab" if rng.random() < 0.5 else "ba", self.project.mode, "f",
            "\\N", str(int(rng.lognormvariate(10.5, 0.6))), "f", "", flags, "\\N", self.clock.at(seconds),
        )

    def ai_judgment(self, rng, pid, pair_id, j, truth, len_a, len_b):
        """Both shown orders, combined as ``generation.methods.judge.record_combined`` does."""
        from generation.judges.verdicts import apply_length_rule

        _, _, _, accuracy, bias, scores = JUDGES[j]
        right = rng.random() < accuracy
        base = truth if right else max(-2, min(2, truth + (-2, -1, 1, 2)[int(rng.random() * 4)]))
        ab = ba = base
        if rng.random() < bias:  # favours the side shown first in both orders
            ab = -1 if rng.random() < 0.5 else -2
            ba = -ab
        peak_ab = peak_ba = 0.0
        if scores:
            low, high = (0.75, 0.98) if right else (0.35, 0.8)
            peak_ab = round(low + rng.random() * (high - low), 2)
            peak_ba = round(low + rng.random() * (high - low), 2)
        elif rng.random() < 0.01:
            ab = ba = None  # the output did not parse in either order, even after the re-ask
        combination, rationale, runs = combined_runs(scores, ab, ba, peak_ab, peak_ba)
        verdict, applied = apply_length_rule(combination.verdict, "x" * len_a, "x" * len_b, self.project.length_rule_k)
        judge_id = self.judge_ids[j]
        row = (
            pid, str(pair_id), "\\N", str(judge_id), "f", cell(verdict), "t", "", "",
            cell(combination.verdict), cell(applied), cell(combination.confidence),
            cell(combination.expected_verdict), cell(combination.position_consistent), cell(combination.parse_ok),
            rationale, "{}", "{}", runs, "\\N", "", "", "f", "\\N", "\\N", "f", "", "[]", "\\N",
            self.clock.at((1 + rng.random() * 6) * 86400),
        )
        return row, (judge_id, verdict, combination.confidence, combination.position_consistent)

    # pairs, with routing as services.pairs_route leaves it ----------------------------------

    def routed_ids(self) -> set[int]:
        """Which candidates fill the human budget: pairs in progress keep their place, the
        best routing scores (then lowest ids) take the rest, as ``_fill_budget`` does."""
        weights = tuple(sorted(self.weights.items()))
        overlap, budget = self.project.overlap, self.project.human_budget
        gold = [0] * len(CATEGORIES)
        for row in self.pairs:
            if row[6].tier == "gold":
                gold[row[9]] += 1
        self.gold_per_category = gold
        in_progress, candidates = set(), []
        self.scores = {}
        for pair_id, *_, state, adjudication, evidence, category in self.pairs:
            score = pair_score(evidence, gold[category], weights)
            self.scores[pair_id] = score
            if state.tier == "unverified" and state.n_human_judgments < overlap:
                if state.n_human_judgments:
                    in_progress.add(pair_id)
                else:
                    candidates.append((score, -pair_id))
        if budget is None:
            return in_progress | {-negative for _, negative in candidates}
        best = heapq.nlargest(max(0, budget - len(in_progress)), candidates)
        return in_progress | {-negative for _, negative in best}

    def pair_rows(self):
        from curation.consensus import status_after_refresh

        routed = self.routed_ids()
        overlap = self.project.overlap
        pid = str(self.project.pk)
        created = self.clock.at(120)
        updated = self.clock.at(DAYS * 86400)
        for pair_id, prompt_id, a, b, content, i, state, adjudication, evidence, category in self.pairs:
            if state.tier in ("gold", "silver"):
                status = "accepted"
            elif state.n_human_judgments >= overlap:
                status = "open"  # awaits adjudication
            else:
                status = "routed" if pair_id in routed else "open"
            assert status == status_after_refresh(status, state.tier, n_human=state.n_human_judgments, overlap=overlap)
            yield (
                str(pair_id), pid, str(prompt_id), str(a), str(b), content, f"synthetic-{i}", "bench-synthetic", "{}", "\\N",
                state.tier, status, cell(adjudication[0] if adjudication else None),
                (adjudication[2] or adjudication[1]) if adjudication else "",
                cell(state.consensus_verdict), cell(state.consensus_strength), cell(state.label_verdict),
                state.label_source, cell(self.scores[pair_id]), "\\N", "\\N", "[]", str(state.n_human_judgments), "0",
                created, updated,
            )

    def adjudication_rows(self):
        pid = str(self.project.pk)
        imported = self.clock.at(30)
        late = self.clock.at(DAYS * 86400 - 3600)
        for pair_id, verdict, source, detail in self.adjudications:
            reviewer = "\\N" if source == "import" else str(self.reviewer_id)
            yield pid, str(pair_id), reviewer, str(verdict), "", source, detail, imported if source == "import" else late


@functools.cache
def pair_outcome(humans: tuple, ai: tuple, adjudication: tuple | None, quorum: int, min_confidence: float):
    """A pair's state by the real ``curation.consensus.pair_state``, and the AI evidence
    its routing score is computed from (as ``routing.pair_evidence`` aggregates it).
    ``humans`` are verdicts in order (majority consensus does not look at who), ``ai``
    (judge id, verdict, confidence, position consistent) tuples. Cached: few distinct inputs."""
    from curation.consensus import AIRecord, HumanRecord, pair_state
    from curation.routing import PairEvidence

    state = pair_state(
        humans=[HumanRecord(annotator_id=k, verdict=v) for k, v in enumerate(humans)],
        ai=[AIRecord(judge_config_id=j, verdict=v, kind="ai", confidence=c, position_consistent=pc)
            for j, v, c, pc in ai],
        adjudication=adjudication, quorum=quorum, min_confidence=min_confidence,
    )
    parsed = [(v, c, pc) for _, v, c, pc in ai if v is not None]
    evidence = PairEvidence(
        n_verdicts=len(parsed),
        mean_confidence=sum(c for _, c, _ in parsed) / len(parsed) if parsed else None,
        any_inconsistent=any(pc is False for *_, pc in parsed),
        n_a=sum(1 for v, *_ in parsed if v < 0),
        n_tie=sum(1 for v, *_ in parsed if v == 0),
        n_b=sum(1 for v, *_ in parsed if v > 0),
        mean_verdict=sum(v for v, *_ in parsed) / len(parsed) if parsed else None,
    )
    return state, evidence


@functools.cache
def pair_score(evidence, gold_in_category: int, weights: tuple) -> float:
    """``routing.routing_score`` of a pair (cached: evidence takes few distinct values)."""
    from dataclasses import replace

    from curation.routing import routing_score

    return routing_score(replace(evidence, gold_in_category=gold_in_category), dict(weights))


PROMPT_COLUMNS = ["id", "project_id", "text", "messages", "content_hash", "category", "origin", "parent_id", "external_id",
                  "metadata", "generation_job_id", "created_at"]
RESPONSE_COLUMNS = ["id", "prompt_id", "text", "content_hash", "producer", "producer_kind", "params", "conditioning",
                    "n_chars", "n_tokens", "finish_reason", "parent_response_id", "llm_call_id", "generation_job_id",
                    "created_at"]
JUDGMENT_COLUMNS = [
    "project_id", "pair_id", "annotator_id", "judge_config_id", "is_human", "verdict", "strength_known", "raw_value",
    "raw_scale", "verdict_before_length_rule", "length_rule_applied", "confidence", "expected_verdict",
    "position_consistent", "parse_ok", "rationale", "aspects", "checklist_answers", "runs", "rubric_id",
    "shown_order", "mode", "is_revision", "revises_id", "time_spent_ms", "used_assistance", "context", "flags",
    "generation_job_id", "created_at",
]
PAIR_COLUMNS = [
    "id", "project_id", "prompt_id", "response_a_id", "response_b_id", "content_hash", "external_id", "origin", "metadata",
    "generation_job_id", "tier", "status", "gold_verdict", "gold_source", "consensus_verdict", "consensus_strength",
    "label_verdict", "label_source", "routing_score", "ensemble_mu", "ensemble_sigma", "flags", "n_human_judgments",
    "n_active_leases", "created_at", "updated_at",
]
ADJUDICATION_COLUMNS = ["project_id", "pair_id", "reviewer_id", "verdict", "note", "source", "source_detail",
                        "created_at"]
ASSIGNMENTS_SQL = """
INSERT INTO annotation_assignment (project_id, pair_id, annotator_id, state, shown_order, is_gold_check, leased_at,
    lease_expires_at, submitted_at, skip_reason, reveal_outcome, judgment_id)
SELECT j.project_id, j.pair_id, j.annotator_id, 'submitted', j.shown_order, p.gold_source = 'expert label',
    j.created_at - make_interval(secs => j.time_spent_ms / 1000.0),
    j.created_at - make_interval(secs => j.time_spent_ms / 1000.0) + make_interval(mins => %(lease)s),
    j.created_at, '', '', j.id
FROM curation_judgment j JOIN curation_pair p ON p.id = j.pair_id
WHERE j.project_id = %(project)s AND j.is_human
"""
LOADED_TABLES = ["curation_prompt", "curation_response", "curation_pair", "curation_judgment",
                 "curation_adjudication", "annotation_assignment"]


def check_columns() -> None:
    """Every column of the real tables without a database default is written (schema drift guard)."""
    from django.db.models.fields import NOT_PROVIDED

    from annotation.models import Assignment
    from curation.models import Adjudication, Judgment, Pair, Prompt, Response

    for model, columns in ((Prompt, PROMPT_COLUMNS), (Response, RESPONSE_COLUMNS), (Judgment, JUDGMENT_COLUMNS),
                           (Pair, PAIR_COLUMNS), (Adjudication, ADJUDICATION_COLUMNS)):
        real = {f.column for f in model._meta.concrete_fields if f.column != "id"}
        # Nullable columns and those with a database default (the agreement counts'
        # markers) may be left out: rows loaded here start "not counted", as any bulk
        # writer's do, and are counted on the next read.
        required = {f.column for f in model._meta.concrete_fields
                    if f.column != "id" and not f.null and f.db_default is NOT_PROVIDED}
        written = set(columns) - {"id"}
        if not required <= written or not written <= real:
            raise RuntimeError(f"bench.synthetic is out of date for {model.__name__}: "
                               f"missing {sorted(required - written)}, unknown {sorted(written - real)}")
    real = {f.column for f in Assignment._meta.concrete_fields if f.column != "id"}
    written = ASSIGNMENTS_SQL.split("(", 1)[1].split(")", 1)[0].replace(",", " ").split()
    if real != set(written):
        raise RuntimeError("bench.synthetic is out of date for Assignment")


def load(n_pairs: int = 1_000_000, slug: str = "bench-1m", seed: int = 7, *, replace: bool = False,
         rebuild_indexes: bool | None = None, verbose: bool = False) -> Loaded:
    """Create the project ``slug`` with ``n_pairs`` pairs (see the module docstring).

    ``rebuild_indexes`` (default: from 50,000 pairs) drops the loaded tables' secondary
    indexes and foreign keys during the COPY and rebuilds them after, in the same
    transaction. Returns the project id, row counts and seconds per table.
    """
    from django.db import connection, transaction

    from curation.models import Project

    check_postgres()
    check_columns()
    if n_pairs < 1:
        raise ValueError("n_pairs must be at least 1")
    existing = Project.objects.filter(slug=slug).first()
    if existing is not None:
        if not replace:
            raise SystemExit(f"A project with slug {slug!r} exists already; pass --replace to delete and reload it.")
        delete_project(existing.pk)
    if rebuild_indexes is None:
        rebuild_indexes = n_pairs >= BIG_LOAD
    result = Loaded(project_id=0, slug=slug)
    started = time.monotonic()

    def step(name: str, function, *args):
        t0 = time.monotonic()
        n = function(*args)
        result.seconds[name] = time.monotonic() - t0
        if n is not None:
            result.counts[name] = n
        if verbose:
            count = f"{n:>10,} rows " if n is not None else " " * 16
            print(f"  {name:<24}{count}{result.seconds[name]:8.1f} s", flush=True)
        return n

    with transaction.atomic(), connection.cursor() as wrapper:
        cursor = wrapper.cursor  # psycopg's own, for COPY
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
        cursor.execute("SET LOCAL work_mem = '256MB'")
        holder: dict = {}

        def setup():
            project = Project.objects.create(
                name=f"Synthetic benchmark ({n_pairs:,} pairs)", slug=slug, overlap=3, human_budget=max(1, n_pairs // 5),
                description="Synthetic data from bench.synthetic for the scale benchmarks.",
            )
            annotators, reviewer_id = people(slug, project)
            holder["generator"] = Generator(
                n_pairs=n_pairs, seed=seed, project=project, annotators=annotators, reviewer_id=reviewer_id,
                judge_ids=judge_configs(project), first_prompt=reserve_ids(cursor, "curation_prompt", (n_pairs + 1) // 2),
                first_response=reserve_ids(cursor, "curation_response", 3 * ((n_pairs + 1) // 2)),
                first_pair=reserve_ids(cursor, "curation_pair", n_pairs),
            )
            result.project_id = project.pk

        step("project, users, judges", setup)
        generator: Generator = holder["generator"]
        restore: list[str] = []
        if rebuild_indexes:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending checks may remain on altered tables
            restore = drop_secondary(cursor, LOADED_TABLES)
        # Judgments are written before their pairs (a pair's state comes from its judgments):
        # the foreign keys (all deferrable) are checked at commit, or rebuilt after the load.
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        step("curation_prompt", copy_rows, cursor, "curation_prompt", PROMPT_COLUMNS, generator.prompts())
        step("curation_response", copy_rows, cursor, "curation_response", RESPONSE_COLUMNS, generator.responses())
        step("curation_judgment", copy_rows, cursor, "curation_judgment", JUDGMENT_COLUMNS, generator.judgments())
        step("curation_pair", copy_rows, cursor, "curation_pair", PAIR_COLUMNS, generator.pair_rows())
        step("curation_adjudication", copy_rows, cursor, "curation_adjudication", ADJUDICATION_COLUMNS,
             generator.adjudication_rows())

        def assignments():
            cursor.execute(ASSIGNMENTS_SQL, {"project": generator.project.pk, "lease": generator.project.lease_minutes})
            return cursor.rowcount

        step("annotation_assignment", assignments)
        if restore:
            def rebuild():
                for statement in restore:
                    cursor.execute(statement)

            step("indexes and foreign keys", rebuild)
    result.counts["human judgments"] = generator.counts["human"]
    result.counts["ai judgments"] = generator.counts["ai"]

    # What autovacuum (off on the benchmark machine) does after a bulk load: statistics
    # for the planner and the visibility map that index-only scans need (an annotator's
    # "done" count reads 10,000 heap rows without it). Inside a transaction (tests),
    # where VACUUM cannot run, ANALYZE only.
    vacuum = not connection.in_atomic_block

    def analyze():
        with connection.cursor() as cursor:
            for table in LOADED_TABLES:
                cursor.execute(f"VACUUM (ANALYZE) {table}" if vacuum else f"ANALYZE {table}")

    step("VACUUM ANALYZE" if vacuum else "ANALYZE", analyze)
    result.seconds["total"] = time.monotonic() - started
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=1_000_000, help="pairs (three judgments each on average)")
    parser.add_argument("--project", default="bench-1m", help="slug of the project to create")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--replace", action="store_true", help="delete a project with that slug first")
    args = parser.parse_args(argv)
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    setup_django()
    try:
        check_postgres()
    except NotPostgres as error:
        print(error, file=sys.stderr)
        raise SystemExit(2)
    print(f"Loading {args.pairs:,} pairs into project {args.project!r}")
    load_before = os.getloadavg()[0]
    result = load(args.pairs, args.project, args.seed, replace=args.replace, verbose=True)
    print(f"  {'total':<24}{'':16}{result.seconds['total']:8.1f} s")
    # On a shared machine the figures depend on what else runs: say how busy it was.
    print(f"  load average (1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs")
    print(f"  {result.counts['curation_judgment']:,} judgments: {result.counts['human judgments']:,} human, "
          f"{result.counts['ai judgments']:,} AI; project id {result.project_id}")


if __name__ == "__main__":
    main()
