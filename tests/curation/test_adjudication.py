"""The adjudication queue, reviewer decisions and gold marks."""
import pytest
from django.urls import reverse

from curation.models import Adjudication, Project
from curation.selectors import adjudication_queue
from curation.services import AdjudicationRejected, adjudication_record
from tests.factories import AdjudicationFactory, AnnotatorFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue_pairs(project, build):
    project.overlap = 3
    project.save()
    return {
        "disagree": build(humans=[-1, 1, 0]),
        "disagree_early": build(humans=[-1, 1]),  # a third judgment may still settle it
        "agree_early": build(humans=[-1, -1]),
        "conflict": build(humans=[-1, -1, -2], ai={"j": 1}),
        "ai_tie": build(humans=[-1, -1, -1], ai={"j": 0}),
        "ai_agrees": build(humans=[1, 1, 2], ai={"j": 2}),
        "decided": build(humans=[-1, 1, 0]),
    }


def test_queue_holds_disagreements_and_conflicts(project, queue_pairs):
    AdjudicationFactory(pair=queue_pairs["decided"], verdict=0)
    queued = {pair.id: pair.humans_disagree for pair in adjudication_queue(project)}
    assert queued == {queue_pairs["disagree"].id: True, queue_pairs["conflict"].id: False}


def test_decision_is_final_and_every_decision_is_kept(project, queue_pairs):
    pair = queue_pairs["disagree"]
    reviewer = UserFactory()
    adjudication_record(pair=pair, reviewer=reviewer, verdict=-1, note="A answers the question.")
    adjudication_record(pair=pair, reviewer=reviewer, verdict=0, note="On reflection both are fine.")
    pair.refresh_from_db()
    assert (pair.tier, pair.label_verdict, pair.label_source, pair.gold_verdict, pair.status) == (
        "gold", 0, "adjudication", 0, "accepted",
    )
    assert list(Adjudication.objects.filter(pair=pair).values_list("verdict", "note")) == [
        (0, "On reflection both are fine."), (-1, "A answers the question."),
    ]
    assert pair.id not in {p.id for p in adjudication_queue(project)}


def test_mark_gold_keeps_the_label_and_refuses_pairs_without_one(project, build):
    labelled = build(humans=[1, 1, 1])
    adjudication_record(pair=labelled, reviewer=UserFactory(), verdict=None, source="mark_gold")
    labelled.refresh_from_db()
    assert (labelled.gold_verdict, labelled.label_source) == (1, "adjudication")
    assert Adjudication.objects.get(pair=labelled).source == "mark_gold"
    bare = build()
    with pytest.raises(AdjudicationRejected, match="no label yet"):
        adjudication_record(pair=bare, reviewer=UserFactory(), verdict=None, source="mark_gold")
    assert not Adjudication.objects.filter(pair=bare).exists()


def test_bad_decisions_change_nothing(project, build):
    pair = build(humans=[1, -1, 0])
    project.verdict_scale = Project.Scale.THREE
    project.save()
    for verdict in (2, 7, "1", True):
        with pytest.raises(AdjudicationRejected):
            adjudication_record(pair=pair, reviewer=UserFactory(), verdict=verdict)
    assert not Adjudication.objects.exists()


def test_weighted_projects_refresh_the_annotators_other_pairs(project, build):
    project.consensus_weighting = Project.ConsensusWeighting.GOLD_ACCURACY
    project.overlap = 3
    project.save()
    expert, novice1, novice2 = (AnnotatorFactory(name=n) for n in ("expert", "novice1", "novice2"))
    contested = build(humans=[("expert", 1), ("novice1", -1), ("novice2", -1)])
    assert contested.consensus_verdict == -1  # 0.75 each until 10 gold answers: the majority
    # Ten gold decisions on pairs they judged: the expert right, the novices wrong.
    for _ in range(10):
        pair = build(humans=[("expert", 1), ("novice1", -1), ("novice2", -1)])
        adjudication_record(pair=pair, reviewer=UserFactory(), verdict=1)
    contested.refresh_from_db()
    assert (contested.tier, contested.consensus_verdict) == ("gold", 1)


def test_queue_page_permissions_and_query_count(client, member, project, build, queue_pairs, django_assert_max_num_queries):
    from django.db import connection

    limit = 24 if connection.vendor == "postgresql" else 22
    url = reverse("curation:adjudication_queue", args=[project.slug])
    client.force_login(UserFactory())
    assert client.get(url).status_code == 404
    client.force_login(member("annotator"))
    assert client.get(url).status_code == 403
    client.force_login(member("reviewer"))
    # 18, and 4 more when the annotators' figures catch up pairs written since the last
    # read (lock and load them, load their judgments, upsert counts, mark both); on
    # PostgreSQL 2 more (SET LOCAL of the aggregate session).
    with django_assert_max_num_queries(limit):
        page = client.get(url).content.decode()
    assert f'id="queue-{queue_pairs["disagree"].id}"' in page and f'id="queue-{queue_pairs["conflict"].id}"' in page
    assert "humans vs AI" in page and "Annotators on gold pairs" in page
    for _ in range(10):
        build(humans=[-1, 1, 1], ai={"j": -1, "k": 2})
    with django_assert_max_num_queries(limit):
        assert client.get(url).content.decode().count('class="card queue-item"') == 13  # 3 + 10


def test_htmx_decision_from_the_queue(client, member, project, queue_pairs):
    client.force_login(member("reviewer"))
    pair = queue_pairs["conflict"]
    url = reverse("curation:adjudicate", args=[project.slug, pair.id])
    response = client.post(url, {f"p{pair.id}-verdict": "1", f"p{pair.id}-note": "The judge is right: A is wrong.",
                                 f"p{pair.id}-action": "decide"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Decided: <strong>B better</strong>" in response.content.decode()
    pair.refresh_from_db()
    assert (pair.label_verdict, pair.label_source) == (1, "adjudication")
    missing = queue_pairs["disagree"]
    response = client.post(reverse("curation:adjudicate", args=[project.slug, missing.id]),
                           {f"p{missing.id}-note": "no verdict given"}, HTTP_HX_REQUEST="true")
    assert "Choose a verdict." in response.content.decode()
    assert "no verdict given" in response.content.decode()  # the note is not lost
    assert not Adjudication.objects.filter(pair=missing).exists()


def test_pair_page_decision_and_gold_mark(client, member, project, build):
    pair = build(humans=[-1, -1, -1])
    client.force_login(member("annotator"))
    url = reverse("curation:adjudicate", args=[project.slug, pair.id])
    assert client.post(url, {"verdict": "1", "action": "decide"}).status_code == 403
    client.force_login(member("reviewer"))
    page = client.get(reverse("curation:pair_detail", args=[project.slug, pair.id])).content.decode()
    assert "Mark gold: A better" in page
    response = client.post(url, {"action": "mark_gold", "note": "clear case"}, follow=True)
    assert "pair %d is gold" % pair.id in response.content.decode()
    pair.refresh_from_db()
    assert pair.gold_verdict == -1
    page = client.get(reverse("curation:pair_detail", args=[project.slug, pair.id])).content.decode()
    assert "Marked gold" in page and "clear case" in page and "Mark gold:" not in page
