"""rmboost, codeclm, skillmix and contrastive_filter with a scripted backend (methods.md §2.2, 2.6, 2.7)."""
import re

import pytest

from curation.models import GenerationJob, JudgeConfig, Judgment, LLMCall, Pair, Prompt, Response, Skill
from generation.jobs import JobStartError, job_start
from generation.methods.codeclm import parse_metadata
from generation.methods.rmboost import extract_answer, intent_verdict
from generation.methods.sample import best_worst_pair
from generation.methods.skillmix import draw_combinations, parse_skills
from tests.factories import AIJudgmentFactory, PairFactory, PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db


# --- rmboost ---------------------------------------------------------------------


def test_rmboost_intent_worse_slight_new_in_slot_b_is_minus_one():
    assert intent_verdict(relation="worse", strength="slight", new_in_slot_a=False) == -1
    assert intent_verdict(relation="worse", strength="much", new_in_slot_a=True) == 2
    assert intent_verdict(relation="better", strength="much", new_in_slot_a=True) == -2
    assert intent_verdict(relation="better", strength="slight", new_in_slot_a=False) == 1


def test_extract_answer_takes_the_last_block():
    assert extract_answer("Plan: shorter.\n<answer>first</answer> <answer> second </answer>") == ("second", True)
    assert extract_answer("Plan.\n<answer>unfinished") == ("unfinished", True)
    assert extract_answer("no tags here") == ("no tags here", False)


def test_rmboost_job_stores_pair_conditioning_and_intent(project, fake_backend, run_items):
    prompt = PromptFactory(project=project, text="Explain tides.")
    reference = ResponseFactory(prompt=prompt, text="Tides come from the Moon's gravity.")
    fake_backend.script = ["I will drop the cause.\n<answer>Tides happen.</answer>"]
    job = job_start(project=project, method="rmboost", params={"seed": 7})
    assert run_items(job) == ["done"]
    new = Response.objects.get(prompt=prompt, text="Tides happen.")
    conditioning = new.conditioning
    assert conditioning["reference_id"] == reference.pk and len(conditioning["aspects"]) == 2
    assert new.parent_response == reference and conditioning["delimited"] is True
    call = LLMCall.objects.get(job=job)
    # The generation prompt holds the aspects and the reference, in a nonce-tagged block.
    assert all(aspect in call.prompt_text for aspect in conditioning["aspects"])
    assert re.search(r"<reference id=[0-9a-f]{8}>\nTides come from the Moon's gravity.\n</reference", call.prompt_text)
    pair = Pair.objects.get(prompt=prompt)
    judgment = Judgment.objects.get(pair=pair)
    assert judgment.judge_config.name == "rmboost-intent" and judgment.judge_config.kind == JudgeConfig.Kind.CONSTRUCTION
    assert not judgment.is_human
    expected = intent_verdict(relation=conditioning["relation"], strength=conditioning["strength"],
                              new_in_slot_a=pair.response_a_id == new.pk)
    assert judgment.verdict == expected
    job.refresh_from_db()
    assert job.rows_created == {"responses": 1, "pairs": 1, "judgments": 1}


# --- codeclm ---------------------------------------------------------------------


def test_parse_metadata_reads_use_case_and_skills():
    assert parse_metadata("Sure!\nUse case: trip planning\nSkills: Budgeting, geography, budgeting") == {
        "use_case": "trip planning", "skills": ["budgeting", "geography"]}
    with pytest.raises(ValueError, match="no 'Use case:' line"):
        parse_metadata("I cannot help.")


def test_codeclm_keeps_every_version_with_its_parent(project, fake_backend, run_items):
    seed = PromptFactory(project=project, text="Plan a weekend in Rome.")
    fake_backend.script = [
        "Use case: travel planning\nSkills: budgeting, scheduling",
        "Instruction: Plan a 3-day trip to Kyoto.",
        "Rubric: must include a budget.\nAction: add a budget limit of 500 euros",
        "Plan a 3-day trip to Kyoto on 500 euros.",
    ]
    job = job_start(project=project, method="codeclm", params={})
    assert run_items(job) == ["done"]
    seed.refresh_from_db()
    assert seed.metadata["codeclm"]["use_case"] == "travel planning"
    decoded = Prompt.objects.get(text="Plan a 3-day trip to Kyoto.")
    improved = Prompt.objects.get(text="Plan a 3-day trip to Kyoto on 500 euros.")
    assert decoded.parent == seed and improved.parent == decoded
    assert decoded.origin == improved.origin == "codeclm"
    assert improved.metadata["skills"] == ["budgeting", "scheduling"]
    assert improved.metadata["codeclm"]["action"] == "add a budget limit of 500 euros"
    assert [c.template_name for c in LLMCall.objects.filter(job=job).order_by("id")] == [
        "codeclm-encode", "codeclm-decode", "codeclm-self-rubric", "codeclm-improve"]


# --- skillmix --------------------------------------------------------------------


def test_parse_skills_and_reproducible_draws():
    assert parse_skills("1. **Arithmetic**: adding numbers\n- Tone control: polite\nnoise") == [
        ("arithmetic", "adding numbers"), ("tone control", "polite")]
    draws = draw_combinations([1, 2, 3, 4, 5], 2, 4, seed=3, used=set())
    assert draws == draw_combinations([5, 4, 3, 2, 1], 2, 4, seed=3, used=set())
    assert len(set(draws)) == 4 and all(len(set(c)) == 2 for c in draws)
    assert draw_combinations([1, 2, 3], 2, 10, seed=3, used={"1-2"}) == [c for c in draw_combinations([1, 2, 3], 2, 10, 3, set()) if c != (1, 2)]


