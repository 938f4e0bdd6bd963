"""The reviewer dashboard: permissions, fixed query counts, and links to the pairs
behind each figure (the pair list's filters)."""
import re

import pytest
from django.urls import reverse

from curation.models import Judgment, Pair
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PANELS = ["summary", "agreement", "time", "bias", "annotators", "categories", "strata"]


def dashboard(client, project, panel=None):
    url = reverse("curation:dashboard", args=[project.slug])
    return client.get(url, {"panel": panel} if panel else {}, HTTP_HX_REQUEST="true" if panel else "")


def listed_pairs(client, url: str) -> set[int]:
    page = client.get(url.replace("&amp;", "&")).content.decode()
    return {int(n) for n in re.findall(r'<td><a href="/projects/[^/]+/pairs/(\d+)/">', page)}


@pytest.fixture
def data(project, build):
    project.overlap = 3
    project.save()
    return {
        "agree": build(humans=[("ann", -1), ("bob", -1), ("cy", -2)], ai={"j": {"verdict": -1, "position_consistent": True}}, category="maths"),
        "flip": build(humans=[("ann", 1), ("bob", 1), ("cy", 1)], ai={"j": {"verdict": -2, "position_consistent": False}}, category="maths", lengths=(500, 20)),
        "split": build(humans=[("ann", 1), ("bob", -1), ("cy", 0)], ai={"j": 1, "k": 1}, category=""),
    }


def test_permissions(client, member, project):
    client.force_login(UserFactory())
    assert dashboard(client, project).status_code == 404
    client.force_login(member("annotator"))
    assert dashboard(client, project).status_code == 403
    assert dashboard(client, project, "agreement").status_code == 403
    client.force_login(member("reviewer"))
    assert dashboard(client, project).status_code == 200
    assert dashboard(client, project, "nonsense").status_code == 404


def test_page_loads_every_panel_lazily(client, member, project):
    client.force_login(member("reviewer"))
    page = dashboard(client, project).content.decode()
    for panel in PANELS:
        assert f'?panel={panel}" hx-trigger="load"' in page


