"""The ``judge`` job with a scripted FakeBackend: each JudgeConfig method end to end
through job_start → item_run → services, on the test database."""
import json

import pytest

from curation import services
from curation.models import Adjudication, JobItem, JudgeConfig, Judgment, LLMCall, Rubric, Score
from generation.backends.fake import FakeBackend
from generation.jobs import JobStartError, job_start
from generation.methods import METHODS
from generation.methods import base as method_base
from tests.factories import PairFactory, ResponseFactory

pytestmark = pytest.mark.django_db

CHECKLIST = json.dumps(["Does it answer the question?", "Is it correct?"])


def verdict_scores(digit: str, high: float = -0.1, low: float = -4.0) -> dict:
    """Option log-probs of one scoring call: ``digit`` (as shown) is the likely one."""
    return {d: (high if d == digit else low) for d in "12345"}


@pytest.fixture
def judged_project(project):
    services.judge_configs_ensure_defaults(project=project)
    return project


@pytest.fixture
def pair(judged_project):
    return PairFactory(project=judged_project)


def start(project, judge: str, **params):
    return job_start(project=project, method="judge", params={"judge": judge, **params})


def test_the_judge_method_is_registered_and_projects_get_the_five_default_judges(judged_project):
    assert "judge" in METHODS
    names = set(JudgeConfig.objects.filter(project=judged_project, kind="ai").values_list("name", flat=True))
    assert names == {"pairwise-checklist", "rubric-then-judge", "pointwise-aspects", "ensemble", "cdr"}


@pytest.mark.parametrize("params, message", [
    ({}, "parameter judge: required"),
    ({"judge": "nobody"}, "'nobody' does not exist in this project; active AI judges: cdr, ensemble"),
    ({"judge": "pairwise-checklist", "members": "cdr"}, "parameter members: only for an ensemble judge"),
    ({"judge": "ensemble", "members": "pairwise-checklist,ghost"}, "ghost not an AI judge"),
    ({"judge": "ensemble"}, "needs at least 3 member judges"),
])
def test_bad_parameters_are_refused_and_create_nothing(pair, params, message, fake_backend):
    with pytest.raises(JobStartError, match=message.replace("(", r"\(")):
        job_start(project=pair.project, method="judge", params=params)
    assert not Judgment.objects.exists()
    assert not pair.project.generation_jobs.exists()


def test_an_inactive_judge_is_refused(pair, fake_backend):
    JudgeConfig.objects.filter(project=pair.project, name="cdr").update(is_active=False)
    with pytest.raises(JobStartError, match="'cdr' is inactive"):
        start(pair.project, "cdr")


def test_pairwise_checklist_scores_both_orders_and_stores_one_judgment(pair, fake_backend, run_items):
    fake_backend.script = [CHECKLIST, "Q1: Response 1 yes, Response 2 no\nResponse 1 wins.", "Response 2 wins."]
    # AB: "2" (Response 1 = A slightly better); BA: "4" (Response 2 = A slightly better).
    fake_backend.score_script = [verdict_scores("2"), verdict_scores("4")]
    job = start(pair.project, "pairwise-checklist", max_new_tokens=64)
    assert run_items(job) == ["done"]
    judgment = Judgment.objects.get(pair=pair, judge_config__name="pairwise-checklist")
    assert judgment.verdict == -1 and judgment.verdict_before_length_rule == -1
    assert judgment.position_consistent is True and judgment.parse_ok and not judgment.length_rule_applied
    assert 0.9 < judgment.confidence <= 1 and -1.2 < judgment.expected_verdict < -0.8
    assert judgment.rubric.kind == Rubric.Kind.CHECKLIST and judgment.rubric.prompt_id == pair.prompt_id
    assert [item["text"] for item in judgment.rubric.items] == json.loads(CHECKLIST)
    assert judgment.checklist_answers == {"1": {"A": True, "B": False}}
    ab, ba = judgment.runs
    assert (ab["shown_order"], ab["verdict"], ab["verdict_as_shown"], ab["d"]) == ("AB", -1, -1, 2)
    assert (ba["shown_order"], ba["verdict"], ba["verdict_as_shown"], ba["d"]) == ("BA", -1, 1, 4)
    assert ba["probabilities"].index(max(ba["probabilities"])) == 1  # stored orientation: s = −1
    assert ab["rationale"].endswith("Response 1 wins.") and ba["checklist_answers"] is None
    assert judgment.llm_calls.count() == 5  # checklist, two rationales, two option scorings
    assert {ab["llm_call"], ab["score_llm_call"], ba["llm_call"], ba["score_llm_call"]} <= set(
        judgment.llm_calls.values_list("id", flat=True))
    # The verdict prompt quotes the responses in nonce-tagged blocks, in shown order.
    verdict_prompt = fake_backend.requests[1].messages[0]["content"]
    assert "<response-1 id=" in verdict_prompt and pair.response_a.text in verdict_prompt
    assert fake_backend.requests[1].stop == ("VERDICT:",) and fake_backend.requests[1].temperature == 0
    assert fake_backend.scored[-1][0][-1]["content"].endswith("VERDICT: ")
    job.refresh_from_db()
    assert job.state == "done" and job.rows_created["judgments"] == 1


