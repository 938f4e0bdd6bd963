"""One selected pair as the format writers see it: its label, chosen and rejected
sides, agreement and split, plus helpers for the rationales some formats carry."""
import re
from dataclasses import dataclass

from curation.consensus import sign
from curation.models import Adjudication, Judgment

# methods.md §1: export s → HelpSteer2-Preference strength h.
HELPSTEER2_STRENGTH = {-2: -3, -1: -1, 0: 0, 1: 1, 2: 3}

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class SkipPair(Exception):
    """This pair cannot be written in this format (counted in the dataset card)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass(slots=True)
class ExportItem:
    row: dict
    agreement: float | None
    split: str
    # Chosen = A if s < 0, B if s > 0; a kept tie keeps the stored order.
    chosen_is_a: bool = True

    @classmethod
    def of(cls, row: dict, agreement: float | None, split: str) -> "ExportItem":
        return cls(row, agreement, split, (row["label_verdict"] or 0) <= 0)

    @property
    def pair_id(self) -> int:
        return self.row["id"]

    @property
    def label(self) -> int | None:
        return self.row["label_verdict"]

    @property
    def chosen(self) -> str:
        return self.row["response_a__text"] if self.chosen_is_a else self.row["response_b__text"]

    @property
    def rejected(self) -> str:
        return self.row["response_b__text"] if self.chosen_is_a else self.row["response_a__text"]

    @property
    def prompt_text(self) -> str:
        return self.row["prompt__text"]

    @property
    def conversation(self) -> list[dict]:
        """The prompt as messages, ending with the user turn."""
        messages = self.row["prompt__messages"]
        if messages:
            return [{"role": m["role"], "content": m["content"]} for m in messages]
        return [{"role": "user", "content": self.prompt_text}]

    @property
    def is_multi_turn(self) -> bool:
        messages = self.row["prompt__messages"]
        return bool(messages) and len(messages) > 1

    def extras(self) -> dict:
        row = self.row
        return {"pair_id": row["id"], "label_source": row["label_source"], "tier": row["tier"], "agreement": self.agreement}


def split_rationale(text: str) -> tuple[str, str]:
    """First sentence and the rest (HelpSteer2's statement and elaboration)."""
    text = (text or "").strip()
    if not text:
        return "", ""
    parts = SENTENCE_END.split(text, maxsplit=1)
    return parts[0].strip(), (parts[1].strip() if len(parts) > 1 else "")


def first_human_records(judgments: list[Judgment]) -> list[Judgment]:
    return [j for j in judgments if j.is_human and not j.is_revision and j.verdict is not None]


def best_rationale(item: ExportItem, judgments: list[Judgment], adjudications: list[Adjudication]) -> tuple[str, str]:
    """The best rationale for the label and where it came from (methods.md §2.12):
    a human's whose verdict agrees with the label, else the final adjudication's note,
    else an AI judge's whose verdict agrees. ("", "") when there is none."""
    label_sign = sign(item.label or 0)
    for judgment in first_human_records(judgments):
        if judgment.rationale.strip() and sign(judgment.verdict) == label_sign:
            return judgment.rationale, "human"
    if adjudications and adjudications[-1].note.strip():
        return adjudications[-1].note, "adjudication"
    for judgment in judgments:
        if (
            not judgment.is_human
            and judgment.verdict is not None
            and judgment.rationale.strip()
            and sign(judgment.verdict) == label_sign
        ):
            return judgment.rationale, "ai"
    return "", ""
