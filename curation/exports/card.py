"""The dataset card (README.md beside the data): how the pairs were verified."""
import json
from collections import Counter
from dataclasses import dataclass, field

from django.utils import timezone

from curation.models import Project

from .options import ExportOptions

LABEL_SOURCE_MEANING = {
    "adjudication": "a reviewer's decision (gold)",
    "gold_import": "an expert label imported as gold (e.g. LLMBar)",
    "human_consensus": "the majority of the human judgments at quorum (gold)",
    "ai_consensus": "agreeing, confident, position-consistent AI judges (silver)",
    "human_partial": "human judgments short of consensus (unverified)",
    "ai": "AI judges short of silver (unverified)",
    "source": "the preference stated by the imported source file (unverified)",
    "construction": "the label a generation method aimed for (unverified)",
}


@dataclass
class ExportStats:
    """Counted while the rows stream by; no second pass over the data."""

    pairs_by_tier_split: Counter = field(default_factory=Counter)
    label_sources: Counter = field(default_factory=Counter)
    origins: Counter = field(default_factory=Counter)
    producers: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    with_sources: int = 0
    agreement_sum: float = 0.0
    all_agree: int = 0
    prompt_lines: int = 0  # concord: prompt-only lines (rubrics, prompts without pairs)

    @property
    def pairs(self) -> int:
        return sum(self.pairs_by_tier_split.values())

    def count(self, written: list[tuple[dict, str, float | None]]) -> None:
        """Count a batch's written pairs: (pair row, split, agreement) each."""
        self.count_combinations(
            Counter(
                (row["tier"], split, row["label_source"], row["origin"], row["response_a__producer"],
                 row["response_b__producer"])
                for row, split, _ in written
            ),
            [agreement for _, _, agreement in written if agreement is not None],
        )

    def count_combinations(self, combinations: dict[tuple, int], agreements: list[float]) -> None:
        """Count a batch's written pairs from how many there are of each (tier, split,
        label source, origin, producer A, producer B), and their agreements (not None)."""
        # One pass over the rows (by the caller), then over the few distinct combinations
        # (a million pairs made five passes cost seconds). Each counter still sees its
        # values in the rows' order, so ties in most_common() come out as before.
        for (tier, split, source, origin, producer_a, _), n in combinations.items():
            self.pairs_by_tier_split[(tier, split)] += n
            self.label_sources[source or "none"] += n
            self.origins[origin or "unknown"] += n
            self.producers[producer_a] += n
        for (*_, producer_b), n in combinations.items():
            self.producers[producer_b] += n
        self.with_sources += len(agreements)
        self.agreement_sum += sum(agreements)
        self.all_agree += agreements.count(1.0)


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _figure(value, interval=None) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}" + (f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "")


def _project_agreement(report: dict | None) -> str:
    """Human–human and human–AI agreement over the whole project (``agreement_report``),
    with 95% bootstrap intervals over pairs."""
    if not report:
        return "## Agreement in the project\n\nNot computed."
    hh = report["human_human"]
    intervals = hh.get("intervals") or {}
    alpha = hh["krippendorff_alpha"]
    lines = [
        "## Agreement in the project",
        "",
        f"Over all {report['n_pairs']:,} pairs of the project and {report['n_human_judgments']:,} human judgments "
        f"(`manage.py agreement_report --project {report['project']}`); intervals are 95% bootstrap over pairs.",
        "",
        f"- Human–human ({hh['n_units']:,} pairs with at least two human judgments, {hh['scale'] or 'no'} scale): "
        f"Krippendorff's α ordinal {_figure(alpha['ordinal'], intervals.get('krippendorff_alpha_ordinal'))}, "
        f"nominal {_figure(alpha['nominal'], intervals.get('krippendorff_alpha_nominal'))}; "
        f"Fleiss' κ {_figure(hh['fleiss_kappa'], intervals.get('fleiss_kappa'))}; "
        f"percent agreement {_figure(hh['percent_agreement'], intervals.get('percent_agreement'))}.",
    ]
    rows = [
        [j["judge"], f"{j['n']:,}", _figure(j["cohen_kappa"], (j.get("intervals") or {}).get("cohen_kappa")),
         _figure(j["weighted_kappa_quadratic"]), _figure(j["krippendorff_alpha_ordinal"]),
         _figure(j["percent_agreement"])]
        for j in report["human_ai"]
    ]
    if rows:
        lines += ["", "Each AI judge against the first human records on the same pairs:", "",
                  _table(["judge", "n", "Cohen's κ", "weighted κ (quadratic)", "α ordinal", "percent agreement"], rows)]
    return "\n".join(lines)