def test_running_an_item_twice_creates_one_judgment(pair, fake_backend, run_items):
    fake_backend.script, fake_backend.cycle = [CHECKLIST, "a", "b"], True
    job = start(pair.project, "pairwise-checklist")
    item = JobItem.objects.get(job=job)
    run_items(job)
    calls = LLMCall.objects.count()
    JobItem.objects.filter(pk=item.pk).update(state=JobItem.State.PENDING)
    job.__class__.objects.filter(pk=job.pk).update(state="running")
    run_items(job)
    assert Judgment.objects.filter(pair=pair, judge_config__name="pairwise-checklist").count() == 1
    assert LLMCall.objects.count() == calls
    with pytest.raises(JobStartError, match="nothing to do"):  # judged pairs are not planned again
        start(pair.project, "pairwise-checklist")


def test_a_checklist_that_does_not_parse_stores_no_rubric_and_the_pair_is_judged_without_it(pair, fake_backend, run_items):
    fake_backend.script = ["1. Is it good?\n2. Is it", "first", "second"]
    fake_backend.score_script = [verdict_scores("3"), verdict_scores("3")]
    run_items(start(pair.project, "pairwise-checklist"))
    judgment = Judgment.objects.get(pair=pair)
    assert not Rubric.objects.filter(prompt=pair.prompt).exists()
    assert judgment.rubric is None and judgment.flags == ["checklist_unparsed"]
    assert judgment.aspects == {"notes": ["checklist_unparsed"]}
    assert judgment.verdict == 0 and judgment.parse_ok
    assert "checklist" not in fake_backend.requests[1].messages[0]["content"].lower()


def test_the_checklist_is_generated_once_per_prompt(judged_project, fake_backend, run_items):
    first = PairFactory(project=judged_project)
    second = PairFactory(project=judged_project, prompt=first.prompt,
                         response_a=ResponseFactory(prompt=first.prompt), response_b=ResponseFactory(prompt=first.prompt))
    fake_backend.script = [CHECKLIST, "a", "b", "c", "d"]
    run_items(start(judged_project, "pairwise-checklist"))
    assert Rubric.objects.filter(prompt=first.prompt, kind="checklist").count() == 1
    assert len(fake_backend.requests) == 5
    assert {j.rubric_id for j in Judgment.objects.filter(pair__in=[first, second])} == {
        Rubric.objects.get(prompt=first.prompt).pk}


def test_a_judgment_that_does_not_parse_has_parse_ok_false_and_no_verdict(pair, fake_backend, run_items):
    """Without log-probs: no VERDICT line even after the re-ask → no verdict is invented."""
    fake_backend.supports_score = False
    fake_backend.script = [CHECKLIST, "I like the first.", "Both fine.", "VERDICT: 2 or 4", "Hmm."]
    run_items(start(pair.project, "pairwise-checklist"))
    judgment = Judgment.objects.get(pair=pair)
    assert judgment.parse_ok is False and judgment.verdict is None and judgment.confidence is None
    assert judgment.verdict_before_length_rule is None and judgment.position_consistent is None
    assert [r["parse_ok"] for r in judgment.runs] == [False, False]
    assert [r["probabilities"] for r in judgment.runs] == [None, None]
    reasks = [r for r in fake_backend.requests[3:]]
    assert len(reasks) == 2 and all(r.temperature == pytest.approx(0.3) for r in reasks)


