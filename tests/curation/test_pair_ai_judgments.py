"""AI judgments on the pair page: every judgment with both runs, its checklist and the
length-rule mark; model text escaped; nothing for annotators; a fixed query count."""
from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from curation.ai_display import checklist_rows
from curation.models import Rubric
from tests.factories import AIJudgmentWithRunsFactory, JudgeConfigFactory, PairFactory, judge_run

pytestmark = pytest.mark.django_db

HOSTILE = 'Clearly A. <script>alert("x")</script> <img src=x onerror="alert(1)"> [link](javascript:alert(2))'


def page(client, pair) -> str:
    response = client.get(reverse("curation:pair_detail", args=[pair.project.slug, pair.id]))
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def judged(project):
    pair = PairFactory(project=project)
    checklist = Rubric.objects.create(
        project=project, prompt=pair.prompt, kind=Rubric.Kind.CHECKLIST, version=2, origin="judge_pairwise",
        items=[{"text": "Does it answer the question?"}, {"text": "Is it under 100 words?"}],
    )
    judge = JudgeConfigFactory(project=project, name="pairwise-checklist", template_version="3")
    AIJudgmentWithRunsFactory(
        pair=pair, judge_config=judge, rubric=checklist, verdict=0, verdict_before_length_rule=-1,
        length_rule_applied=True, confidence=0.72, position_consistent=True, rationale=HOSTILE,
        runs=[
            judge_run("AB", -1, rationale="Original order: " + HOSTILE,
                      checklist_answers={"Does it answer the question?": {"A": True, "B": False}, "2": "yes"}),
            judge_run("BA", -1, rationale="Swapped order, B shown first."),
        ],
    )
    other = JudgeConfigFactory(project=project, name="rubric-then-judge")
    AIJudgmentWithRunsFactory(pair=pair, judge_config=other, verdict=None, parse_ok=False, confidence=None,
                              position_consistent=None, runs=[judge_run("AB", None, rationale="rambling")])
    return pair


def test_every_ai_judgment_with_both_runs(client, member, judged):
    client.force_login(member("reviewer"))
    html = page(client, judged)
    section = html.split('id="ai-judgments"')[1]
    assert "pairwise-checklist" in section and "rubric-then-judge" in section
    assert "changed by length rule, was A better" in section
    assert "confidence 0.72" in section and "consistent across orders" in section
    assert "Run 1 · shown A left, B right" in section and "Run 2 · shown B left, A right" in section
    assert "(as shown: +1, negated back)" in section  # the BA run said B, which is A in stored order
    assert "Checklist v2" in section and "Does it answer the question?" in section
    assert "A: yes · B: no" in section  # the answer by text, per side
    assert "Is it under 100 words?</td><td>yes" in section  # the answer by number
    assert "output did not parse, no verdict" in section and "rambling" in section
    assert "p(s = −2..2) = 0.00, 1.00, 0.00, 0.00, 0.00" in section


class TagCollector(HTMLParser):
    """Every element and attribute a browser would build from the markup."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_model_text_is_escaped(client, member, judged):
    client.force_login(member("reviewer"))
    html = page(client, judged)
    section = html.split('id="ai-judgments"')[1].split("</section>")[0]
    parser = TagCollector()
    parser.feed(section)
    assert not [tag for tag, _ in parser.tags if tag in ("script", "img", "iframe", "object")]
    assert not [(tag, name) for tag, attrs in parser.tags for name in attrs if name.startswith("on")]
    assert not [attrs for tag, attrs in parser.tags if (attrs.get("href") or "").lower().startswith("javascript")]
    # The text is still there for a reader, as text: the rationale and the run's rationale.
    assert section.count('&lt;script&gt;alert("x")&lt;/script&gt;') == 2
    assert section.count("&lt;img src=x onerror=") == 2


def test_annotators_see_no_ai_judgment(client, member, judged):
    client.force_login(member("annotator"))
    html = page(client, judged)
    assert "pairwise-checklist" not in html and "Run 1" not in html and "Clearly A" not in html


def test_query_count_does_not_grow_with_ai_judgments(client, member, project, judged):
    client.force_login(member("reviewer"))

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            page(client, judged)
        return len(queries)

    small = count()
    for i in range(6):
        AIJudgmentWithRunsFactory(pair=judged, judge_config=JudgeConfigFactory(project=project, name=f"extra-{i}"),
                                  rubric=judged.prompt.rubrics.first())
    assert count() == small


def test_checklist_rows_never_invent_answers():
    rows, other = checklist_rows(
        [{"text": "one"}, "two", {"text": "three"}], {"one": True, "2": {"A": "no", "B": "yes"}, "zzz": "maybe"}
    )
    assert [(r.text, r.answer, r.sides) for r in rows] == [
        ("one", "yes", {}), ("two", "", {"A": "no", "B": "yes"}), ("three", "", {}),
    ]
    assert other == [("zzz", "maybe")]
    assert checklist_rows([{"text": "one"}], "not a dict") == ([rows[0].__class__(text="one")], [])
