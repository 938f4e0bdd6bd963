"""AI judgments as the pair page shows them: each run with its checklist answers set
against the items of the checklist or rubric the judgment refers to.

Everything here reads stored JSON written from model output, so nothing is trusted:
unexpected shapes are shown as plain text (the template escapes it), never dropped
silently and never turned into an answer the model did not give.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .models import Judgment

SHOWN_ORDERS = {"ab": "A left, B right", "ba": "B left, A right"}
ANSWER_WORDS = {True: "yes", False: "no", "yes": "yes", "no": "no", "true": "yes", "false": "no"}


def _answer_word(value) -> str:
    key = value.strip().lower() if isinstance(value, str) else value
    if isinstance(key, bool) or key in ("yes", "no", "true", "false"):
        return ANSWER_WORDS[key]
    return str(value)


@dataclass
class ChecklistRow:
    text: str
    answer: str = ""  # one answer for the pair
    sides: dict[str, str] = field(default_factory=dict)  # or per side: {"A": "yes", "B": "no"}


def checklist_rows(items: list, answers) -> tuple[list[ChecklistRow], list[tuple[str, str]]]:
    """Rows for the rubric's items with the answers given to them (matched by the item's
    text or its 1-based number), and the answers that match no item."""
    texts = [str(item.get("text", "")) if isinstance(item, dict) else str(item) for item in items or []]
    answers = answers if isinstance(answers, dict) else ({str(i + 1): a for i, a in enumerate(answers)} if isinstance(answers, list) else {})
    used: set[str] = set()
    rows = []
    for number, text in enumerate(texts, start=1):
        key = text if text in answers else str(number) if str(number) in answers else None
        row = ChecklistRow(text=text)
        if key is not None:
            used.add(key)
            value = answers[key]
            if isinstance(value, dict):
                row.sides = {str(side): _answer_word(answer) for side, answer in value.items()}
            else:
                row.answer = _answer_word(value)
        rows.append(row)
    unmatched = [(str(key), _describe(value)) for key, value in answers.items() if key not in used]
    return rows, unmatched


def _describe(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{side}: {_answer_word(answer)}" for side, answer in value.items())
    return _answer_word(value)


@dataclass
class RunView:
    number: int
    shown_order: str
    verdict: int | None
    verdict_as_shown: int | None
    parse_ok: bool
    probabilities: list[str]
    rationale: str
    checklist: list[ChecklistRow]
    other_answers: list[tuple[str, str]]
    llm_call: object


def _int_or_none(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def runs_of(judgment: Judgment) -> list[RunView]:
    """The judgment's runs (one per judge call in one shown order), ready to show."""
    items = judgment.rubric.items if judgment.rubric_id and judgment.rubric else []
    views = []
    for number, run in enumerate(judgment.runs if isinstance(judgment.runs, list) else [], start=1):
        if not isinstance(run, dict):
            run = {"rationale": str(run)}
        order = str(run.get("shown_order") or "").lower()
        rows, other = checklist_rows(items, run.get("checklist_answers") or {})
        probabilities = run.get("probabilities") or run.get("probs") or []
        views.append(
            RunView(
                number=number,
                shown_order=SHOWN_ORDERS.get(order, order.upper() or "not recorded"),
                verdict=_int_or_none(run.get("verdict")),
                verdict_as_shown=_int_or_none(run.get("verdict_as_shown")),
                parse_ok=run.get("parse_ok", True) is not False,
                probabilities=[f"{p:.2f}" if isinstance(p, int | float) else str(p) for p in probabilities]
                if isinstance(probabilities, list)
                else [],
                rationale=str(run.get("rationale") or ""),
                checklist=rows if any(r.answer or r.sides for r in rows) else [],
                other_answers=other,
                llm_call=run.get("llm_call"),
            )
        )
    return views


def annotate_ai_judgments(judgments: list[Judgment]) -> list[Judgment]:
    """Attach ``run_views`` and the judgment-level checklist rows (no query: the rubric
    comes with the judgments)."""
    for judgment in judgments:
        judgment.run_views = runs_of(judgment)
        items = judgment.rubric.items if judgment.rubric_id and judgment.rubric else []
        judgment.checklist, judgment.other_answers = checklist_rows(items, judgment.checklist_answers or {})
    return judgments