def test_strict_format_verdicts_without_logprobs(pair, fake_backend, run_items):
    fake_backend.supports_score = False
    fake_backend.script = [CHECKLIST, "Response 1 is a bit better.\nVERDICT: 2", "Response 2 is better.\nVERDICT: 4"]
    run_items(start(pair.project, "pairwise-checklist"))
    judgment = Judgment.objects.get(pair=pair)
    assert judgment.verdict == -1 and judgment.position_consistent and judgment.confidence == 1.0
    assert judgment.expected_verdict is None and judgment.runs[0]["rationale"] == "Response 1 is a bit better."


def test_the_length_rule_turns_a_slight_win_of_a_much_longer_response_into_a_tie(judged_project, fake_backend, run_items):
    long = ResponseFactory(text="word " * 200)
    pair = PairFactory(project=judged_project, prompt=long.prompt, response_a=long,
                       response_b=ResponseFactory(prompt=long.prompt, text="short"))
    long.prompt.project = judged_project
    long.prompt.save()
    fake_backend.script = [CHECKLIST, "a", "b"]
    fake_backend.score_script = [verdict_scores("2"), verdict_scores("4")]
    judged_project.length_rule_k = 500
    judged_project.save()
    run_items(start(judged_project, "pairwise-checklist"))
    judgment = Judgment.objects.get(pair=pair)
    assert judgment.verdict == 0 and judgment.verdict_before_length_rule == -1 and judgment.length_rule_applied


def test_rubric_then_judge_reasoning_stores_a_reference_solution(pair, fake_backend, run_items):
    fake_backend.script = ["Type: reasoning\n6 * 7 = 42\nFinal answer: 42", "A is right.", "B is wrong."]
    fake_backend.score_script = [verdict_scores("1"), verdict_scores("5")]
    run_items(start(pair.project, "rubric-then-judge"))
    judgment = Judgment.objects.get(pair=pair)
    rubric = judgment.rubric
    assert rubric.kind == Rubric.Kind.REFERENCE_SOLUTION and rubric.task_type == "reasoning"
    assert rubric.items == [] and "Final answer: 42" in rubric.text
    assert [r["rubric_id"] for r in judgment.runs] == [rubric.pk, rubric.pk]
    assert judgment.verdict == -2 and judgment.position_consistent
    assert "<reference-solution id=" in fake_backend.requests[1].messages[0]["content"]


def test_rubric_then_judge_with_an_unparsable_plan_stores_no_rubric(pair, fake_backend, run_items):
    fake_backend.script = ["I cannot decide.", "x", "y"]
    run_items(start(pair.project, "rubric-then-judge"))
    judgment = Judgment.objects.get(pair=pair)
    assert not Rubric.objects.filter(prompt=pair.prompt).exists()
    assert judgment.rubric is None and judgment.flags == ["rubric_unparsed"] and judgment.parse_ok
    assert [r["rubric_id"] for r in judgment.runs] == [None, None]


def test_rubric_then_judge_chat_rubric_has_normalised_weights(pair, fake_backend, run_items):
    fake_backend.script = ["Type: chat\n- Correct facts | weight 3 | it asks a fact\n- Polite | weight 1 | tone", "x", "y"]
    run_items(start(pair.project, "rubric-then-judge"))
    rubric = Rubric.objects.get(prompt=pair.prompt)
    assert rubric.kind == Rubric.Kind.RUBRIC and [i["weight"] for i in rubric.items] == [0.75, 0.25]
    assert Judgment.objects.get(pair=pair).rubric_id == rubric.pk


