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


def test_rerunning_adds_nothing_and_grouping_does_not_change_outputs(project, fake_backend, run_items):
    from curation.hashing import seeded_coin

    PromptFactory.create_batch(3, project=project)
    first = job_start(project=project, method="sample", params={"n": 3, "pairing": "all", "seed": 5})
    run_items(first)
    texts = set(Response.objects.values_list("text", flat=True))
    assert len(texts) == 9 and Pair.objects.count() == 9
    for pair in Pair.objects.select_related("response_a", "response_b"):
        # the stored order is the seeded coin's, for the seed
        a_first = pair.response_a.llm_call_id < pair.response_b.llm_call_id
        assert a_first != seeded_coin(5, pair.content_hash)
    again = job_start(project=project, method="sample", params={"n": 3, "pairing": "all", "seed": 5, "prompts_per_item": 1})
    assert run_items(again) == ["done"] * 3
    again.refresh_from_db()
    assert again.rows_created == {} and set(Response.objects.values_list("text", flat=True)) == texts
    assert Pair.objects.count() == 9


def test_diverse_sampling_shows_earlier_samples_in_tagged_blocks(project, fake_backend, run_items):
    PromptFactory(project=project, text="Suggest a name for a cat.")
    fake_backend.script = ["Whiskers.", "Professor Paws.", "Nimbus."]
    job = job_start(project=project, method="sample", params={"n": 3, "diverse": True, "pairing": "all"})
    assert run_items(job) == ["done"]
    first, second, third = (r.messages[-1]["content"] for r in fake_backend.requests)
    assert first == "Suggest a name for a cat."
    assert "substantively different" in second and "<answer id=1-0>\nWhiskers.\n</answer id=1-0>" in second
    assert "Whiskers." in third and "Professor Paws." in third
    calls = LLMCall.objects.filter(job=job).order_by("id")
    assert [c.template_name for c in calls] == ["", "sample-diverse", "sample-diverse"]
    assert Pair.objects.count() == 3
