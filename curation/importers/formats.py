"""Import formats: each turns one raw record into a normalised :class:`Record`.

Verdicts are stored in stored orientation, negative = response A better (methods.md §0).
"""
import math
import re
from collections.abc import Callable
from typing import Any

from curation.hashing import response_hash, seeded_coin

from .records import (
    AdjudicationLabel,
    AILabel,
    HumanLabel,
    PairRecord,
    Record,
    RecordError,
    ResponseRecord,
    RubricRecord,
    ScoreRecord,
)

ROLES = ("system", "user", "assistant")
ULTRAFEEDBACK_ASPECTS = ("instruction_following", "honesty", "truthfulness", "helpfulness")


class Context:
    """What a parser knows besides the record: the file's name and the format."""

    def __init__(self, source: str, fmt: str):
        self.source = source
        self.format = fmt


# --- field validation -------------------------------------------------------------


def _object(raw: Any, loc: str) -> dict:
    if not isinstance(raw, dict):
        raise RecordError(loc, None, f"expected a JSON object, got {type(raw).__name__}")
    return raw


def _string(raw: dict, key: str, loc: str, *, required: bool = True, allow_empty: bool = True) -> str:
    value = raw.get(key)
    if value is None:
        if required:
            raise RecordError(loc, key, "missing")
        return ""
    if not isinstance(value, str):
        raise RecordError(loc, key, f"must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise RecordError(loc, key, "must not be empty")
    return value


def _optional_id(raw: dict, key: str, loc: str) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RecordError(loc, key, "must be a string or an integer")
    return str(value)


def _dict(raw: dict, key: str, loc: str) -> dict:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RecordError(loc, key, f"must be an object, got {type(value).__name__}")
    return value


def _list(raw: dict, key: str, loc: str) -> list:
    value = raw.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(loc, key, f"must be a list, got {type(value).__name__}")
    return value


def parse_verdict(value: Any, loc: str, field_name: str, *, allow_null: bool = False) -> int | None:
    if value is None and allow_null:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,9}\s*", value):  # int() refuses 4,300+ digits
            value = int(value)
        else:
            raise RecordError(loc, field_name, f"must be an integer in -2..2, got {value!r}")
    if not -2 <= value <= 2:
        raise RecordError(loc, field_name, f"must be an integer in -2..2, got {value}")
    return value