@pytest.mark.parametrize("panel", PANELS)
def test_panel_query_count_is_fixed(client, member, project, build, panel, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(member("reviewer"))
    build(humans=[-1, 1], ai={"j": -1})

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert dashboard(client, project, panel).status_code == 200
        return len(queries)

    small = count()
    for verdict in (-2, -1, 0, 1, 2) * 3:
        build(humans=[verdict, 1, -1], ai={"j": verdict, "k": -verdict}, category=f"c{verdict}")
    assert count() == small
    # with the three lookups of the cache key, a savepoint, and catching up the pairs
    # built since the last read (stale check, pairs, judgments, upsert, two marks);
    # 2 more on PostgreSQL (SET LOCAL of the aggregate session)
    assert small <= (24 if connection.vendor == "postgresql" else 22), small


def test_empty_project_renders_every_panel(client, member, project):
    client.force_login(member("reviewer"))
    for panel in PANELS:
        assert dashboard(client, project, panel).status_code == 200


def test_confusion_cells_link_to_their_pairs(client, member, project, data):
    client.force_login(member("reviewer"))
    html = dashboard(client, project, "agreement").content.decode()
    judge_id = Judgment.objects.filter(judge_config__name="j").first().judge_config_id
    # Row "B" (human +1), column "A ≫" (AI −2): the three human records of pair "flip".
    cell = re.search(rf'href="([^"]*judge={judge_id}&amp;human=1&amp;ai=-2)">(\d+)</a>', html)
    assert cell and cell.group(2) == "3"
    assert listed_pairs(client, cell.group(1)) == {data["flip"].id}
    assert listed_pairs(client, reverse("curation:pair_list", args=[project.slug]) + f"?judge={judge_id}&inconsistent=1") == {data["flip"].id}
    assert listed_pairs(client, reverse("curation:pair_list", args=[project.slug]) + f"?judge={judge_id}&longer_wins=1") == {data["flip"].id}


def test_pair_list_filters_behind_other_figures(client, member, project, data):
    client.force_login(member("reviewer"))
    base = reverse("curation:pair_list", args=[project.slug])
    assert listed_pairs(client, f"{base}?queue=disagree") == {data["split"].id}
    assert listed_pairs(client, f"{base}?queue=conflict") == {data["flip"].id}
    assert listed_pairs(client, f"{base}?category=maths") == {data["agree"].id, data["flip"].id}
    assert listed_pairs(client, f"{base}?category_none=1") == {data["split"].id}
    annotator_id = Judgment.objects.get(pair=data["split"], annotator__name="bob").annotator_id
    Pair.objects.filter(pk__in=[data["agree"].pk, data["split"].pk]).update(gold_verdict=1)
    assert listed_pairs(client, f"{base}?annotator={annotator_id}&gold=1") == {data["agree"].id, data["split"].id}
    assert listed_pairs(client, f"{base}?annotator={annotator_id}&wrong=1") == {data["agree"].id, data["split"].id}
    page = client.get(f"{base}?annotator={annotator_id}&wrong=1").content.decode()
    assert "Filtered by annotator bob, answered gold wrong" in page
    week = Judgment.objects.first().created_at.date()
    monday = week.fromordinal(week.toordinal() - week.weekday())
    assert listed_pairs(client, f"{base}?week={monday.isoformat()}") == {p.id for p in data.values()}
    assert listed_pairs(client, f"{base}?week=2001-01-01") == set()
    assert client.get(f"{base}?judge=notanumber").status_code == 200  # bad filters are ignored, not a 500


def test_figures_on_the_panels(client, member, project, data):
    client.force_login(member("reviewer"))
    bias = dashboard(client, project, "bias").content.decode()
    assert "Position consistency" in bias and "<svg" in bias and "<rect" in bias
    time = dashboard(client, project, "time").content.decode()
    assert "<path" in time and "humans with each other" in time
    annotators = dashboard(client, project, "annotators").content.decode()
    assert "ann" in annotators and "κ against the rest" in annotators
    categories = dashboard(client, project, "categories").content.decode()
    assert "maths" in categories and "(none)" in categories and "small-n" in categories
    summary = dashboard(client, project, "summary").content.decode()
    assert "to adjudicate" in summary


def test_judge_names_are_escaped(client, member, project, build):
    build(humans=[-1], ai={'<img src=x onerror="alert(1)">': -1})
    client.force_login(member("reviewer"))
    for panel in ("agreement", "bias", "time"):
        html = dashboard(client, project, panel).content.decode()
        assert "<img" not in html


def test_project_page_and_nav_for_reviewers_only(client, member, project):
    url = reverse("curation:project_detail", args=[project.slug])
    client.force_login(member("annotator"))
    page = client.get(url).content.decode()
    assert "panel=summary" not in page and "Dashboard" not in page
    client.force_login(member("reviewer"))
    page = client.get(url).content.decode()
    assert "panel=summary" in page and ">Dashboard</a>" in page and ">Adjudication</a>" in page


def test_route_now_is_for_admins_and_runs_a_round(client, member, project, build, django_capture_on_commit_callbacks):
    from curation.tasks import route_pairs

    build(ai={"j": -1})
    url = reverse("curation:route", args=[project.slug])
    client.force_login(member("reviewer"))
    assert client.post(url).status_code == 403
    client.force_login(member("admin"))
    route_pairs.app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(url)
    finally:
        route_pairs.app.conf.task_always_eager = False
    assert response.status_code == 302
    assert Pair.objects.get(project=project).status == "routed"


def test_panels_are_cached_until_the_data_changes(client, member, project, build, django_assert_max_num_queries):
    client.force_login(member("reviewer"))
    build(humans=[-1, -1], ai={"j": -1})
    first = dashboard(client, project, "agreement").content.decode()
    with django_assert_max_num_queries(7):  # session, membership, and the data version
        assert dashboard(client, project, "agreement").content.decode() == first
    build(humans=[1, -1], ai={"j": 1})
    assert dashboard(client, project, "agreement").content.decode() != first