def test_skillmix_extract_then_generate(project, fake_backend, run_items):
    PromptFactory(project=project, text="Write a haiku about tax law.")
    fake_backend.script = ["Poetry: writing verse\nLegal knowledge: knowing law\nPoetry: duplicate"]
    job = job_start(project=project, method="skillmix", params={"mode": "extract"})
    assert run_items(job) == ["done"]
    assert sorted(Skill.objects.values_list("name", flat=True)) == ["legal knowledge", "poetry"]
    fake_backend.script, fake_backend._position = ["Instruction: Write a sonnet on contracts.\nAnswer: Shall I compare…"], 0
    job = job_start(project=project, method="skillmix", params={"mode": "generate", "k": 2, "n": 5})
    assert job.n_items == 1  # only one unordered combination of two skills exists
    assert run_items(job) == ["done"]
    prompt = Prompt.objects.get(origin="skillmix")
    assert prompt.text == "Write a sonnet on contracts." and sorted(prompt.metadata["skills"]) == ["legal knowledge", "poetry"]
    assert prompt.responses.get().text == "Shall I compare…"
    with pytest.raises(JobStartError, match="nothing to do"):  # the combination was used
        job_start(project=project, method="skillmix", params={"mode": "generate", "k": 2})
    with pytest.raises(JobStartError, match="needs at least k=3 skills; the project has 2"):
        job_start(project=project, method="skillmix", params={"mode": "generate", "k": 3})


# --- contrastive_filter --------------------------------------------------------------


def scripted_scores(strong_scores: list[int], target_score_of):
    """A score_fn: the rated response's block decides; 'STRONG' answers get the next
    scripted score of their round, others target_score_of(round)."""
    def score(context, continuation):
        text = context[0]["content"]
        rated = int(re.search(r"Rate Response (\d)", text).group(1))
        block = re.search(rf"<response-{rated} id=\w+>\n(.*?)\n</response-{rated}", text, re.S).group(1)
        round_number = int(re.search(r"round (\d)", block).group(1))
        wanted = strong_scores[round_number - 1] if "STRONG" in block else target_score_of(round_number)
        option = int(continuation.split("/")[0])
        return [0.0 if option == wanted else -40.0]
    return score


def contrastive_script(rounds: int) -> list[str]:
    script = []
    for r in range(1, rounds + 1):
        script += [f"STRONG answer, round {r}", f"weak answer, round {r}"]
        if r < rounds:
            script += [f"Rubric.\nAction: add constraint {r}", f"Harder instruction {r}"]
    return script


def test_contrastive_filter_keeps_a_prompt_with_a_large_gap(project, fake_backend, run_items):
    prompt = PromptFactory(project=project)
    fake_backend.script = contrastive_script(1)
    fake_backend.score_fn = scripted_scores([9], lambda r: 4)
    job = job_start(project=project, method="contrastive_filter", params={})
    assert run_items(job) == ["done"]
    prompt.refresh_from_db()
    meta = prompt.metadata["contrastive_filter"]
    assert meta["kept"] is True and meta["gap"] == pytest.approx(5.0)
    assert Response.objects.get(pk=meta["sft_response_id"]).text == "STRONG answer, round 1"
    pair = Pair.objects.get(prompt=prompt)
    judgment = pair.judgments.get()
    strong_in_a = pair.response_a.text.startswith("STRONG")
    assert judgment.verdict == (-2 if strong_in_a else 2)  # 5 ≥ 2θ = 4: much better
    assert judgment.judge_config.kind == JudgeConfig.Kind.CONSTRUCTION
    assert LLMCall.objects.filter(job=job, kind="score").count() == 4  # 2 responses × 2 display orders


def test_contrastive_filter_drops_after_max_rounds(project, fake_backend, run_items):
    prompt = PromptFactory(project=project)
    fake_backend.script = contrastive_script(3)
    fake_backend.score_fn = scripted_scores([6, 6, 6], lambda r: 5)
    job = job_start(project=project, method="contrastive_filter", params={})
    assert run_items(job) == ["done"]
    last = Prompt.objects.get(text="Harder instruction 2")
    assert last.parent.text == "Harder instruction 1" and last.parent.parent == prompt
    meta = last.metadata["contrastive_filter"]
    assert meta["kept"] is False and meta["reason"] == "score gap 1.00 < theta 2 after 3 rounds"
    assert [r["round"] for r in meta["rounds"]] == [1, 2, 3]
    assert not Pair.objects.exists()
    assert GenerationJob.objects.get().rows_created == {"prompts": 2, "prompts_dropped": 1}


# --- sample best_worst -------------------------------------------------------------------


def test_best_worst_uses_mean_oriented_verdicts(project):
    prompt = PromptFactory(project=project)
    good, bad, middle = (ResponseFactory(prompt=prompt, text=t) for t in ("good", "bad", "middle"))
    AIJudgmentFactory(pair=PairFactory(project=project, prompt=prompt, response_a=good, response_b=bad), verdict=-2)
    AIJudgmentFactory(pair=PairFactory(project=project, prompt=prompt, response_a=middle, response_b=bad), verdict=-1)
    assert best_worst_pair(prompt, min_gap=0, same_producer_only=False) == [(good, bad)]
    assert best_worst_pair(prompt, min_gap=4, same_producer_only=False) == []  # gap 2 − (−1.5) = 3.5
