"""Pages behind login: permissions, counts, sanitized rendering, the import form."""
import json

import pytest
from django.urls import reverse

from curation.models import Membership, Pair

from .factories import AIJudgmentFactory, HumanJudgmentFactory, PairFactory, ProjectFactory, ResponseFactory, UserFactory

pytestmark = pytest.mark.django_db


def parse_elements(html: str) -> list[tuple[str, dict]]:
    """Every element the browser would build from the page, with its attributes."""
    from html.parser import HTMLParser

    found = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, {name: value or "" for name, value in attrs}))

    Collector().feed(html)
    return found

HOSTILE = (
    "Here you go <script>window.pwned = 1</script>\n\n"
    '<img src=x onerror="window.pwned = 2">\n\n'
    "[click](javascript:window.pwned=3)\n\n"
    "```html\n<script>alert(1)</script>\n```"
)


def test_login_required(client, project):
    response = client.get(reverse("curation:project_detail", args=[project.slug]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_non_member_gets_404_member_with_low_role_gets_403(client, project, member):
    outsider = UserFactory()
    client.force_login(outsider)
    assert client.get(reverse("curation:project_detail", args=[project.slug])).status_code == 404
    pair = PairFactory(project=project)
    assert client.get(reverse("curation:pair_detail", args=[project.slug, pair.id])).status_code == 404
    client.force_login(member("annotator"))
    assert client.get(reverse("curation:project_detail", args=[project.slug])).status_code == 200
    assert client.get(reverse("curation:project_settings", args=[project.slug])).status_code == 403
    assert client.get(reverse("curation:pair_list", args=[project.slug])).status_code == 403
    assert client.post(reverse("curation:project_import", args=[project.slug])).status_code == 403


def test_project_list_shows_only_my_projects(client, member, project, django_assert_num_queries):
    other = ProjectFactory(name="Secret project")
    PairFactory.create_batch(3, project=project)
    PairFactory(project=other)
    client.force_login(member("annotator"))
    with django_assert_num_queries(3):  # session, user, projects with their pair counts
        response = client.get(reverse("curation:project_list"))
    page = response.content.decode()
    assert project.name in page and other.name not in page
    assert [(p.name, p.n_pairs) for p in response.context["projects"]] == [(project.name, 3)]


def test_project_page_counts_by_tier(client, member, project, django_assert_max_num_queries):
    PairFactory.create_batch(3, project=project)
    PairFactory.create_batch(2, project=project, tier="gold")
    HumanJudgmentFactory(pair=Pair.objects.filter(project=project).first())
    client.force_login(member("reviewer"))
    url = reverse("curation:project_detail", args=[project.slug])
    client.get(url)  # the first read counts the new pairs into the agreement counts
    with django_assert_max_num_queries(11):
        response = client.get(url)
    assert response.context["counts"]["pairs"] == 5
    assert response.context["counts"]["tiers"] == {"unverified": 3, "silver": 0, "gold": 2}
    assert response.context["counts"]["human_judgments"] == 1


def test_hostile_response_is_inert(client, member, project):
    pair = PairFactory(project=project, response_a=ResponseFactory(text=HOSTILE, prompt__project=project))
    pair.response_a.prompt = pair.prompt
    pair.response_a.save()
    client.force_login(member("reviewer"))
    html = client.get(reverse("curation:pair_detail", args=[project.slug, pair.id])).content.decode()
    elements = parse_elements(html)
    scripts = [attrs for tag, attrs in elements if tag == "script"]
    assert all(attrs.get("src", "").startswith("/static/") for attrs in scripts)  # only our own scripts
    assert not [(tag, name) for tag, attrs in elements for name in attrs if name.startswith("on")]
    assert not [attrs for tag, attrs in elements if attrs.get("href", "").lower().startswith("javascript")]
    assert not [tag for tag, attrs in elements if tag == "img"]
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in html  # shown as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # code block kept readable


def test_annotator_sees_only_own_judgments_and_no_ai(client, member, project):
    annotator_user = member("annotator")
    pair = PairFactory(project=project)
    mine = HumanJudgmentFactory(pair=pair, rationale="my own reasons")
    mine.annotator.user = annotator_user
    mine.annotator.save()
    HumanJudgmentFactory(pair=pair, rationale="someone else's reasons")
    AIJudgmentFactory(pair=pair, rationale="the AI's secret rationale")
    client.force_login(annotator_user)
    html = client.get(reverse("curation:pair_detail", args=[project.slug, pair.id])).content.decode()
    assert "my own reasons" in html
    assert "someone else" not in html
    assert "secret rationale" not in html
    client.force_login(member("reviewer"))
    html = client.get(reverse("curation:pair_detail", args=[project.slug, pair.id])).content.decode()
    assert "someone else" in html and "secret rationale" in html


def test_pair_detail_query_count_does_not_grow_with_judgments(client, member, project, django_assert_max_num_queries):
    pair = PairFactory(project=project)
    for _ in range(10):
        HumanJudgmentFactory(pair=pair)
        AIJudgmentFactory(pair=pair)
    client.force_login(member("reviewer"))
    with django_assert_max_num_queries(8):
        assert client.get(reverse("curation:pair_detail", args=[project.slug, pair.id])).status_code == 200


def test_import_form_upload_and_error(client, member, project, tmp_path):
    client.force_login(member("admin"))
    url = reverse("curation:project_import", args=[project.slug])
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"prompt": "Q?", "response_a": "a", "response_b": "b"}) + "\n")
    with good.open("rb") as handle:
        response = client.post(url, {"file": handle, "format": "auto"}, follow=True)
    assert "good.jsonl: Imported 1 concord records" in response.content.decode()
    assert Pair.objects.filter(project=project).count() == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "Q2?", "response_a": "a", "response_b": "c"}) + "\n{oops\n")
    with bad.open("rb") as handle:
        response = client.post(url, {"file": handle, "format": "concord"}, follow=True)
    page = response.content.decode()
    assert "Nothing was imported from bad.jsonl: line 2" in page
    assert Pair.objects.filter(project=project).count() == 1