def test_pointwise_aspects_store_scores_and_derive_the_verdict(pair, fake_backend, run_items):
    fake_backend.script, fake_backend.cycle = ["Clear and correct."], True
    aspects = pair.project.aspects
    # Calls go side A's aspects, then side B's: A is rated 4, B 5 on every aspect.
    fake_backend.score_script = [verdict_scores("4")] * len(aspects) + [verdict_scores("5")] * len(aspects)
    run_items(start(pair.project, "pointwise-aspects"))
    judgment = Judgment.objects.get(pair=pair)
    scores = Score.objects.filter(judge_config=judgment.judge_config)
    assert scores.count() == 2 * len(aspects)
    assert set(scores.filter(response=pair.response_a).values_list("value", flat=True)) == {4}
    assert all(s.rationale == "Clear and correct." and len(s.probabilities) == 5 for s in scores)
    assert judgment.aspects["m"] == {"A": 4, "B": 5} and judgment.verdict == 2  # Δ = 1 ≥ t_much


def test_pointwise_aspects_without_logprobs_parse_the_rating_line(pair, fake_backend, run_items):
    fake_backend.supports_score = False
    fake_backend.script = ["Fine.\nRating: 3"] * 4 + ["Better.\nrating: 4/5"] * 4
    run_items(start(pair.project, "pointwise-aspects"))
    judgment = Judgment.objects.get(pair=pair)
    assert judgment.aspects["m"] == {"A": 3, "B": 4} and judgment.verdict == 2


def test_pointwise_aspects_with_unparsable_ratings_give_no_verdict(pair, fake_backend, run_items):
    fake_backend.supports_score = False
    fake_backend.script, fake_backend.cycle = ["Rating: 4 or 5"], True
    run_items(start(pair.project, "pointwise-aspects"))
    judgment = Judgment.objects.get(pair=pair)
    assert judgment.parse_ok is False and judgment.verdict is None
    assert not Score.objects.filter(parse_ok=True).exists()


def test_cdr_scores_exactly_the_response_tokens_under_both_models(pair, monkeypatch, settings, run_items):
    settings.CONCORD_BACKEND = "fake"
    per_char = {"strong": -0.1, "weak": -0.25}
    backends = {name: FakeBackend(name, score_fn=lambda ctx, text, lp=lp: [lp] * len(text)) for name, lp in per_char.items()}
    monkeypatch.setattr(method_base, "get_backend", lambda model=None: backends[model])
    JudgeConfig.objects.filter(project=pair.project, name="cdr").update(params={"strong_model": "strong", "weak_model": "weak"})
    run_items(start(pair.project, "cdr"))
    judgment = Judgment.objects.get(pair=pair)
    for response in (pair.response_a, pair.response_b):
        score = Score.objects.get(response=response, aspect="cdr")
        n = len(response.text)
        assert score.details["n_tokens"] == n  # one log-prob per token of y, none of the prompt
        assert score.value == pytest.approx(0.15 * n)
        assert score.details["strong_logprob"] == pytest.approx(-0.1 * n)
    for backend in backends.values():
        contexts = [context for context, _ in backend.scored]
        assert [text for _, text in backend.scored] == [pair.response_a.text, pair.response_b.text]
        assert contexts[0] == [{"role": "user", "content": pair.prompt.text}]
    expected = (len(pair.response_b.text) > len(pair.response_a.text)) - (len(pair.response_b.text) < len(pair.response_a.text))
    assert judgment.verdict == expected and judgment.parse_ok


def _member_judgments(pair, verdicts):
    for name, verdict in zip(("pairwise-checklist", "rubric-then-judge", "pointwise-aspects"), verdicts):
        services.judgment_record_ai(pair=pair, judge_config=JudgeConfig.objects.get(project=pair.project, name=name),
                                    verdict=verdict, parse_ok=True)


def _gold(pair, verdict):
    Adjudication.objects.create(project=pair.project, pair=pair, verdict=verdict, source="import")
    services.pairs_refresh(pair_ids=[pair.pk])


