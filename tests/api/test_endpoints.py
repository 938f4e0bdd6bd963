"""What each endpoint does: filters, cursor pagination, the judgment write path with
the review page's rules, import and export through the API, errors as JSON."""
import gzip
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.authtoken.models import Token

from curation import job_service
from curation.models import ExportJob, GenerationJob, Judgment, Pair

from ..factories import PairFactory, UserFactory
from .conftest import client_for

pytestmark = pytest.mark.django_db


def url(world, path: str = "") -> str:
    return f"/api/projects/{world.project.slug}/{path}"


def test_pairs_filters(world):
    client = client_for(world, "reviewer")
    Pair.objects.filter(pk=world.pair.pk).update(status=Pair.Status.ROUTED)
    gold = client.get(url(world, "pairs/"), {"tier": "gold"}).json()["results"]
    assert [(p["tier"], p["label_source"]) for p in gold] == [("gold", "human_consensus"), ("gold", "adjudication")]
    assert [p["id"] for p in client.get(url(world, "pairs/"), {"routed": "true"}).json()["results"]] == [world.pair.id]
    assert world.pair.id not in [p["id"] for p in client.get(url(world, "pairs/"), {"routed": "false"}).json()["results"]]
    with_gold = client.get(url(world, "pairs/"), {"has_gold": "true"}).json()["results"]
    assert len(with_gold) == 1 and with_gold[0]["gold_verdict"] == 1
    assert len(client.get(url(world, "pairs/"), {"has_gold": "false"}).json()["results"]) == 2
    bad = client.get(url(world, "pairs/"), {"tier": "platinum"})
    assert bad.status_code == 400
    assert bad.json()["field"] == "tier" and "platinum" in bad.json()["detail"]


def test_cursor_pagination_walks_every_row_once(world):
    for _ in range(7):
        PairFactory(project=world.project)
    client = client_for(world, "reviewer")
    seen, next_url = [], url(world, "pairs/?page_size=3")
    while next_url:
        page = client.get(next_url).json()
        assert len(page["results"]) <= 3
        seen += [p["id"] for p in page["results"]]
        next_url = page["next"]
    assert seen == sorted(Pair.objects.filter(project=world.project).values_list("id", flat=True))


def test_judgment_create_uses_the_review_page_rules(world):
    client = client_for(world, "annotator")
    body = {"pair": world.pair.id, "verdict": -2, "shown_order": "ba", "rationale": "A explains it.",
            "aspects": {"helpfulness": -1}, "time_spent_ms": 3100}
    response = client.post(url(world, "judgments/"), body, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["annotator"] == "annotator" and created["verdict"] == -2 and created["mode"] == "blind"
    judgment = Judgment.objects.get(pk=created["id"])
    assert judgment.pair_id == world.pair.id and judgment.shown_order == "ba" and judgment.time_spent_ms == 3100
    world.pair.refresh_from_db()
    assert world.pair.n_human_judgments == 1  # the pair was refreshed by the service

    again = client.post(url(world, "judgments/"), body, format="json")
    assert again.status_code == 400
    assert again.json() == {"detail": "this annotator has already judged this pair", "field": "pair"}
    bad_scale = client_for(world, "reviewer").post(url(world, "judgments/"), {**body, "verdict": 3}, format="json")
    assert bad_scale.status_code == 400 and bad_scale.json()["field"] == "verdict"
    bad_aspect = client_for(world, "reviewer").post(url(world, "judgments/"), {**body, "aspects": {"style": 1}},
                                                    format="json")
    assert bad_aspect.json()["field"] == "aspects" and "unknown aspect 'style'" in bad_aspect.json()["detail"]
    # The overlap (2) is reached by the reviewer's judgment; the admin is refused.
    assert client_for(world, "reviewer").post(url(world, "judgments/"), body, format="json").status_code == 201
    full = client_for(world, "admin").post(url(world, "judgments/"), body, format="json")
    assert full.status_code == 400 and "already has the 2 human judgment(s)" in full.json()["detail"]
    missing = client.post(url(world, "judgments/"), {"verdict": 1}, format="json")
    assert missing.json()["field"] == "pair" and missing.json()["errors"] == {"pair": ["This field is required."]}
    other = PairFactory()
    foreign = client.post(url(world, "judgments/"), {"pair": other.id, "verdict": 1}, format="json")
    assert foreign.status_code == 400 and foreign.json() == {"detail": "no such pair in this project", "field": "pair"}


def test_rationale_required_by_the_project(world):
    world.project.rationale_required = True
    world.project.save()
    response = client_for(world, "annotator").post(url(world, "judgments/"), {"pair": world.pair.id, "verdict": 1},
                                                   format="json")
    assert response.status_code == 400 and response.json()["field"] == "rationale"
    assert not Judgment.objects.filter(pair=world.pair).exists()


def test_judgment_filters(world):
    client = client_for(world, "reviewer")
    humans = client.get(url(world, "judgments/"), {"kind": "human"}).json()["results"]
    assert {j["kind"] for j in humans} == {"human"} and len(humans) == 2
    mine = client.get(url(world, "judgments/"), {"annotator": "annotator"}).json()["results"]
    assert [j["rationale"] for j in mine] == ["A is better."]
    assert client.get(url(world, "judgments/"), {"pair": world.pair.id}).json()["results"] == []


def test_import_upload_same_validation_as_the_command(world, settings):
    client = client_for(world, "admin")
    rows = [{"prompt": "Up?", "response_a": "Yes.", "response_b": "No.", "judgments": [{"annotator": "x", "verdict": -1}]}]
    data = gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode())
    upload = SimpleUploadedFile("rows.jsonl.gz", data)
    response = client.post(url(world, "import/"), {"file": upload, "format": "auto"}, format="multipart")
    assert response.status_code == 200, response.content
    assert response.json()["counts"]["pairs_created"] == 1 and response.json()["format"] == "concord"

    before = Pair.objects.count()
    bad = b'{"prompt": "Fine", "response_a": "a", "response_b": "b"}\n{"prompt": "Broken", "response_a": "a"}\n'
    response = client.post(url(world, "import/"), {"file": io.BytesIO(bad), "format": "concord"}, format="multipart")
    assert response.status_code == 400
    assert response.json()["field"] == "response_b" and response.json()["location"] == "line 2"
    assert "nothing was imported" in response.json()["detail"]
    assert Pair.objects.count() == before

    settings.CONCORD_MAX_UPLOAD_BYTES = 100
    big = io.BytesIO(b'{"prompt": "' + b"x" * 500 + b'"}\n')
    response = client.post(url(world, "import/"), {"file": big}, format="multipart")
    assert response.status_code == 413 and response.json()["field"] == "file"