def _confidence(value: Any, loc: str, field_name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise RecordError(loc, field_name, f"must be a number in 0..1, got {value!r}")
    return float(value)


def parse_messages(value: Any, loc: str, field_name: str) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise RecordError(loc, field_name, "must be a non-empty list of {role, content} messages")
    messages = []
    for i, message in enumerate(value):
        if not isinstance(message, dict):
            raise RecordError(loc, f"{field_name}[{i}]", "must be an object with role and content")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise RecordError(loc, f"{field_name}[{i}].role", f"must be one of {', '.join(ROLES)}")
        if not isinstance(content, str):
            raise RecordError(loc, f"{field_name}[{i}].content", "must be a string")
        messages.append({"role": role, "content": content})
    return messages


def _prompt(value: Any, loc: str, field_name: str = "prompt") -> tuple[str, list[dict] | None]:
    """A prompt is a string or a conversation ending with a user turn."""
    if isinstance(value, str):
        if not value.strip():
            raise RecordError(loc, field_name, "must not be empty")
        return value, None
    if value is None:
        raise RecordError(loc, field_name, "missing")
    messages = parse_messages(value, loc, field_name)
    if messages[-1]["role"] != "user":
        raise RecordError(loc, field_name, "the conversation must end with a user turn")
    if len(messages) == 1:
        return messages[0]["content"], None
    return messages[-1]["content"], messages


def _pair_of_texts(
    record: Record, text_a: str, text_b: str, producer_a: str, producer_b: str
) -> PairRecord | None:
    """Adds both responses and a pair; identical sides are skipped and reported."""
    if response_hash(text_a) == response_hash(text_b):
        record.skipped.append("identical sides")
        return None
    record.responses.append(ResponseRecord(text=text_a, producer=producer_a))
    record.responses.append(ResponseRecord(text=text_b, producer=producer_b))
    pair = PairRecord(a=len(record.responses) - 2, b=len(record.responses) - 1)
    record.pairs.append(pair)
    return pair


def three_way(label: int) -> int:
    """A 'first better / second better / tie' label as a stored verdict."""
    return {0: 0, 1: -1, 2: 1}[label]


# --- concord (native JSONL) ---------------------------------------------------------


def parse_concord(raw: Any, loc: str, ctx: Context) -> Record:
    raw = _object(raw, loc)
    text, messages = _prompt(raw.get("prompt"), loc)
    metadata = _dict(raw, "metadata", loc)
    category = raw.get("category", metadata.get("category", ""))
    if not isinstance(category, str):
        raise RecordError(loc, "category", "must be a string")
    record = Record(
        location=loc,
        prompt_text=text,
        prompt_messages=messages,
        category=category,
        prompt_metadata=_dict(raw, "prompt_metadata", loc),
        prompt_external_id=_optional_id(raw, "prompt_id", loc),
        prompt_origin=_string(raw, "prompt_origin", loc, required=False),
    )
    for i, rubric in enumerate(_list(raw, "rubrics", loc)):
        record.rubrics.append(_rubric(rubric, loc, f"rubrics[{i}]"))
    has_a, has_b = raw.get("response_a") is not None, raw.get("response_b") is not None
    if not has_a and not has_b:
        for key in ("judgments", "ai_judgments", "adjudications", "gold"):
            if raw.get(key):
                raise RecordError(loc, key, "given without response_a and response_b")
        if metadata:
            record.prompt_metadata = {**metadata, **record.prompt_metadata}
        return record
    if not has_b:
        raise RecordError(loc, "response_b", "missing (response_a is given)")
    if not has_a:
        raise RecordError(loc, "response_a", "missing (response_b is given)")
    text_a = _string(raw, "response_a", loc)
    text_b = _string(raw, "response_b", loc)
    producer_a = _string(raw, "producer_a", loc, required=False) or f"import:{ctx.source}"
    producer_b = _string(raw, "producer_b", loc, required=False) or f"import:{ctx.source}"
    human = [_human(j, loc, f"judgments[{i}]") for i, j in enumerate(_list(raw, "judgments", loc))]
    ai = [_ai(j, loc, f"ai_judgments[{i}]") for i, j in enumerate(_list(raw, "ai_judgments", loc))]
    adjudications = [
        _adjudication(a, loc, f"adjudications[{i}]")
        for i, a in enumerate(_list(raw, "adjudications", loc))
    ]
    gold = raw.get("gold")
    if gold is not None:
        gold = _object(gold, f"{loc}, field 'gold'")
        adjudications.append(
            AdjudicationLabel(
                verdict=parse_verdict(gold.get("verdict"), loc, "gold.verdict"),
                source="import",
                source_detail=_string(gold, "source", loc, required=False) or ctx.source,
                note=_string(gold, "note", loc, required=False),
            )
        )
    meta_a, meta_b = _response_meta(raw, "response_a_meta", loc), _response_meta(raw, "response_b_meta", loc)
    scores = [_score(s, loc, f"scores[{i}]") for i, s in enumerate(_list(raw, "scores", loc))]
    pair = _pair_of_texts(record, text_a, text_b, producer_a, producer_b)
    if pair is not None:
        pair.external_id = _optional_id(raw, "id", loc)
        pair.metadata = metadata
        pair.origin = _string(raw, "origin", loc, required=False)
        pair.flags = [str(flag) for flag in _list(raw, "flags", loc)]
        pair.ensemble_mu = _number(raw.get("ensemble_mu"), loc, "ensemble_mu")
        pair.ensemble_sigma = _number(raw.get("ensemble_sigma"), loc, "ensemble_sigma")
        pair.human, pair.ai, pair.adjudications = human, ai, adjudications
        for index, meta in ((pair.a, meta_a), (pair.b, meta_b)):
            for key, value in meta.items():
                setattr(record.responses[index], key, value)
        for side, score in scores:
            score.response = pair.a if side == "a" else pair.b
            record.scores.append(score)
    return record


def _number(value: Any, loc: str, field_name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError(loc, field_name, f"must be a number, got {value!r}")
    try:
        return float(value)
    except OverflowError:
        raise RecordError(loc, field_name, "is beyond the range of a number") from None


def _response_meta(raw: dict, key: str, loc: str) -> dict:
    """What the concord export writes about a response besides its text and producer."""
    meta = _dict(raw, key, loc)
    kind = meta.get("producer_kind", "import")
    if kind not in ("model", "human", "import"):
        raise RecordError(loc, f"{key}.producer_kind", "must be model, human or import")
    n_tokens = meta.get("n_tokens")
    if n_tokens is not None and (isinstance(n_tokens, bool) or not isinstance(n_tokens, int) or n_tokens < 0):
        raise RecordError(loc, f"{key}.n_tokens", "must be a non-negative integer")
    return {
        "producer_kind": kind,
        "params": _dict(meta, "params", loc),
        "conditioning": _dict(meta, "conditioning", loc),
        "n_tokens": n_tokens,
        "finish_reason": _string(meta, "finish_reason", loc, required=False)[:30],
    }


def _score(raw: Any, loc: str, field_name: str) -> tuple[str, ScoreRecord]:
    raw = _object(raw, f"{loc}, field '{field_name}'")
    side = raw.get("side")
    if side not in ("a", "b"):
        raise RecordError(loc, f"{field_name}.side", "must be 'a' or 'b'")
    for key in ("judge", "aspect"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise RecordError(loc, f"{field_name}.{key}", "missing")
    return side, ScoreRecord(
        response=-1,  # set to the side's response index by the caller
        judge=raw["judge"].strip(),
        aspect=raw["aspect"].strip()[:50],
        value=_number(raw.get("value"), loc, f"{field_name}.value"),
        expected=_number(raw.get("expected"), loc, f"{field_name}.expected"),
        rationale=_string(raw, "rationale", loc, required=False),
    )


def _human(raw: Any, loc: str, field_name: str) -> HumanLabel:
    raw = _object(raw, f"{loc}, field '{field_name}'")
    annotator = raw.get("annotator")
    if not isinstance(annotator, (str, int)) or isinstance(annotator, bool) or not str(annotator).strip():
        raise RecordError(loc, f"{field_name}.annotator", "missing (a name for the annotator)")
    aspects = _dict(raw, "aspects", loc)
    for aspect, score in aspects.items():
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise RecordError(loc, f"{field_name}.aspects.{aspect}", "must be a number")
    shown_order = raw.get("shown_order", "") or ""
    if shown_order not in ("", "ab", "ba"):
        raise RecordError(loc, f"{field_name}.shown_order", "must be 'ab' or 'ba'")
    time_spent = raw.get("time_spent_ms")
    if time_spent is not None and (isinstance(time_spent, bool) or not isinstance(time_spent, int) or time_spent < 0):
        raise RecordError(loc, f"{field_name}.time_spent_ms", "must be a non-negative integer")
    mode = raw.get("mode") or "imported"
    if mode not in ("blind", "reveal_after", "assisted", "imported"):
        raise RecordError(loc, f"{field_name}.mode", "must be blind, reveal_after, assisted or imported")
    return HumanLabel(
        annotator=str(annotator).strip(),
        verdict=parse_verdict(raw.get("verdict"), loc, f"{field_name}.verdict"),
        rationale=_string(raw, "rationale", loc, required=False),
        aspects=aspects,
        checklist_answers=_dict(raw, "checklist_answers", loc),
        strength_known=bool(raw.get("strength_known", True)),
        shown_order=shown_order,
        mode=mode,
        time_spent_ms=time_spent,
        is_revision=bool(raw.get("revised", False)),
        context=_string(raw, "context", loc, required=False),
        used_assistance=bool(raw.get("used_assistance", False)),
        raw_value=_string(raw, "raw_value", loc, required=False)[:50],
        raw_scale=_string(raw, "raw_scale", loc, required=False)[:50],
        flags=_list(raw, "flags", loc),
    )


def _ai(raw: Any, loc: str, field_name: str) -> AILabel:
    raw = _object(raw, f"{loc}, field '{field_name}'")
    judge = raw.get("judge")
    if not isinstance(judge, str) or not judge.strip():
        raise RecordError(loc, f"{field_name}.judge", "missing (the judge's name)")
    parse_ok = bool(raw.get("parse_ok", True))
    verdict = parse_verdict(raw.get("verdict"), loc, f"{field_name}.verdict", allow_null=not parse_ok)
    kind = raw.get("kind", "ai")
    if kind not in ("ai", "source", "construction"):
        raise RecordError(loc, f"{field_name}.kind", "must be ai, source or construction")
    before = raw.get("verdict_before_length_rule")
    return AILabel(
        judge=judge.strip(),
        verdict=verdict,
        kind=kind,
        method=raw.get("method") or "imported",
        rationale=_string(raw, "rationale", loc, required=False),
        confidence=_confidence(raw.get("confidence"), loc, f"{field_name}.confidence"),
        parse_ok=parse_ok,
        strength_known=bool(raw.get("strength_known", True)),
        aspects=_dict(raw, "aspects", loc),
        runs=_list(raw, "runs", loc),
        flags=_list(raw, "flags", loc),
        position_consistent=raw.get("position_consistent"),
        length_rule_applied=bool(raw.get("length_rule_applied", False)),
        verdict_before_length_rule=(
            None if before is None else parse_verdict(before, loc, f"{field_name}.verdict_before_length_rule")
        ),
        expected_verdict=_number(raw.get("expected_verdict"), loc, f"{field_name}.expected_verdict"),
        raw_value=_string(raw, "raw_value", loc, required=False)[:50],
        raw_scale=_string(raw, "raw_scale", loc, required=False)[:50],
        checklist_answers=_dict(raw, "checklist_answers", loc),
        context=_string(raw, "context", loc, required=False),
        model=_string(raw, "model", loc, required=False)[:300],
        backend=_string(raw, "backend", loc, required=False)[:30],
        template_version=_string(raw, "template_version", loc, required=False)[:50],
        params=_dict(raw, "params", loc),
    )


def _adjudication(raw: Any, loc: str, field_name: str) -> AdjudicationLabel:
    raw = _object(raw, f"{loc}, field '{field_name}'")
    source = raw.get("source") or "review"
    if source not in ("review", "mark_gold", "import"):
        raise RecordError(loc, f"{field_name}.source", "must be review, mark_gold or import")
    return AdjudicationLabel(
        verdict=parse_verdict(raw.get("verdict"), loc, f"{field_name}.verdict"),
        source=source,
        note=_string(raw, "note", loc, required=False),
        source_detail=_string(raw, "source_detail", loc, required=False),
        reviewer=_string(raw, "reviewer", loc, required=False),
    )


def _rubric(raw: Any, loc: str, field_name: str) -> RubricRecord:
    raw = _object(raw, f"{loc}, field '{field_name}'")
    kind = raw.get("kind")
    if kind not in ("checklist", "rubric", "reference_solution", "ruleset", "guideline"):
        raise RecordError(loc, f"{field_name}.kind", "must be checklist, rubric, reference_solution, ruleset or guideline")
    version = raw.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise RecordError(loc, f"{field_name}.version", "must be a positive integer")
    return RubricRecord(
        kind=kind,
        version=version,
        items=_list(raw, "items", loc),
        text=_string(raw, "text", loc, required=False),
        origin=_string(raw, "origin", loc, required=False) or "import",
        task_type=_string(raw, "task_type", loc, required=False),
    )


# --- llmbar -------------------------------------------------------------------------


def parse_llmbar(raw: Any, loc: str, ctx: Context) -> Record:
    raw = _object(raw, loc)
    text = _string(raw, "input", loc, allow_empty=False)
    out1, out2 = _string(raw, "output_1", loc), _string(raw, "output_2", loc)
    label = raw.get("label")
    if label not in (1, 2) or isinstance(label, bool):
        raise RecordError(loc, "label", f"must be 1 or 2, got {label!r}")
    record = Record(location=loc, prompt_text=text, category=ctx.source)
    pair = _pair_of_texts(record, out1, out2, f"import:{ctx.source}", f"import:{ctx.source}")
    if pair is not None:
        pair.metadata = {"source": f"llmbar/{ctx.source}"}
        pair.adjudications.append(
            AdjudicationLabel(
                verdict=three_way(label),
                source="import",
                source_detail=f"llmbar/{ctx.source}",
                note="LLMBar expert-verified label",
            )
        )
    return record


# --- pandalm ------------------------------------------------------------------------


def _scalar_text(raw: dict, key: str, loc: str) -> str:
    """PandaLM's release holds a few responses that a YAML round trip turned into
    booleans (the text "True"); they are read back as the text they were."""
    value = raw.get(key)
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (int, float)):
        return str(value)
    return _string(raw, key, loc)


def parse_pandalm(raw: Any, loc: str, ctx: Context) -> Record:
    raw = _object(raw, loc)
    instruction = _string(raw, "instruction", loc).strip()
    extra = _string(raw, "input", loc, required=False).strip()
    text = "\n\n".join(part for part in (instruction, extra) if part)
    if not text:
        raise RecordError(loc, "instruction", "must not be empty (and there is no input)")
    record = Record(
        location=loc,
        prompt_text=text,
        category=str(raw.get("motivation_app") or ""),
        prompt_external_id=_optional_id(raw, "idx", loc),
    )
    labels = []
    for n in (1, 2, 3):
        key = f"annotator{n}"
        value = raw.get(key)
        if value is None:
            continue
        if value not in (0, 1, 2) or isinstance(value, bool):
            raise RecordError(loc, key, f"must be 0 (tie), 1 or 2, got {value!r}")
        labels.append(
            HumanLabel(
                annotator=f"pandalm-{key}",
                verdict=three_way(value),
                strength_known=False,
                raw_value=str(value),
                raw_scale="pandalm",
            )
        )
    cmp_key = str(raw.get("cmp_key") or "")
    models = cmp_key.split("_") if cmp_key.count("_") == 1 else ["", ""]
    pair = _pair_of_texts(
        record,
        _scalar_text(raw, "response1", loc),
        _scalar_text(raw, "response2", loc),
        models[0] or f"import:{ctx.source}",
        models[1] or f"import:{ctx.source}",
    )
    if pair is not None:
        pair.external_id = _optional_id(raw, "idx", loc)
        pair.metadata = {"cmp_key": cmp_key, "motivation_app": raw.get("motivation_app")}
        pair.human = labels
    return record


# --- trl ----------------------------------------------------------------------------


def _split_shared_prefix(chosen: list[dict], rejected: list[dict], loc: str) -> tuple[list[dict], str, str]:
    """Implicit-prompt conversations: the shared turns are the prompt, the last
    assistant turns are the two responses."""
    if len(chosen) < 2 or len(rejected) < 2:
        raise RecordError(loc, "chosen", "a conversation with a prompt and a final assistant reply is needed")
    if chosen[-1]["role"] != "assistant" or rejected[-1]["role"] != "assistant":
        raise RecordError(loc, "chosen", "both conversations must end with an assistant reply")
    if chosen[:-1] != rejected[:-1]:
        raise RecordError(loc, "rejected", "chosen and rejected do not share the same prompt turns")
    return chosen[:-1], chosen[-1]["content"], rejected[-1]["content"]


def _assistant_text(value: Any, loc: str, field_name: str) -> str:
    if isinstance(value, str):
        return value
    messages = parse_messages(value, loc, field_name)
    if messages[-1]["role"] != "assistant":
        raise RecordError(loc, field_name, "must end with an assistant message")
    return messages[-1]["content"]


def parse_trl(raw: Any, loc: str, ctx: Context) -> Record:
    raw = _object(raw, loc)
    for key in ("chosen", "rejected"):
        if raw.get(key) is None:
            raise RecordError(loc, key, "missing")
    if raw.get("prompt") is None:
        if isinstance(raw["chosen"], str):
            raise RecordError(loc, "prompt", "missing (string chosen/rejected need a prompt)")
        turns, chosen, rejected = _split_shared_prefix(
            parse_messages(raw["chosen"], loc, "chosen"), parse_messages(raw["rejected"], loc, "rejected"), loc
        )
        if turns[-1]["role"] != "user":
            raise RecordError(loc, "chosen", "the shared turns must end with a user turn")
        text, messages = _prompt(turns, loc)
    else:
        text, messages = _prompt(raw["prompt"], loc)
        chosen = _assistant_text(raw["chosen"], loc, "chosen")
        rejected = _assistant_text(raw["rejected"], loc, "rejected")
    record = Record(location=loc, prompt_text=text, prompt_messages=messages)
    if raw.get("prompt_id") is not None:
        record.prompt_external_id = _optional_id(raw, "prompt_id", loc)
    # Shuffle sides reproducibly so that A is not always the chosen one.
    chosen_in_b = seeded_coin("trl-sides", response_hash(chosen), response_hash(rejected))
    text_a, text_b = (rejected, chosen) if chosen_in_b else (chosen, rejected)
    pair = _pair_of_texts(record, text_a, text_b, f"import:{ctx.source}", f"import:{ctx.source}")
    if pair is not None:
        pair.external_id = _optional_id(raw, "id", loc)
        verdict = 1 if chosen_in_b else -1
        raw_scores = {k: raw[k] for k in ("score_chosen", "score_rejected", "margin") if k in raw}
        pair.metadata = {"chosen_side": "b" if chosen_in_b else "a", **raw_scores}
        pair.ai.append(
            AILabel(
                judge=f"source:{ctx.source}",
                verdict=verdict,
                kind="source",
                strength_known=False,
                raw_value="chosen",
                raw_scale="trl",
            )
        )
    return record


# --- hh -----------------------------------------------------------------------------

HH_TURN = re.compile(r"\n\n(Human|Assistant): ")


def parse_hh_transcript(value: str, loc: str, field_name: str) -> list[dict]:
    if not isinstance(value, str):
        raise RecordError(loc, field_name, "must be a transcript string")
    parts = HH_TURN.split(value)
    head, rest = parts[0], parts[1:]
    messages = []
    if head.strip():
        messages.append({"role": "system", "content": head.strip()})
    for role, content in zip(rest[0::2], rest[1::2]):
        messages.append({"role": "user" if role == "Human" else "assistant", "content": content})
    if not rest:
        raise RecordError(loc, field_name, "no '\\n\\nHuman: ' turn found in the transcript")
    return messages


def parse_hh(raw: Any, loc: str, ctx: Context) -> Record:
    raw = _object(raw, loc)
    chosen = parse_hh_transcript(_string(raw, "chosen", loc), loc, "chosen")
    rejected = parse_hh_transcript(_string(raw, "rejected", loc), loc, "rejected")
    turns, chosen_text, rejected_text = _split_shared_prefix(chosen, rejected, loc)
    text, messages = _prompt(turns, loc)
    record = Record(location=loc, prompt_text=text, prompt_messages=messages)
    chosen_in_b = seeded_coin("hh-sides", response_hash(chosen_text), response_hash(rejected_text))
    text_a, text_b = (rejected_text, chosen_text) if chosen_in_b else (chosen_text, rejected_text)
    pair = _pair_of_texts(record, text_a, text_b, f"import:{ctx.source}", f"import:{ctx.source}")
    if pair is not None:
        pair.metadata = {"chosen_side": "b" if chosen_in_b else "a"}
        pair.ai.append(
            AILabel(
                judge=f"source:{ctx.source}",
                verdict=1 if chosen_in_b else -1,
                kind="source",
                strength_known=False,
                raw_value="chosen",
                raw_scale="hh",
            )
        )
    return record


# --- ultrafeedback ------------------------------------------------------------------


def _rating(value: Any) -> float | None:
    """UltraFeedback ratings are strings like "4"; "N/A" means not rated."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, (int, float)):
            rating = float(value)
        elif isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
            rating = float(value)
        else:
            return None
    except OverflowError:  # an integer beyond any float: out of range, like inf
        return math.inf
    return rating


def aspect_mean(ratings: dict[str, float | None]) -> float | None:
    """m(y): the mean of the available aspects, null with fewer than 3 of 4 (methods.md §1)."""
    values = [v for v in ratings.values() if v is not None]
    if len(values) < 3:
        return None
    return sum(values) / len(values)


def score_to_verdict(delta: float, t_tie: float = 0.0, t_much: float = 1.0) -> int:
    """Δ = score(B) − score(A) as a verdict (methods.md §1)."""
    magnitude = abs(delta)
    sign = (delta > 0) - (delta < 0)
    if magnitude <= t_tie:
        return 0
    if magnitude < t_much:
        return sign
    return 2 * sign


def parse_ultrafeedback(raw: Any, loc: str, ctx: Context) -> Record:
    raw = _object(raw, loc)
    instruction = _string(raw, "instruction", loc, allow_empty=False)
    completions = raw.get("completions")
    if not isinstance(completions, list):
        raise RecordError(loc, "completions", "missing (a list of rated completions)")
    record = Record(
        location=loc,
        prompt_text=instruction,
        category=str(raw.get("source") or ""),
        prompt_metadata={k: raw[k] for k in ("correct_answers", "incorrect_answers") if k in raw},
    )
    judge = f"ultrafeedback:{ctx.source}"
    means: list[tuple[int, float | None]] = []
    seen: set[str] = set()
    for i, completion in enumerate(completions):
        field_name = f"completions[{i}]"
        completion = _object(completion, f"{loc}, field '{field_name}'")
        text = completion.get("response")
        if not isinstance(text, str):
            raise RecordError(loc, f"{field_name}.response", "missing")
        if response_hash(text) in seen:
            record.skipped.append("duplicate completion")
            continue
        seen.add(response_hash(text))
        record.responses.append(
            ResponseRecord(text=text, producer=str(completion.get("model") or f"import:{ctx.source}"))
        )
        index = len(record.responses) - 1
        annotations = completion.get("annotations") or {}
        if not isinstance(annotations, dict):
            raise RecordError(loc, f"{field_name}.annotations", "must be an object")
        ratings: dict[str, float | None] = {}
        for aspect in ULTRAFEEDBACK_ASPECTS:
            annotation = annotations.get(aspect)
            if annotation is None:
                continue
            if isinstance(annotation, list):  # some releases wrap it in a list
                annotation = annotation[0] if annotation else {}
            if not isinstance(annotation, dict):
                raise RecordError(loc, f"{field_name}.annotations.{aspect}", "must be an object")
            value = _rating(annotation.get("Rating"))
            ratings[aspect] = value
            if value is not None and not 1 <= value <= 5:
                raise RecordError(loc, f"{field_name}.annotations.{aspect}.Rating", "must be in 1..5")
            record.scores.append(
                ScoreRecord(
                    response=index,
                    judge=judge,
                    aspect=aspect,
                    value=value,
                    rationale=str(annotation.get("Rationale") or ""),
                )
            )
        mean = aspect_mean(ratings)
        if mean is None and _rating(completion.get("fine-grained_score")) is not None:
            mean = _rating(completion.get("fine-grained_score"))
        means.append((index, mean))
    rated = [(i, m) for i, m in means if m is not None]
    for x in range(len(rated)):
        for y in range(x + 1, len(rated)):
            (ia, ma), (ib, mb) = rated[x], rated[y]
            record.pairs.append(
                PairRecord(
                    a=ia,
                    b=ib,
                    metadata={"score_a": ma, "score_b": mb},
                    ai=[
                        AILabel(
                            judge=judge,
                            verdict=score_to_verdict(mb - ma),
                            kind="ai",
                            method="rate_aspects",
                            position_consistent=True,  # pointwise: no position to favour
                            raw_value=f"{ma:.3f} vs {mb:.3f}",
                            raw_scale="ultrafeedback-mean",
                        )
                    ],
                )
            )
    return record


# --- csv ----------------------------------------------------------------------------


def parse_csv(raw: Any, loc: str, ctx: Context) -> Record:
    for key in ("prompt", "response_a", "response_b"):
        if key not in raw:
            raise RecordError(loc, key, "missing column (csv needs prompt,response_a,response_b)")
    text = raw["prompt"]
    if not text or not text.strip():
        raise RecordError(loc, "prompt", "must not be empty")
    category = (raw.get("category") or "").strip()
    record = Record(location=loc, prompt_text=text, category=category)
    pair = _pair_of_texts(
        record, raw["response_a"], raw["response_b"], f"import:{ctx.source}", f"import:{ctx.source}"
    )
    verdict_cell = (raw.get("verdict") or "").strip()
    annotator = (raw.get("annotator") or "").strip()
    if pair is None:
        return record
    pair.external_id = (raw.get("id") or "").strip()
    if verdict_cell:
        verdict = parse_verdict(verdict_cell, loc, "verdict")
        if annotator:
            pair.human.append(HumanLabel(annotator=annotator, verdict=verdict, rationale=raw.get("rationale") or ""))
        else:
            pair.ai.append(AILabel(judge=f"source:{ctx.source}", verdict=verdict, kind="source"))
    elif annotator:
        raise RecordError(loc, "verdict", "missing (an annotator is named)")
    return record


# --- detection ----------------------------------------------------------------------

PARSERS: dict[str, Callable[[Any, str, Context], Record]] = {
    "concord": parse_concord,
    "llmbar": parse_llmbar,
    "pandalm": parse_pandalm,
    "trl": parse_trl,
    "ultrafeedback": parse_ultrafeedback,
    "hh": parse_hh,
    "csv": parse_csv,
}

FORMATS = tuple(PARSERS)


def detect_format(first: Any, container: str) -> str:
    """The format of a file from its first record."""
    if container == "csv":
        return "csv"
    if not isinstance(first, dict):
        raise RecordError("record 0", None, "cannot detect the format: the first record is not a JSON object")
    keys = set(first)
    if {"input", "output_1", "output_2", "label"} <= keys:
        return "llmbar"
    if {"instruction", "response1", "response2"} <= keys:
        return "pandalm"
    if {"instruction", "completions"} <= keys:
        return "ultrafeedback"
    if {"chosen", "rejected"} <= keys:
        if "prompt" not in keys and isinstance(first["chosen"], str):
            return "hh"
        return "trl"
    if "prompt" in keys:
        return "concord"
    raise RecordError(
        "record 0",
        None,
        f"cannot detect the format from the first record's keys ({', '.join(sorted(keys)) or 'none'}); "
        f"pass --format, one of {', '.join(FORMATS)}",
    )
