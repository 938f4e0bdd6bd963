"""What an export writes and which pairs it takes (methods.md §5).

The command, the export form, the admin action and the API all build one
:class:`ExportOptions` through :meth:`ExportOptions.from_dict`, so every entry point
validates the same way; the options are stored as JSON on the ExportJob and shown in
the dataset card.
"""
from dataclasses import asdict, dataclass, field, fields
from datetime import date

FORMATS = ("trl", "ultrafeedback", "helpsteer2", "hh", "openai", "concord", "csv")
TIERS = ("unverified", "silver", "gold")
MARGINS = ("abs_s", "consensus_strength", "ensemble_mu")
EXCLUDING_FLAGS = ("likely_mislabeled", "ambiguous")


class ExportError(Exception):
    """An export that cannot run or cannot finish; ``field`` names the option (or the
    pair) at fault. Nothing is left behind: partial files are removed."""

    def __init__(self, message: str, field: str | None = None, *, unavailable: bool = False):
        self.field = field
        self.message = message
        self.unavailable = unavailable  # a service (the broker) is down: try again later, not a bad option
        super().__init__(message)


@dataclass
class ExportOptions:
    format: str = "trl"
    # Which pairs. None means the format's default: concord exports everything
    # (a lossless copy of the project), the training formats silver or better.
    min_tier: str | None = None
    keep_ties: bool | None = None
    keep_flagged: bool | None = None
    min_agreement: float | None = None
    min_strength: float | None = None
    judges: list[str] = field(default_factory=list)
    annotators: list[str] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    since: date | None = None
    until: date | None = None
    # Split by prompt: test when int(sha256(seed ‖ prompt hash)[:8], 16) mod 10⁴ < fraction·10⁴.
    test_fraction: float = 0.0
    seed: int = 0
    # Shape of the rows.
    parquet: bool = False
    strict: bool = False
    margin: str | None = None
    conversational: bool = False
    implicit_prompt: bool = False
    with_rationale: bool = False
    synthetic_scores: bool = False
    include_ai_justifications: bool = False
    long: bool = False

    # -- validation ---------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict) -> "ExportOptions":
        """Options from JSON-like input (form, API, stored job); raises ExportError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ExportError(f"unknown option {unknown[0]!r}", unknown[0])
        values = {key: value for key, value in data.items() if value is not None and value != ""}
        for key in ("judges", "annotators", "origins"):
            if key in values:
                values[key] = _names(values[key], key)
        for key in ("since", "until"):
            if key in values:
                values[key] = _date(values[key], key)
        options = cls(**values)
        options.validate()
        return options

    def validate(self) -> None:
        if self.format not in FORMATS:
            raise ExportError(f"unknown format {self.format!r}; use one of {', '.join(FORMATS)}", "format")
        if self.min_tier is not None and self.min_tier not in TIERS:
            raise ExportError(f"min_tier must be one of {', '.join(TIERS)}", "min_tier")
        if self.margin is not None and self.margin not in MARGINS:
            raise ExportError(f"margin must be one of {', '.join(MARGINS)}", "margin")
        for name in ("keep_ties", "keep_flagged"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), bool):
                raise ExportError(f"{name} must be true or false", name)
        for name in (
            "parquet", "strict", "conversational", "implicit_prompt", "with_rationale",
            "synthetic_scores", "include_ai_justifications", "long",
        ):
            if not isinstance(getattr(self, name), bool):
                raise ExportError(f"{name} must be true or false", name)
        self.test_fraction = _fraction(self.test_fraction, "test_fraction", upper_open=True)
        if self.min_agreement is not None:
            self.min_agreement = _fraction(self.min_agreement, "min_agreement")
        if self.min_strength is not None:
            self.min_strength = _number(self.min_strength, "min_strength", 0.0, 2.0)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ExportError("seed must be an integer", "seed")
        if self.since and self.until and self.since > self.until:
            raise ExportError("since is after until", "since")
        if self.margin and self.format != "trl":
            raise ExportError("margin is written by the trl format only", "margin")
        if self.conversational and self.format != "trl":
            raise ExportError("conversational applies to the trl format", "conversational")
        if self.implicit_prompt and self.format != "trl":
            raise ExportError("implicit_prompt applies to the trl format", "implicit_prompt")
        if self.with_rationale and self.format != "trl":
            raise ExportError("with_rationale applies to the trl format", "with_rationale")
        if self.synthetic_scores and self.format != "ultrafeedback":
            raise ExportError("synthetic_scores applies to the ultrafeedback format", "synthetic_scores")
        if self.include_ai_justifications and self.format != "helpsteer2":
            raise ExportError("include_ai_justifications applies to the helpsteer2 format", "include_ai_justifications")
        if self.long and self.format != "csv":
            raise ExportError("long applies to the csv format", "long")

    # -- the format's defaults ------------------------------------------------------

    @property
    def everything(self) -> bool:
        """A concord export with no narrowing filter: the whole project, prompts
        without pairs included, so that re-importing it loses nothing."""
        return (
            self.format == "concord"
            and self.effective_min_tier == "unverified"
            and self.effective_keep_ties
            and self.effective_keep_flagged
            and not (self.min_agreement or self.min_strength or self.judges or self.annotators or self.origins)
            and not (self.since or self.until)
            and self.test_fraction == 0
        )

    @property
    def effective_min_tier(self) -> str:
        return self.min_tier or ("unverified" if self.format == "concord" else "silver")

    @property
    def effective_keep_ties(self) -> bool:
        return self.keep_ties if self.keep_ties is not None else self.format == "concord"

    @property
    def effective_keep_flagged(self) -> bool:
        return self.keep_flagged if self.keep_flagged is not None else self.format == "concord"

    @property
    def needs_label(self) -> bool:
        """Training formats need a chosen side; concord also carries unlabelled pairs."""
        return self.format != "concord"

    @property
    def extras_in_sidecar(self) -> bool:
        return self.strict or self.format == "openai"

    def as_dict(self) -> dict:
        data = asdict(self)
        for key in ("since", "until"):
            if data[key] is not None:
                data[key] = data[key].isoformat()
        return data

    def describe(self) -> list[str]:
        """The filters applied, one line each, for the dataset card and summaries."""
        lines = [f"minimum tier: {self.effective_min_tier}"]
        lines.append("ties kept" if self.effective_keep_ties else "ties excluded")
        lines.append(
            "flagged pairs kept" if self.effective_keep_flagged
            else f"pairs flagged {' or '.join(EXCLUDING_FLAGS)} excluded"
        )
        if self.needs_label:
            lines.append("pairs without a label, with an empty side or with identical sides excluded")
        if self.min_agreement is not None:
            lines.append(f"minimum pair agreement: {self.min_agreement:g}")
        if self.min_strength is not None:
            lines.append(f"minimum consensus strength: {self.min_strength:g}")
        for key, label in (("judges", "judged by"), ("annotators", "judged by annotator"), ("origins", "origin")):
            if getattr(self, key):
                lines.append(f"{label}: {', '.join(getattr(self, key))}")
        if self.since:
            lines.append(f"created on or after {self.since.isoformat()}")
        if self.until:
            lines.append(f"created on or before {self.until.isoformat()}")
        if self.test_fraction:
            lines.append(f"test fraction {self.test_fraction:g} by prompt, seed {self.seed}")
        return lines


def _names(value, key: str) -> list[str]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ExportError(f"{key} must be a list of names", key)
    return [v for v in value if v]


def _date(value, key: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ExportError(f"{key} must be a date (YYYY-MM-DD), got {value!r}", key)


def _number(value, key: str, low: float, high: float) -> float:
    if isinstance(value, bool):
        raise ExportError(f"{key} must be a number", key)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ExportError(f"{key} must be a number, got {value!r}", key)
    if not low <= number <= high:
        raise ExportError(f"{key} must be between {low:g} and {high:g}, got {number:g}", key)
    return number


def _fraction(value, key: str, upper_open: bool = False) -> float:
    number = _number(value, key, 0.0, 1.0)
    if upper_open and number >= 1.0:
        raise ExportError(f"{key} must be below 1 (some pairs must stay in train)", key)
    return number
