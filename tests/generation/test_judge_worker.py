"""A real SmolLM2 judge run through a real Celery worker (the pairwise checklist judge)."""
import pytest
from django.core.management import call_command

from curation import services
from curation.models import GenerationJob, Judgment, LLMCall
from generation.jobs import job_start
from tests.factories import PairFactory, PromptFactory, ResponseFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PAIRS = [
    ("What is the capital of France?", "Paris.", "The capital of France is Berlin."),
    ("Name a colour.", "Blue.", "I like turtles."),
]


def test_real_smollm2_pairwise_checklist_judge_through_a_worker(project, celery_worker, settings):
    call_command("prepare_model", verbosity=0)
    services.judge_configs_ensure_defaults(project=project)
    for text, a, b in PAIRS:
        prompt = PromptFactory(project=project, text=text)
        PairFactory(project=project, prompt=prompt, response_a=ResponseFactory(prompt=prompt, text=a),
                    response_b=ResponseFactory(prompt=prompt, text=b))
    job = job_start(project=project, method="judge", params={"judge": "pairwise-checklist", "max_new_tokens": 24})
    worker = celery_worker(env={"CONCORD_BACKEND": "transformers", "CONCORD_MODEL_PATH": settings.CONCORD_MODEL_PATH})
    job = worker.wait_for_job(job, timeout=240)
    assert job.state == GenerationJob.State.DONE, job.error
    judgments = Judgment.objects.filter(judge_config__name="pairwise-checklist", pair__project=project)
    assert judgments.count() == len(PAIRS)
    for judgment in judgments:
        # Option scoring always yields a verdict and a confidence, even from a 135M model.
        assert judgment.parse_ok and judgment.verdict in range(-2, 3)
        assert 0 < judgment.confidence <= 1 and -2 <= judgment.expected_verdict <= 2
        assert judgment.position_consistent in (True, False)
        assert [run["shown_order"] for run in judgment.runs] == ["AB", "BA"]
        for run in judgment.runs:
            assert run["verdict"] in range(-2, 3) and sum(run["probabilities"]) == pytest.approx(1)
            assert LLMCall.objects.get(pk=run["llm_call"]).backend == "transformers"
            assert LLMCall.objects.get(pk=run["score_llm_call"]).kind == "score"
        assert judgment.llm_calls.filter(error="").count() == judgment.llm_calls.count() >= 4