def test_ensemble_flags_mislabeled_and_ambiguous_pairs(judged_project, fake_backend, run_items):
    mislabeled, ambiguous, unjudged = (PairFactory(project=judged_project) for _ in range(3))
    _gold(mislabeled, +1)  # gold says B; the members say A: oriented (−2, −1, −2)
    _gold(ambiguous, -1)  # gold says A; oriented (1, −1, 1)
    _member_judgments(mislabeled, (-2, -1, -2))
    _member_judgments(ambiguous, (-1, 1, -1))
    job = start(judged_project, "ensemble")
    assert job.n_items == 2  # the pair without member verdicts is not planned
    assert job.params["members"] == ["pairwise-checklist", "pointwise-aspects", "rubric-then-judge"]
    run_items(job)
    first = Judgment.objects.get(pair=mislabeled, judge_config__name="ensemble")
    assert first.flags == ["likely_mislabeled"] and first.verdict == -2
    assert first.aspects["ensemble"]["mu"] == pytest.approx(-5 / 3)
    second = Judgment.objects.get(pair=ambiguous, judge_config__name="ensemble")
    assert second.flags == ["ambiguous"] and second.aspects["ensemble"]["sigma"] == pytest.approx((4 / 3) ** 0.5)
    assert not Judgment.objects.filter(pair=unjudged).exists()
    assert fake_backend.requests == []  # the ensemble makes no model call


def _cdr_judgment(pair, name, delta):
    judge, _ = JudgeConfig.objects.get_or_create(project=pair.project, name=name, defaults={
        "kind": JudgeConfig.Kind.AI, "method": JudgeConfig.Method.CDR})
    services.judgment_record_ai(pair=pair, judge_config=judge, verdict=(delta > 0) - (delta < 0), parse_ok=True,
                                aspects={"cdr": {"A": 0.0, "B": delta, "delta": delta}})


def test_ensemble_of_scorers_scales_each_difference_by_its_spread(judged_project, fake_backend, run_items):
    pairs = [PairFactory(project=judged_project) for _ in range(3)]
    # Scorer x has differences (2, 4, −6) over the project: sd 5.29; y: (0.1, 0.3, −0.4), sd 0.36;
    # z: (−1, 2, 3), sd 2.08.
    for name, deltas in {"x": (2.0, 4.0, -6.0), "y": (0.1, 0.3, -0.4), "z": (-1.0, 2.0, 3.0)}.items():
        for pair, delta in zip(pairs, deltas):
            _cdr_judgment(pair, name, delta)
    _gold(pairs[0], -1)  # gold says A; every scorer but z favours B: evidence (−0.38, −0.28, +0.48)
    job = start(judged_project, "ensemble", members="x,y,z", limit=1)
    assert job.params["scorer_sd"]["x"] == pytest.approx(28 ** 0.5)
    run_items(job)
    judgment = Judgment.objects.get(pair=pairs[0], judge_config__name="ensemble")
    entries = {m["judge"]: m for m in judgment.aspects["ensemble"]["members"]}
    assert entries["x"]["kind"] == "scorer" and entries["x"]["evidence"] == pytest.approx(-2.0 / 28 ** 0.5)
    assert entries["y"]["evidence"] == pytest.approx(-0.1 / job.params["scorer_sd"]["y"])
    assert judgment.aspects["ensemble"]["units"] == "scorer"
    assert entries["z"]["evidence"] == pytest.approx(1.0 / job.params["scorer_sd"]["z"])
    # μ = (−0.378 − 0.277 + 0.480) / 3 = −0.058: in verdict units that is merely ambiguous,
    # in scorer units any negative mean is a likely mislabel.
    assert judgment.aspects["ensemble"]["mu"] == pytest.approx(sum(e["evidence"] for e in entries.values()) / 3)
    assert judgment.aspects["ensemble"]["mu"] == pytest.approx(-0.058, abs=0.001)
    assert judgment.flags == ["likely_mislabeled"]


def test_a_named_scorer_without_spread_is_refused_and_a_default_one_left_out(judged_project, fake_backend):
    pairs = [PairFactory(project=judged_project) for _ in range(2)]
    for pair in pairs:
        _cdr_judgment(pair, "cdr", 0.0)  # strong = weak: every ratio is 0
        _member_judgments(pair, (-1, -1, 1))
    with pytest.raises(JobStartError, match="the scores of cdr have no spread"):
        start(judged_project, "ensemble", members="cdr,pairwise-checklist,rubric-then-judge")
    job = start(judged_project, "ensemble")
    assert job.params["members"] == ["pairwise-checklist", "pointwise-aspects", "rubric-then-judge"]
    assert job.params["scorer_sd"] == {}


