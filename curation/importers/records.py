"""The normalised shape every import format is parsed into before anything is written."""
from dataclasses import dataclass, field


class RecordError(Exception):
    """A record that cannot be imported. ``location`` names the line or record index."""

    def __init__(self, location: str, field_name: str | None, message: str):
        self.location = location
        self.field_name = field_name
        self.message = message
        where = f"{location}, field '{field_name}'" if field_name else location
        super().__init__(f"{where}: {message}")


@dataclass
class HumanLabel:
    annotator: str
    verdict: int | None
    rationale: str = ""
    aspects: dict = field(default_factory=dict)
    checklist_answers: dict = field(default_factory=dict)
    strength_known: bool = True
    raw_value: str = ""
    raw_scale: str = ""
    shown_order: str = ""
    mode: str = "imported"
    time_spent_ms: int | None = None
    is_revision: bool = False
    flags: list = field(default_factory=list)
    context: str = ""
    used_assistance: bool = False


@dataclass
class AILabel:
    judge: str
    verdict: int | None
    kind: str = "ai"  # ai | source | construction
    method: str = "imported"
    rationale: str = ""
    confidence: float | None = None
    parse_ok: bool = True
    strength_known: bool = True
    raw_value: str = ""
    raw_scale: str = ""
    aspects: dict = field(default_factory=dict)
    runs: list = field(default_factory=list)
    flags: list = field(default_factory=list)
    position_consistent: bool | None = None
    length_rule_applied: bool = False
    verdict_before_length_rule: int | None = None
    expected_verdict: float | None = None
    checklist_answers: dict = field(default_factory=dict)
    context: str = ""
    # How to create the judge config when the project has none of this name.
    model: str = ""
    backend: str = ""
    template_version: str = ""
    params: dict = field(default_factory=dict)


@dataclass
class AdjudicationLabel:
    verdict: int
    source: str  # review | mark_gold | import
    note: str = ""
    source_detail: str = ""
    reviewer: str = ""


@dataclass
class ResponseRecord:
    text: str
    producer: str
    producer_kind: str = "import"
    params: dict = field(default_factory=dict)
    conditioning: dict = field(default_factory=dict)
    n_tokens: int | None = None
    finish_reason: str = ""


@dataclass
class PairRecord:
    a: int  # index into Record.responses
    b: int
    external_id: str = ""
    metadata: dict = field(default_factory=dict)
    origin: str = ""
    flags: list = field(default_factory=list)
    ensemble_mu: float | None = None
    ensemble_sigma: float | None = None
    human: list[HumanLabel] = field(default_factory=list)
    ai: list[AILabel] = field(default_factory=list)
    adjudications: list[AdjudicationLabel] = field(default_factory=list)


@dataclass
class ScoreRecord:
    response: int  # index into Record.responses
    judge: str
    aspect: str
    value: float | None
    rationale: str = ""
    expected: float | None = None


@dataclass
class RubricRecord:
    kind: str
    version: int
    items: list
    text: str = ""
    origin: str = "import"
    task_type: str = ""


@dataclass
class Record:
    location: str
    prompt_text: str
    prompt_messages: list[dict] | None = None
    category: str = ""
    prompt_metadata: dict = field(default_factory=dict)
    prompt_external_id: str = ""
    prompt_origin: str = ""
    responses: list[ResponseRecord] = field(default_factory=list)
    pairs: list[PairRecord] = field(default_factory=list)
    scores: list[ScoreRecord] = field(default_factory=list)
    rubrics: list[RubricRecord] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