def test_export_through_the_api(world, settings, tmp_path, django_capture_on_commit_callbacks):
    settings.CONCORD_EXPORT_DIR = tmp_path
    client = client_for(world, "admin")
    bad = client.post(url(world, "exports/"), {"format": "hh", "margin": "abs_s"}, format="json")
    assert bad.status_code == 400 and bad.json() == {"detail": "margin is written by the trl format only",
                                                     "field": "margin"}
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url(world, "exports/"), {"format": "trl", "min_tier": "gold", "keep_ties": True},
                               format="json")
    assert response.status_code == 202 and response.json()["state"] == "queued"
    assert len(callbacks) == 1  # the Celery task is enqueued once the job is committed
    job = ExportJob.objects.get(pk=response.json()["id"])
    assert job.options["min_tier"] == "gold" and job.options["keep_ties"] is True
    not_done = client.get(url(world, f"exports/{job.id}/download/"), {"file": "x"})
    assert not_done.status_code == 409

    from curation.services import export_run

    export_run(export_id=job.id)  # what the worker runs (the real worker: tests/export/test_jobs.py)
    status = client.get(url(world, f"exports/{job.id}/")).json()
    assert status["state"] == "done" and status["n_rows"] == 2 and "## Label sources" in status["dataset_card"]
    names = [f["name"] for f in status["files"]]
    assert names == ["api-project-trl.jsonl", "README.md"]
    download = client.get(status["files"][0]["download"])
    assert download.status_code == 200
    rows = [json.loads(line) for line in b"".join(download.streaming_content).splitlines()]
    gold = Pair.objects.get(project=world.project, label_source="adjudication")
    assert {row["pair_id"]: row["chosen"] for row in rows}[gold.id] == gold.response_b.text  # label +1: B
    missing = client.get(url(world, f"exports/{job.id}/download/"), {"file": "../../etc/passwd"})
    assert missing.status_code == 404 and missing.json()["field"] == "file"


def test_agreement_report(world):
    from curation.agreement import report as agreement_report

    client = client_for(world, "reviewer")
    report = client.get(url(world, "agreement/")).json()
    # The full report of `agreement_report --json`, the same figures.
    expected = agreement_report(world.project, intervals=True)
    assert report["n_pairs"] == expected["n_pairs"] == 3
    assert report["n_human_judgments"] == 2
    assert report["human_human"]["krippendorff_alpha"] == expected["human_human"]["krippendorff_alpha"]
    assert [j["judge"] for j in report["human_ai"]] == [j["judge"] for j in expected["human_ai"]]
    assert "by_category" not in report
    assert "by_category" in client.get(url(world, "agreement/?breakdowns=true&intervals=false")).json()
    bad = client.get(url(world, "agreement/?intervals=maybe"))
    assert bad.status_code == 400 and bad.json()["field"] == "intervals"
    overview = report["overview"]
    assert overview["tiers"] == {"unverified": 1, "silver": 0, "gold": 2}
    assert overview["human_judgments"] == 2 and overview["ai_judgments"] == 1
    assert overview["label_sources"] == {"adjudication": 1, "human_consensus": 1, "none": 1}
    [judge] = overview["judges"]
    # The judge said A (−1) where both humans said A: agrees with the consensus and the label.
    assert judge["agreement_with_human_consensus"] == 1.0 and judge["n_with_human_consensus"] == 1
    assert judge["agreement_with_label"] == 1.0 and judge["n_with_label"] == 1
    assert overview["humans"]["agreement_with_label"] == 1.0 and overview["humans"]["n_with_label"] == 2