def dataset_card(
    *,
    project: Project,
    options: ExportOptions,
    stats: ExportStats,
    files: list[dict],
    figures: dict,
    notes: list[str],
) -> str:
    """files: {"name", "split", "rows", "sha256", "data": bool}."""
    data_files = [f for f in files if f["data"]]
    front = ["---", f"pretty_name: {project.name} ({options.format})", "tags:", "- preference", "- concord",
             f"- {options.format}", "configs:", "- config_name: default", "  data_files:"]
    for f in data_files:
        front += [f"  - split: {f['split']}", f"    path: {f['name']}"]
    front.append("---")

    splits = [s for s in ("train", "test") if any(split == s for _, split in stats.pairs_by_tier_split)] or ["train"]
    tier_rows = []
    for tier in ("gold", "silver", "unverified"):
        counts = [stats.pairs_by_tier_split[(tier, split)] for split in splits]
        if sum(counts):
            tier_rows.append([tier, *counts, sum(counts)])
    tier_rows.append(["total", *[sum(stats.pairs_by_tier_split[(t, s)] for t in ("gold", "silver", "unverified"))
                                 for s in splits], stats.pairs])

    mean_agreement = stats.agreement_sum / stats.with_sources if stats.with_sources else None
    judge_rows = [
        [j["name"], j["kind"], j["method"], j["model"] or "—", j["template_version"] or "—", j["judgments"],
         j["parsed"], f"{_pct(j['agreement_with_human_consensus'])} (n={j['n_with_human_consensus']})",
         f"{_pct(j['agreement_with_label'])} (n={j['n_with_label']})", _pct(j["position_consistency"])]
        for j in figures["judges"]
    ]
    humans = figures["humans"]
    sections = [
        "\n".join(front),
        f"# {project.name}: {options.format} export",
        f"Exported by Concord from project `{project.slug}` on {timezone.now():%Y-%m-%d %H:%M} UTC: "
        f"{stats.pairs:,} pairs in {sum(f['rows'] for f in data_files):,} rows."
        + (f" {stats.prompt_lines:,} prompt-only lines carry rubrics and prompts without pairs."
           if stats.prompt_lines else ""),
        "## Files\n\n" + _table(
            ["file", "split", "rows", "sha256"], [[f"`{f['name']}`", f["split"], f"{f['rows']:,}", f"`{f['sha256']}`"] for f in files]
        ),
        "## Pairs by tier and split\n\n" + _table(["tier", *splits, "total"], tier_rows),
        "## Label sources\n\nLabel priority: adjudication (imported gold counts as one) > human consensus > "
        "silver AI consensus. Chosen is response A when the label is negative, B when positive.\n\n"
        + _table(["label source", "pairs", "meaning"],
                 [[s, f"{n:,}", LABEL_SOURCE_MEANING.get(s, "")] for s, n in stats.label_sources.most_common()]),
        "## Agreement\n\n"
        f"- Pair agreement (share of a pair's sources — each first human record and each AI judge — whose 3-way "
        f"label equals the final label): mean {_pct(mean_agreement)} over the {stats.with_sources:,} pairs with at "
        f"least one source; all sources agree on {stats.all_agree:,} of them."
        f"\n- Human records: {humans['judgments']:,}; agreement with the final label "
        f"{_pct(humans['agreement_with_label'])} (n={humans['n_with_label']:,})."
        "\n- Per judge, over the selected pairs (3-way sign agreement; for silver pairs the label comes from the "
        "judges themselves, so agreement with human consensus is the independent figure):\n\n"
        + (_table(["judge", "kind", "method", "model", "template", "judgments", "parsed", "vs human consensus",
                   "vs final label", "position consistency"], judge_rows) if judge_rows else "No AI judgments."),
        _project_agreement(figures.get("report")),
        "## How the pairs were made\n\n"
        + _table(["origin (import format or generation method)", "pairs"], [[o, f"{n:,}"] for o, n in stats.origins.most_common()])
        + "\n\nResponses by producer (top 10):\n\n"
        + _table(["producer", "responses"], [[p, f"{n:,}"] for p, n in stats.producers.most_common(10)]),
        "## Filters\n\n" + "\n".join(f"- {line}" for line in options.describe()),
    ]
    if stats.skipped:
        sections.append(
            "## Pairs left out after selection\n\n"
            + _table(["reason", "pairs"], [[r, f"{n:,}"] for r, n in stats.skipped.most_common()])
        )
    if notes:
        sections.append("## Notes\n\n" + "\n".join(f"- {note}" for note in notes))
    sections.append("## Options\n\n```json\n" + json.dumps(options.as_dict(), indent=2, sort_keys=True) + "\n```")
    return "\n\n".join(sections) + "\n"

