"""The API's permission matrix: every endpoint × every role.

Non-members get 404 (a project's existence is not revealed), members below the
endpoint's role 403, anonymous requests 401/403; members with the role get through.
"""
import io

import pytest

from .conftest import ROLES, client_for

pytestmark = pytest.mark.django_db

RANK = {"annotator": 1, "reviewer": 2, "admin": 3}


def upload() -> dict:
    return {"file": io.BytesIO(b'{"prompt": "Imported over the API."}\n'), "format": "concord"}


# (method, path under /api/projects/<slug>/, body, body format, lowest role)
ENDPOINTS = [
    ("get", "", None, None, "annotator"),
    ("get", "prompts/", None, None, "reviewer"),
    ("get", "pairs/", None, None, "reviewer"),
    ("get", "pairs/{pair}/", None, None, "annotator"),
    ("get", "judgments/", None, None, "annotator"),
    ("post", "judgments/", {"pair": "{pair}", "verdict": 1}, "json", "annotator"),
    ("get", "rubrics/", None, None, "reviewer"),
    ("get", "agreement/", None, None, "reviewer"),
    ("get", "jobs/", None, None, "reviewer"),
    ("post", "jobs/", {"method": "sample"}, "json", "admin"),
    ("get", "jobs/{job}/", None, None, "reviewer"),
    ("post", "jobs/{job}/cancel/", None, "json", "admin"),
    ("get", "exports/", None, None, "admin"),
    ("post", "exports/", {"format": "trl"}, "json", "admin"),
    ("get", "exports/{export}/", None, None, "admin"),
    ("get", "exports/{export}/download/?file=x.jsonl", None, None, "admin"),
    ("post", "import/", upload, "multipart", "admin"),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method,path,body,fmt,lowest", ENDPOINTS, ids=[f"{e[0].upper()} {e[1] or '/'}" for e in ENDPOINTS])
def test_permission_matrix(world, role, method, path, body, fmt, lowest):
    ids = {"pair": world.pair.id, "job": world.job.id, "export": world.export.id}
    url = f"/api/projects/{world.project.slug}/" + path.format(**ids)
    client = client_for(world, role)
    kwargs = {}
    if callable(body):
        kwargs = {"data": body(), "format": fmt}
    elif body is not None:
        data = {k: ids["pair"] if v == "{pair}" else v for k, v in body.items()}
        kwargs = {"data": data, "format": fmt}
    response = getattr(client, method)(url, **kwargs)
    if role == "anonymous":
        assert response.status_code in (401, 403)
    elif role == "outsider":
        assert response.status_code == 404
    elif RANK[role] < RANK[lowest]:
        assert response.status_code == 403
        assert response.json()["detail"] == f"This needs the {lowest} role in {world.project.name}."
    else:
        # Allowed through: the answer is the endpoint's own (the export has no such file: 409 not done).
        assert response.status_code not in (401, 403, 404), response.content
    assert response["Content-Type"].startswith("application/json") or response.status_code == 200


def test_project_list_shows_only_my_projects(world):
    from ..factories import ProjectFactory

    ProjectFactory(name="Hidden")
    for role, expected in (("outsider", []), ("annotator", ["api-project"])):
        response = client_for(world, role).get("/api/projects/")
        assert [p["slug"] for p in response.json()["results"]] == expected
    assert client_for(world, "anonymous").get("/api/projects/").status_code in (401, 403)


def test_annotators_read_only_their_own_judgments_and_no_ai(world):
    base = f"/api/projects/{world.project.slug}"
    mine = client_for(world, "annotator").get(f"{base}/judgments/").json()["results"]
    assert [(j["annotator"], j["kind"]) for j in mine] == [("annotator", "human")]
    everything = client_for(world, "reviewer").get(f"{base}/judgments/").json()["results"]
    assert {j["kind"] for j in everything} == {"human", "ai"} and len(everything) == 3
    blind = client_for(world, "annotator").get(f"{base}/pairs/{world.judged_pair.id}/").json()
    assert set(blind) == {"id", "prompt", "response_a", "response_b"}
    assert set(blind["response_a"]) == {"id", "text"}
    full = client_for(world, "reviewer").get(f"{base}/pairs/{world.judged_pair.id}/").json()
    assert full["label_source"] and full["tier"] and full["response_a"]["producer"]