def test_rubric_then_judge_single_call_keeps_each_orders_plan_on_its_run(pair, fake_backend, run_items):
    JudgeConfig.objects.filter(project=pair.project, name="rubric-then-judge").update(
        params={"swap": True, "single_call": True, "max_new_tokens": 1024})
    fake_backend.script = ["Type: chat\n- Correct | weight 3 | facts\n- Short | weight 1 | asked\nA is right.",
                           "Type: chat\n- Correct | weight 1 | facts\nB is wrong."]
    fake_backend.score_script = [verdict_scores("1"), verdict_scores("5")]
    run_items(start(pair.project, "rubric-then-judge"))
    judgment = Judgment.objects.get(pair=pair)
    assert len(fake_backend.requests) == 2  # one generation per order, no separate rubric call
    assert "Type: chat" in fake_backend.requests[0].messages[0]["content"]
    assert not Rubric.objects.filter(prompt=pair.prompt).exists() and judgment.rubric is None
    plans = [r["rubric_plan"] for r in judgment.runs]
    assert [i["weight"] for i in plans[0]["items"]] == [0.75, 0.25] and len(plans[1]["items"]) == 1
    assert [r["rubric_id"] for r in judgment.runs] == [None, None]
    assert judgment.flags == ["rubric_differs"] and judgment.verdict == -2 and judgment.position_consistent


def test_rubric_then_judge_single_call_without_a_plan_is_flagged(pair, fake_backend, run_items):
    JudgeConfig.objects.filter(project=pair.project, name="rubric-then-judge").update(params={"single_call": True})
    fake_backend.script = ["A is better.", "B is worse."]
    fake_backend.score_script = [verdict_scores("2"), verdict_scores("4")]
    run_items(start(pair.project, "rubric-then-judge"))
    judgment = Judgment.objects.get(pair=pair)
    assert judgment.flags == ["rubric_unparsed"] and judgment.verdict == -1 and judgment.parse_ok


def test_judgment_record_ai_is_idempotent_and_refuses_an_invented_verdict(pair):
    judge = JudgeConfig.objects.get(project=pair.project, name="pairwise-checklist")
    first, created = services.judgment_record_ai(pair=pair, judge_config=judge, verdict=1, parse_ok=True)
    again, created_again = services.judgment_record_ai(pair=pair, judge_config=judge, verdict=-2, parse_ok=True)
    assert created and not created_again and again.pk == first.pk and again.verdict == 1
    with pytest.raises(ValueError, match="did not parse has no verdict"):
        services.judgment_record_ai(pair=PairFactory(project=pair.project), judge_config=judge, verdict=1, parse_ok=False)


@pytest.mark.django_db(transaction=False)
def test_demo_jobs_judges_a_few_demo_pairs_after_the_sample_job(fake_backend, run_items, settings, tmp_path,
                                                               django_capture_on_commit_callbacks, capsys):
    from django.core.management import call_command

    from curation.models import GenerationJob

    settings.VAR_DIR = tmp_path
    call_command("setup_demo")
    call_command("demo_jobs")
    sample = GenerationJob.objects.get()
    assert sample.params["then"] == {"method": "judge", "params": {
        "judge": "pairwise-checklist", "limit": 4, "max_new_tokens": 96}}
    with django_capture_on_commit_callbacks(execute=True):
        run_items(sample)
    judge_job = GenerationJob.objects.get(method="judge")
    assert judge_job.n_items == 4 and judge_job.params["max_new_tokens"] == 96
    run_items(judge_job)
    judged = Judgment.objects.filter(judge_config__name="pairwise-checklist", pair__project__slug="demo")
    assert judged.count() == 4 and all(len(j.runs) == 2 for j in judged)
    call_command("demo_jobs")  # pairs and a judge job exist: nothing more
    assert GenerationJob.objects.count() == 2 and "nothing queued" in capsys.readouterr().out


def test_demo_jobs_starts_the_judge_job_when_the_demo_already_has_pairs(judged_project, fake_backend, capsys):
    from django.core.management import call_command

    PairFactory(project=judged_project)
    call_command("demo_jobs", "--project", judged_project.slug)
    assert judged_project.generation_jobs.get().method == "judge"
    assert "queued judge job" in capsys.readouterr().out
