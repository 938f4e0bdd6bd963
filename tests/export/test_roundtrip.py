"""concord → export → import on a fresh project gives the same pairs and judgments
(stored content compared, not ids); the split puts no prompt on both sides."""
import json

import pytest

from curation import services
from curation.exports import ExportOptions, export_write
from curation.exports.selection import split_of
from curation.importers import dataset_import
from curation.models import Adjudication, Judgment, Pair, Prompt, Rubric, Score

from ..factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def snapshot(project) -> dict:
    """Everything a project holds about its data, keyed by content, never by id."""
    pairs = {p.id: p.content_hash for p in Pair.objects.filter(project=project)}
    prompts = sorted(
        (p.content_hash, p.text, json.dumps(p.messages), p.category, p.origin, p.external_id,
         json.dumps(p.metadata, sort_keys=True))
        for p in Prompt.objects.filter(project=project)
    )
    pair_rows = sorted(
        (p.content_hash, p.prompt.content_hash, p.response_a.text, p.response_b.text, p.external_id, p.origin,
         json.dumps(p.metadata, sort_keys=True), json.dumps(p.flags), p.ensemble_mu, p.ensemble_sigma, p.tier,
         p.label_verdict, p.label_source, p.consensus_verdict, p.consensus_strength, p.gold_verdict, p.gold_source,
         p.n_human_judgments,
         *[(r.producer, r.producer_kind, json.dumps(r.params, sort_keys=True), json.dumps(r.conditioning),
            r.n_tokens, r.finish_reason, r.n_chars) for r in (p.response_a, p.response_b)])
        for p in Pair.objects.filter(project=project).select_related("prompt", "response_a", "response_b")
    )
    human = sorted(
        (pairs[j.pair_id], j.annotator.name, j.verdict, j.rationale, json.dumps(j.aspects, sort_keys=True),
         json.dumps(j.checklist_answers, sort_keys=True), j.shown_order, j.mode, j.time_spent_ms, j.is_revision,
         j.revises.annotator.name if j.revises else None, j.strength_known, j.raw_value, j.raw_scale, j.context,
         j.used_assistance, json.dumps(j.flags))
        for j in Judgment.objects.filter(project=project, is_human=True).select_related("annotator", "revises__annotator")
    )
    ai = sorted(
        (pairs[j.pair_id], j.judge_config.name, j.judge_config.kind, j.judge_config.method, j.judge_config.model,
         j.judge_config.template_version, j.judge_config.backend, json.dumps(j.judge_config.params, sort_keys=True),
         j.verdict, j.rationale, j.confidence, j.expected_verdict, j.parse_ok, j.strength_known, j.raw_value,
         j.raw_scale, json.dumps(j.aspects, sort_keys=True), json.dumps(j.checklist_answers, sort_keys=True),
         json.dumps(j.runs, sort_keys=True), json.dumps(j.flags), j.position_consistent, j.length_rule_applied,
         j.verdict_before_length_rule, j.context)
        for j in Judgment.objects.filter(project=project, is_human=False).select_related("judge_config")
    )
    adjudications = sorted(
        (pairs[a.pair_id], a.verdict, a.note, a.source, a.source_detail, a.reviewer_id)
        for a in Adjudication.objects.filter(project=project)
    )
    scores = sorted(
        (s.response.prompt.content_hash, s.response.content_hash, s.judge_config.name, s.aspect, s.value, s.expected,
         s.rationale)
        for s in Score.objects.filter(project=project).select_related("response__prompt", "judge_config")
    )
    rubrics = sorted(
        (r.prompt.content_hash, r.kind, r.version, json.dumps(r.items, sort_keys=True), r.text, r.origin, r.task_type)
        for r in Rubric.objects.filter(project=project).select_related("prompt")
    )
    return {"prompts": prompts, "pairs": pair_rows, "human": human, "ai": ai, "adjudications": adjudications,
            "scores": scores, "rubrics": rubrics}


def test_concord_round_trip_loses_nothing(conversation_project, tmp_path):
    project = conversation_project
    # Work done in the app, not only imported: a reviewer's decision and a judgment
    # through the review page's write path.
    reviewer = UserFactory(username="rita")
    pair = Pair.objects.get(project=project, external_id="p-unverified")
    Adjudication.objects.create(project=project, pair=pair, reviewer=reviewer, verdict=1, note="Seven is prime.")
    user = UserFactory(username="annie")
    services.judgment_record_human(
        pair=pair, annotator=services.annotator_for_user(user=user), verdict=2, shown_order="ba", mode="blind",
        rationale="Nine is not prime.", aspects={"truthfulness": 2}, time_spent_ms=4200,
    )
    before = snapshot(project)
    assert len(before["human"]) == 8 and len(before["ai"]) >= 60 and before["scores"] and before["rubrics"]

    result = export_write(project=project, options=ExportOptions(format="concord"), output=tmp_path / "all.jsonl")
    assert result.stats.prompt_lines == 2  # the rubrics of p-adj's prompt, and the prompt without pairs
    fresh = ProjectFactory(name="Fresh", slug="fresh")
    summary = dataset_import(path=tmp_path / "all.jsonl", project=fresh, fmt="concord")
    assert summary.counts["pairs_created"] == Pair.objects.filter(project=project).count()

    after = snapshot(fresh)
    for key in before:
        assert after[key] == before[key], key


def test_split_has_no_shared_prompt_and_is_seeded(export_project, tmp_path):
    from ..factories import PairFactory, PromptFactory

    # Several pairs per prompt, so a split by pair would put prompts on both sides.
    for i in range(12):
        prompt = PromptFactory(project=export_project, text=f"Shared prompt {i}")
        for _ in range(3):
            pair = PairFactory(project=export_project, prompt=prompt)
            Adjudication.objects.create(project=export_project, pair=pair, verdict=-1 if i % 2 else 2)
            services.pairs_refresh(pair_ids=[pair.id])

    def split_prompts(seed):
        export_write(project=export_project, options=ExportOptions(format="trl", test_fraction=0.3, seed=seed),
                     output=tmp_path / f"s{seed}" / "data.jsonl")
        sides = {}
        for split in ("train", "test"):
            rows = [json.loads(line) for line in (tmp_path / f"s{seed}" / f"data.{split}.jsonl").read_text().splitlines()]
            sides[split] = {row["prompt"] for row in rows}
            assert rows
        return sides

    first = split_prompts(seed=7)
    assert not first["train"] & first["test"]
    assert split_prompts(seed=7) == first
    assert split_prompts(seed=8) != first
    # The rule of methods.md §5, by hand.
    assert split_of("ab" * 32, seed=1, test_fraction=0.5) == (
        "test" if int(__import__("hashlib").sha256(("1" + "ab" * 32).encode()).hexdigest()[:8], 16) % 10_000 < 5000
        else "train"
    )