def test_too_large_upload_is_refused(client, member, project, settings, tmp_path):
    settings.CONCORD_MAX_UPLOAD_BYTES = 100
    client.force_login(member("admin"))
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps({"prompt": "x" * 500, "response_a": "a", "response_b": "b"}) + "\n")
    with path.open("rb") as handle:
        response = client.post(reverse("curation:project_import", args=[project.slug]), {"file": handle}, follow=True)
    assert "the limit is" in response.content.decode()
    assert not Pair.objects.exists()


def test_settings_and_members_pages(client, member, project):
    client.force_login(member("admin"))
    url = reverse("curation:project_settings", args=[project.slug])
    assert client.get(url).status_code == 200
    data = {
        "name": "Renamed", "description": "", "instructions": "Be careful.", "mode": "reveal_after",
        "verdict_scale": 5, "overlap": 2, "quorum": "", "consensus_weighting": "majority", "lease_minutes": 10, "gold_rate": 0.1,
        "length_rule_k": 500, "silver_confidence": 0.7, "human_budget": "", "auto_accept_min_pairs": 100,
        "auto_accept_threshold": 0.9, "audit_fraction": 0.05, "default_model": "",
    }
    assert client.post(url, data).status_code == 302
    project.refresh_from_db()
    assert project.name == "Renamed" and project.overlap == 2 and project.mode == "reveal_after"
    newcomer = UserFactory(username="newcomer")
    members_url = reverse("curation:project_members", args=[project.slug])
    assert client.post(members_url, {"username": "newcomer", "role": "reviewer"}).status_code == 302
    assert Membership.objects.get(project=project, user=newcomer).role == "reviewer"
    response = client.post(members_url, {"username": "nobody", "role": "reviewer"})
    assert "No user named" in response.content.decode()


def test_staff_creates_project_with_default_judges(client):
    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    response = client.post(reverse("curation:project_create"), {"name": "Fresh one", "description": ""})
    assert response.status_code == 302
    from curation.models import Project

    project = Project.objects.get(name="Fresh one")
    assert project.slug == "fresh-one"
    assert Membership.objects.get(project=project, user=staff).role == "admin"
    assert set(project.judge_configs.values_list("name", flat=True)) == {
        "pairwise-checklist", "rubric-then-judge", "pointwise-aspects", "ensemble", "cdr",
    }


def test_non_staff_cannot_create_projects(client):
    client.force_login(UserFactory())
    assert client.post(reverse("curation:project_create"), {"name": "x"}).status_code == 403
