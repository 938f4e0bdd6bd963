"""The sample method with a scripted backend (methods.md §2.1)."""
import pytest

from curation.models import GenerationJob, LLMCall, Pair, Response
from generation.jobs import job_start
from tests.factories import PromptFactory

pytestmark = pytest.mark.django_db


def test_four_outputs_two_identical_give_three_responses_three_pairs(project, fake_backend, run_items):
    prompt = PromptFactory(project=project)
    fake_backend.script = ["Same answer.", "Other answer.", "Same   answer.", "Third answer."]
    job = job_start(project=project, method="sample", params={"n": "4", "pairing": "all"})
    assert run_items(job) == ["done"]
    assert Response.objects.filter(prompt=prompt).count() == 3
    assert Pair.objects.filter(prompt=prompt).count() == 3
    job.refresh_from_db()
    assert job.state == GenerationJob.State.DONE
    assert job.rows_created == {"responses": 3, "pairs": 3}
    assert LLMCall.objects.filter(job=job).count() == 4
