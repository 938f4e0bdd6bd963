"""Export formats (methods.md §5): each a small writer that turns a selected pair into
rows with fixed columns. Selection, labels, agreement and the split are shared
(``selection``, ``run``); a writer only shapes rows and declares its columns.
"""
import hashlib
import itertools
import json
import operator
from collections.abc import Iterable

import pyarrow as pa

from curation.importers.formats import ULTRAFEEDBACK_ASPECTS, aspect_mean
from curation.models import Judgment

from .items import HELPSTEER2_STRENGTH, ExportItem, SkipPair, best_rationale, first_human_records, split_rationale
from .options import ExportError, ExportOptions
from .selection import Batch, Needs

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
MESSAGES = pa.list_(MESSAGE)
EXTRA_COLUMNS = [
    ("pair_id", pa.int64()),
    ("label_source", pa.string()),
    ("tier", pa.string()),
    ("agreement", pa.float64()),
]


def assistant(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


class FormatWriter:
    name = ""
    needs = Needs()
    split_names = {"train": "train", "test": "test"}
    # helpsteer2 keeps one file with a `split` column instead of one file per split.
    split_in_column = False

    def __init__(self, options: ExportOptions):
        self.options = options

    def columns(self) -> list[tuple[str, pa.DataType]]:
        raise NotImplementedError

    def rows(self, item: ExportItem, batch: Batch) -> Iterable[dict]:
        """The rows for one pair; raises SkipPair (counted) or ExportError (fatal)."""
        raise NotImplementedError

    def extra_columns(self) -> list[tuple[str, pa.DataType]]:
        return EXTRA_COLUMNS

    def schema(self, *, with_extras: bool) -> pa.Schema:
        taken = {name for name, _ in self.columns()}
        extras = [(n, t) for n, t in self.extra_columns() if n not in taken] if with_extras else []
        return pa.schema(self.columns() + extras)


class TrlWriter(FormatWriter):
    """TRL preference data: standard strings, or conversational message lists."""

    name = "trl"

    def __init__(self, options: ExportOptions):
        super().__init__(options)
        self.messages = options.conversational or options.implicit_prompt
        if options.with_rationale:
            self.needs = Needs(judgments=True, adjudications=True)

    def columns(self):
        side = MESSAGES if self.messages else pa.string()
        columns = [] if self.options.implicit_prompt else [("prompt", side)]
        columns += [("chosen", side), ("rejected", side)]
        if self.options.margin:
            columns.append(("margin", pa.float64()))
        if self.options.with_rationale:
            columns.append(("rationale", pa.string()))
        return columns

    def rows(self, item, batch):
        if self.options.implicit_prompt:
            row = {
                "chosen": item.conversation + assistant(item.chosen),
                "rejected": item.conversation + assistant(item.rejected),
            }
        elif self.messages:
            row = {"prompt": item.conversation, "chosen": assistant(item.chosen), "rejected": assistant(item.rejected)}
        else:
            if item.is_multi_turn:
                raise ExportError(
                    f"pair {item.pair_id} has a multi-turn prompt ({len(item.row['prompt__messages'])} messages); "
                    "the standard trl format holds one prompt string: use the conversational option (--conversational)",
                    "pair",
                )
            row = {"prompt": item.prompt_text, "chosen": item.chosen, "rejected": item.rejected}
        if self.options.margin:
            row["margin"] = self._margin(item)
        if self.options.with_rationale:
            row["rationale"] = best_rationale(item, batch.judgments[item.pair_id], batch.adjudications[item.pair_id])[0]
        return [row]

    @property
    def plain(self) -> bool:
        """Standard strings, no margin and no rationale: rows come from ``plain_rows``."""
        return not (self.messages or self.options.margin or self.options.with_rationale)

    # What plain_rows, the tally and the card's counters read: six fewer columns than
    # BASE_FIELDS to fetch (1M pairs: 14.3–14.6 → 12.6–13.3 s, alternating), read by
    # position from the cursor's tuples (no dict per row: 9.5–10.0 → 8.5–9.5 s, alternating).
    PLAIN_FIELDS = ("id", "tier", "label_verdict", "label_source", "consensus_verdict", "origin",
                    "response_a__producer", "response_b__producer", "prompt__text", "prompt__messages",
                    "response_a__text", "response_b__text")
    # The card's counters per row (ExportStats.count_combinations, less the split).
    PLAIN_CARD_KEY = operator.itemgetter(*map(PLAIN_FIELDS.index, (
        "tier", "label_source", "origin", "response_a__producer", "response_b__producer")))

    def plain_rows(self, batch: Batch) -> list[dict]:
        """The standard rows of a whole batch with the extra columns, built straight from
        the cursor's tuples (``PLAIN_FIELDS`` order, JSON as text): at a million pairs
        an ExportItem and three dicts per row cost more than the database's work. Same
        rows, keys and order as ``rows`` + extras."""
        out = []
        append = out.append
        signs = batch.signs
        for (pair_id, tier, label, label_source, _, _, _, _, prompt, messages, text_a, text_b) in batch.rows:
            conversation = json.loads(messages) if messages is not None else None
            if conversation and len(conversation) > 1:
                row = {"id": pair_id, "label_verdict": label, "prompt__text": prompt, "prompt__messages": conversation,
                       "response_a__text": text_a, "response_b__text": text_b}
                self.rows(ExportItem.of(row, None, "train"), batch)  # raises the multi-turn ExportError
            if label is not None and label > 0:
                chosen, rejected = text_b, text_a
            else:
                chosen, rejected = text_a, text_b
            counts = signs.get(pair_id)  # Batch.agreement, inlined
            agreement = None
            if counts and label is not None:
                agreeing = counts[0] if label < 0 else counts[2] if label > 0 else counts[1]
                agreement = round(agreeing / (counts[0] + counts[1] + counts[2]), 4)
            append({
                "prompt": prompt, "chosen": chosen, "rejected": rejected, "pair_id": pair_id,
                "label_source": label_source, "tier": tier, "agreement": agreement,
            })
        return out

    def _margin(self, item: ExportItem) -> float:
        kind = self.options.margin
        if kind == "abs_s":
            return float(abs(item.label))
        value = item.row[kind]
        if value is None:
            raise SkipPair(f"no {kind} for the margin")
        return float(value)


class UltrafeedbackWriter(FormatWriter):
    """UltraFeedback-binarized: scores are the aspect means m of the two responses."""

    name = "ultrafeedback"
    split_names = {"train": "train_prefs", "test": "test_prefs"}
    needs = Needs(scores=True)

    def columns(self):
        return [
            ("prompt", pa.string()),
            ("prompt_id", pa.string()),
            ("chosen", MESSAGES),
            ("rejected", MESSAGES),
            ("messages", MESSAGES),
            ("score_chosen", pa.float64()),
            ("score_rejected", pa.float64()),
        ]

    def rows(self, item, batch):
        scores = self._scores(item, batch)
        if scores is None:
            if not self.options.synthetic_scores:
                raise SkipPair("no aspect ratings (use --synthetic-scores)")
            scores = (float(abs(item.label)), 0.0)
        chosen = item.conversation + assistant(item.chosen)
        return [
            {
                "prompt": item.prompt_text,
                "prompt_id": hashlib.sha256(item.prompt_text.encode("utf-8")).hexdigest(),
                "chosen": chosen,
                "rejected": item.conversation + assistant(item.rejected),
                "messages": chosen,
                "score_chosen": scores[0],
                "score_rejected": scores[1],
            }
        ]

    def _scores(self, item: ExportItem, batch: Batch) -> tuple[float, float] | None:
        """(m(chosen), m(rejected)) from the first judge that rated both sides."""
        means: dict[int, dict[int, float | None]] = {}
        chosen_id = item.row["response_a_id"] if item.chosen_is_a else item.row["response_b_id"]
        rejected_id = item.row["response_b_id"] if item.chosen_is_a else item.row["response_a_id"]
        for response_id in (chosen_id, rejected_id):
            by_judge: dict[int, dict[str, float | None]] = {}
            for score in batch.scores[response_id]:
                if score.aspect in ULTRAFEEDBACK_ASPECTS:
                    by_judge.setdefault(score.judge_config_id, {})[score.aspect] = score.value
            means[response_id] = {judge: aspect_mean(ratings) for judge, ratings in by_judge.items()}
        for judge in sorted(means[chosen_id]):
            m_chosen, m_rejected = means[chosen_id].get(judge), means[rejected_id].get(judge)
            if m_chosen is not None and m_rejected is not None:
                return m_chosen, m_rejected
        return None


PREFERENCE = pa.struct([("statement", pa.string()), ("elaboration", pa.string()), ("strength", pa.int64())])


class Helpsteer2Writer(FormatWriter):
    """HelpSteer2-Preference: stored order, strength −3..3, the human justifications."""

    name = "helpsteer2"
    split_in_column = True
    needs = Needs(judgments=True, adjudications=True)

    def columns(self):
        return [
            ("split", pa.string()),
            ("prompt", pa.string()),
            ("response_1", pa.string()),
            ("response_2", pa.string()),
            ("preference_strength", pa.int64()),
            ("preference_statement", pa.string()),
            ("preference_elaboration", pa.string()),
            ("three_most_similar_preferences", pa.list_(PREFERENCE)),
            ("all_preferences_unprocessed", pa.list_(PREFERENCE)),
        ]

    def rows(self, item, batch):
        judgments = batch.judgments[item.pair_id]
        humans = [j for j in judgments if j.is_human and j.verdict is not None]
        statement, elaboration = "", ""
        rationale, source = best_rationale(item, judgments, batch.adjudications[item.pair_id])
        if source in ("human", "adjudication"):
            statement, elaboration = split_rationale(rationale)
        preferences = [self._preference(j) for j in humans]
        if self.options.include_ai_justifications:
            preferences += [
                self._preference(j, tag=f"[AI judge {j.judge_config.name}] ")
                for j in judgments
                if not j.is_human and j.verdict is not None and j.rationale.strip()
            ]
        return [
            {
                "split": "validation" if item.split == "test" else "train",
                "prompt": self.flatten(item.conversation),
                "response_1": item.row["response_a__text"],
                "response_2": item.row["response_b__text"],
                "preference_strength": HELPSTEER2_STRENGTH[item.label],
                "preference_statement": statement,
                "preference_elaboration": elaboration,
                "three_most_similar_preferences": self._most_similar(
                    [self._preference(j) for j in first_human_records(judgments)]
                ),
                "all_preferences_unprocessed": preferences,
            }
        ]

    @staticmethod
    def flatten(conversation: list[dict]) -> str:
        """HelpSteer2's multi-turn prompt: the first user turn as it is, later turns
        after <extra_id_1>User / <extra_id_1>Assistant markers; a system message
        goes first after <extra_id_0>System."""
        text = ""
        for message in conversation:
            if message["role"] == "system":
                text += f"<extra_id_0>System\n{message['content']}"
            elif not text:
                text = message["content"]
            else:
                marker = "User" if message["role"] == "user" else "Assistant"
                text += f"\n<extra_id_1>{marker}\n{message['content']}"
        return text

    @staticmethod
    def _preference(judgment: Judgment, tag: str = "") -> dict:
        statement, elaboration = split_rationale(judgment.rationale)
        return {
            "statement": tag + statement,
            "elaboration": elaboration,
            "strength": HELPSTEER2_STRENGTH[judgment.verdict],
        }

    @staticmethod
    def _most_similar(preferences: list[dict]) -> list[dict]:
        """The ≤ 3 records with the smallest spread of strengths (first such set)."""
        if len(preferences) <= 3:
            return preferences
        best = min(
            itertools.combinations(range(len(preferences)), 3),
            key=lambda trio: max(preferences[i]["strength"] for i in trio) - min(preferences[i]["strength"] for i in trio),
        )
        return [preferences[i] for i in best]


class HHWriter(FormatWriter):
    """Anthropic HH: two whole transcripts that share the prompt turns."""

    name = "hh"
    MARKERS = ("\n\nHuman:", "\n\nAssistant:")

    def columns(self):
        return [("chosen", pa.string()), ("rejected", pa.string())]

    def rows(self, item, batch):
        system = [m["content"] for m in item.conversation if m["role"] == "system"]
        turns = [m for m in item.conversation if m["role"] != "system"]
        for message in turns + [{"role": "assistant", "content": item.chosen}, {"role": "assistant", "content": item.rejected}]:
            for marker in self.MARKERS:
                if marker in message["content"]:
                    raise ExportError(
                        f"pair {item.pair_id}: a {message['role']} turn contains {marker!r}, which would break "
                        "the HH transcript; export this pair in another format",
                        "pair",
                    )
        prefix = "\n\n".join(system)
        for message in turns:
            speaker = "Human" if message["role"] == "user" else "Assistant"
            prefix += f"\n\n{speaker}: {message['content']}"
        return [
            {
                "chosen": f"{prefix}\n\nAssistant: {item.chosen}",
                "rejected": f"{prefix}\n\nAssistant: {item.rejected}",
            }
        ]


class OpenAIWriter(FormatWriter):
    """OpenAI preference fine-tuning JSONL; the extra columns go to the sidecar."""

    name = "openai"

    def columns(self):
        return [
            ("input", pa.struct([("messages", MESSAGES)])),
            ("preferred_output", MESSAGES),
            ("non_preferred_output", MESSAGES),
        ]

    def rows(self, item, batch):
        return [
            {
                "input": {"messages": item.conversation},
                "preferred_output": assistant(item.chosen),
                "non_preferred_output": assistant(item.rejected),
            }
        ]


class CsvWriter(FormatWriter):
    """Flat rows; ``--long`` writes one row per human judgment with its annotator."""

    name = "csv"

    def __init__(self, options: ExportOptions):
        super().__init__(options)
        if options.long:
            self.needs = Needs(judgments=True)

    def columns(self):
        columns = [
            ("prompt", pa.string()),
            ("response_a", pa.string()),
            ("response_b", pa.string()),
            ("verdict", pa.int64()),
            ("label_source", pa.string()),
            ("tier", pa.string()),
        ]
        if self.options.long:
            columns += [("annotator", pa.string()), ("revised", pa.bool_()), ("rationale", pa.string()), ("label", pa.int64())]
        return columns

    def rows(self, item, batch):
        prompt = item.prompt_text
        if item.is_multi_turn:
            prompt = json.dumps(item.conversation, ensure_ascii=False)
        base = {
            "prompt": prompt,
            "response_a": item.row["response_a__text"],
            "response_b": item.row["response_b__text"],
            "verdict": item.label,
            "label_source": item.row["label_source"],
            "tier": item.row["tier"],
        }
        if not self.options.long:
            return [base]
        return [
            {
                **base,
                "verdict": j.verdict,
                "annotator": j.annotator.name,
                "revised": j.is_revision,
                "rationale": j.rationale,
                "label": item.label,
            }
            for j in batch.judgments[item.pair_id]
            if j.is_human and j.verdict is not None
        ]


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


class ConcordWriter(FormatWriter):
    """The native format, written exactly as the importer reads it (docs/formats.md),
    so export → import on a fresh project gives the same pairs and judgments.
    Rubrics belong to prompts: they follow the pairs on prompt-only lines."""

    name = "concord"
    needs = Needs(judgments=True, adjudications=True, scores=True, concord_fields=True)
    # Parquet needs one type per column: the free-form fields are JSON text there.
    JSON_IN_PARQUET = ("prompt", "metadata", "prompt_metadata", "response_a_meta", "response_b_meta",
                       "judgments", "ai_judgments", "adjudications", "scores", "rubrics", "flags")

    def columns(self):
        names = [
            "id", "prompt", "prompt_id", "prompt_origin", "prompt_metadata", "category", "metadata", "origin",
            "response_a", "response_b", "producer_a", "producer_b", "response_a_meta", "response_b_meta",
            "flags", "judgments", "ai_judgments", "adjudications", "scores", "rubrics",
        ]
        types = {"ensemble_mu": pa.float64(), "ensemble_sigma": pa.float64()}
        return [(name, pa.string()) for name in names] + list(types.items())

    def rows(self, item, batch):
        row = item.row
        record = self.prompt_fields(
            text=row["prompt__text"],
            messages=row["prompt__messages"],
            external_id=row["prompt__external_id"],
            origin=row["prompt__origin"],
            metadata=row["prompt__metadata"],
            category=row["prompt__category"],
        )
        record["id"] = row["external_id"] or None
        record["metadata"] = row["metadata"]
        record["origin"] = row["origin"]
        record["response_a"], record["response_b"] = row["response_a__text"], row["response_b__text"]
        for side in ("a", "b"):
            record[f"producer_{side}"] = row[f"response_{side}__producer"]
            record[f"response_{side}_meta"] = {
                name: row[f"response_{side}__{name}"]
                for name in ("producer_kind", "params", "conditioning", "n_tokens", "finish_reason")
            }
        record["flags"] = row["flags"]
        record["ensemble_mu"], record["ensemble_sigma"] = row["ensemble_mu"], row["ensemble_sigma"]
        judgments = batch.judgments[item.pair_id]
        record["judgments"] = [self._human(j) for j in judgments if j.is_human]
        record["ai_judgments"] = [self._ai(j) for j in judgments if not j.is_human]
        record["adjudications"] = [
            {
                "verdict": a.verdict,
                "note": a.note,
                "source": a.source,
                "source_detail": a.source_detail,
                "reviewer": a.reviewer.get_username() if a.reviewer else "",
            }
            for a in batch.adjudications[item.pair_id]
        ]
        record["scores"] = [
            {
                "side": side,
                "judge": s.judge_config.name,
                "aspect": s.aspect,
                "value": s.value,
                "expected": s.expected,
                "rationale": s.rationale,
            }
            for side, response_id in (("a", row["response_a_id"]), ("b", row["response_b_id"]))
            for s in batch.scores[response_id]
        ]
        return [record]

    @staticmethod
    def prompt_fields(*, text, messages, external_id, origin, metadata, category) -> dict:
        return {
            "prompt": messages if messages and len(messages) > 1 else text,
            "prompt_id": external_id or None,
            "prompt_origin": origin,
            "prompt_metadata": metadata,
            "category": category,
        }

    @staticmethod
    def rubric(rubric) -> dict:
        return {
            "kind": rubric.kind,
            "version": rubric.version,
            "items": rubric.items,
            "text": rubric.text,
            "origin": rubric.origin,
            "task_type": rubric.task_type,
        }

    @staticmethod
    def _human(j: Judgment) -> dict:
        return {
            "annotator": j.annotator.name,
            "verdict": j.verdict,
            "rationale": j.rationale,
            "aspects": j.aspects,
            "checklist_answers": j.checklist_answers,
            "shown_order": j.shown_order,
            "mode": j.mode or "imported",
            "time_spent_ms": j.time_spent_ms,
            "revised": j.is_revision,
            "strength_known": j.strength_known,
            "raw_value": j.raw_value,
            "raw_scale": j.raw_scale,
            "context": j.context,
            "used_assistance": j.used_assistance,
            "flags": j.flags,
        }

    @staticmethod
    def _ai(j: Judgment) -> dict:
        config = j.judge_config
        return {
            "judge": config.name,
            "kind": config.kind,
            "method": config.method,
            "model": config.model,
            "backend": config.backend,
            "template_version": config.template_version,
            "params": config.params,
            "verdict": j.verdict,
            "rationale": j.rationale,
            "confidence": j.confidence,
            "expected_verdict": j.expected_verdict,
            "parse_ok": j.parse_ok,
            "strength_known": j.strength_known,
            "raw_value": j.raw_value,
            "raw_scale": j.raw_scale,
            "aspects": j.aspects,
            "checklist_answers": j.checklist_answers,
            "runs": j.runs,
            "flags": j.flags,
            "position_consistent": j.position_consistent,
            "length_rule_applied": j.length_rule_applied,
            "verdict_before_length_rule": j.verdict_before_length_rule,
            "context": j.context,
        }

    def for_parquet(self, record: dict) -> dict:
        return {key: (_json(value) if key in self.JSON_IN_PARQUET and not isinstance(value, str) else value)
                for key, value in record.items()}


WRITERS: dict[str, type[FormatWriter]] = {
    writer.name: writer
    for writer in (TrlWriter, UltrafeedbackWriter, Helpsteer2Writer, HHWriter, OpenAIWriter, ConcordWriter, CsvWriter)
}