def test_jobs_list_status_and_the_generation_seam(world):
    client = client_for(world, "admin")
    listed = client.get(url(world, "jobs/")).json()["results"]
    assert [(j["id"], j["method"], j["state"], j["created_by"]) for j in listed] == [
        (world.job.id, "sample", "queued", "admin")]
    assert client.get(url(world, f"jobs/{world.job.id}/")).json()["params"] == {"n": 4}
    assert client.get(url(world, "jobs/999999/")).status_code == 404

    # Without a registered service (curation alone) starting a job is refused clearly.
    saved = list(job_service._registered)
    job_service._registered[:] = []
    try:
        unavailable = client.post(url(world, "jobs/"), {"method": "sample"}, format="json")
        assert unavailable.status_code == 409 and "has not registered its job service" in unavailable.json()["detail"]
    finally:
        job_service._registered[:] = saved

    # The generation app's real service (registered in GenerationConfig.ready()).
    started = client.post(url(world, "jobs/"), {"method": "sample", "params": {"n": 2}}, format="json")
    assert started.status_code == 201, started.content
    job = GenerationJob.objects.get(pk=started.json()["id"])
    assert job.created_by == world.users["admin"] and job.params["n"] == 2 and job.items.exists()
    rejected = client.post(url(world, "jobs/"), {"method": "nope"}, format="json")
    assert rejected.status_code == 400 and rejected.json()["field"] == "method"
    assert "unknown method 'nope'" in rejected.json()["detail"]
    bad_param = client.post(url(world, "jobs/"), {"method": "sample", "params": {"n": "many"}}, format="json")
    assert bad_param.status_code == 400 and bad_param.json()["field"] == "params"
    cancelled = client.post(url(world, f"jobs/{job.id}/cancel/"))
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    again = client.post(url(world, f"jobs/{job.id}/cancel/"))
    assert again.status_code == 400 and again.json()["field"] == "state"


def test_token_authentication(world):
    user = UserFactory(username="tool", password="s3cret-pass-word")
    from curation.services import membership_set

    membership_set(project=world.project, user=user, role="reviewer")
    client = client_for(world, "anonymous")
    wrong = client.post(reverse("api:token"), {"username": "tool", "password": "nope"}, format="json")
    assert wrong.status_code == 400
    assert wrong.json()["detail"] == "Unable to log in with provided credentials." and wrong.json()["field"] is None
    token = client.post(reverse("api:token"), {"username": "tool", "password": "s3cret-pass-word"}, format="json")
    assert token.status_code == 200
    key = token.json()["token"]
    assert Token.objects.get(user=user).key == key
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(url(world, "pairs/")).status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert client.get(url(world, "pairs/")).status_code in (401, 403)


def test_api_token_command(world):
    from django.core.management import call_command

    out = io.StringIO()
    call_command("api_token", "reviewer", stdout=out)
    first = out.getvalue().strip()
    assert Token.objects.get(user=world.users["reviewer"]).key == first
    out = io.StringIO()
    call_command("api_token", "reviewer", "--reset", stdout=out)
    assert out.getvalue().strip() != first


def test_schema_and_swagger_ui_served_without_a_cdn(client):
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    assert "/api/projects/{slug}/judgments/" in paths and "/api/projects/{slug}/exports/{export_id}/download/" in paths
    page = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "unpkg" not in page.lower()
    assert client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js").status_code == 200


def test_ids_beyond_64_bits_are_not_found(world, client):
    huge = 2**70
    api = client_for(world, "admin")
    for path in (f"pairs/{huge}/", f"jobs/{huge}/", f"exports/{huge}/", f"exports/{huge}/download/?file=x"):
        assert api.get(url(world, path)).status_code == 404
    assert api.get(url(world, "judgments/"), {"pair": huge}).json()["field"] == "pair"
    client.force_login(world.users["admin"])
    assert client.get(f"/projects/{world.project.slug}/exports/{huge}/progress/").status_code == 404


def test_starting_exports_is_throttled(world, monkeypatch):
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"jobs": "2/hour", "user": "1000/minute"})
    client = client_for(world, "admin")
    codes = [client.post(url(world, "exports/"), {"format": "trl"}, format="json").status_code for _ in range(3)]
    assert codes == [202, 202, 429]
    third = client.post(url(world, "exports/"), {"format": "trl"}, format="json")
    assert third.json()["detail"].startswith("Request was throttled.") and third["Retry-After"]
    assert client.get(url(world, "exports/")).status_code == 200  # reading is not throttled by this scope
