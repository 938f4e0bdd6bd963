"""Reading a judge's own text: checklists, checklist answers, rubric plans.

Every parser reads only the judge's output and returns nothing (None or an empty
result) rather than guessing: a checklist that is not a JSON list of questions is
no checklist.
"""
from __future__ import annotations

import json
import re

MAX_CHECKLIST_ITEMS = 10


def parse_checklist(output: str) -> list[str] | None:
    """The last JSON list of non-empty strings in a checklist call's output, at most 10
    of them; None when there is none."""
    decoder = json.JSONDecoder()
    found = None
    for start, char in enumerate(output):
        if char != "[":
            continue
        try:
            value, _ = decoder.raw_decode(output, start)
        except ValueError:
            continue
        if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
            found = [v.strip()[:500] for v in value[:MAX_CHECKLIST_ITEMS]]
    return found


_ANSWER_LINE = re.compile(
    r"^\s*Q?(\d+)\s*[:.)]\s*Response\s*1\s*[:=-]?\s*(yes|no)\b\W*Response\s*2\s*[:=-]?\s*(yes|no)\b",
    re.IGNORECASE,
)


def parse_checklist_answers(output: str, n_questions: int, shown_order: str) -> dict[str, dict[str, bool]] | None:
    """Lines ``Q<n>: Response 1 yes, Response 2 no`` → ``{"n": {"A": True, "B": False}}``
    in stored sides (shown first = B when the order was BA); None when no line matches."""
    answers: dict[str, dict[str, bool]] = {}
    for line in output.splitlines():
        match = _ANSWER_LINE.match(line)
        if not match or not 1 <= int(match.group(1)) <= n_questions:
            continue
        first, second = match.group(2).lower() == "yes", match.group(3).lower() == "yes"
        a, b = (second, first) if shown_order == "BA" else (first, second)
        answers[str(int(match.group(1)))] = {"A": a, "B": b}
    return answers or None


_TYPE_LINE = re.compile(r"^\W*type\s*:\s*\**\s*(chat|reasoning)\b", re.IGNORECASE | re.MULTILINE)
_RUBRIC_LINE = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s*(.+?)\s*\|\s*weight\s*:?\s*(\d+(?:\.\d+)?)\s*(?:\|\s*(.*))?$", re.IGNORECASE)
_FINAL_ANSWER = re.compile(r"final answer\s*:", re.IGNORECASE)


def parse_rubric_plan(output: str) -> dict | None:
    """Call 1 of rubric-then-judge: ``{"task_type": "chat", "items": [{"text", "weight",
    "why"}]}`` with weights normalised to sum 1, or ``{"task_type": "reasoning",
    "text": solution}``; None when neither form is there."""
    types = _TYPE_LINE.findall(output)
    task_type = types[-1].lower() if types else ("reasoning" if _FINAL_ANSWER.search(output) else "")
    if task_type == "reasoning":
        solution = output.strip()
        return {"task_type": "reasoning", "text": solution} if _FINAL_ANSWER.search(solution) else None
    items = []
    for line in output.splitlines():
        match = _RUBRIC_LINE.match(line)
        if match and float(match.group(2)) > 0:
            items.append({"text": match.group(1).strip()[:500], "weight": float(match.group(2)),
                          "why": (match.group(3) or "").strip()[:500]})
    if not items:
        return None
    return {"task_type": "chat", "items": normalise_weights(items[:6])}


def normalise_weights(items: list[dict]) -> list[dict]:
    total = sum(item["weight"] for item in items)
    return [{**item, "weight": item["weight"] / total} for item in items]
