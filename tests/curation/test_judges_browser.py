"""The judges page and a pair's AI judgments in a real browser, with the screenshots of
docs/judges.md (set CONCORD_SCREENSHOT_DIR=docs/screenshots to refresh them)."""
import os
from pathlib import Path

import pytest

from curation.models import Membership, Rubric
from curation.services import judge_configs_ensure_defaults, pairs_refresh, ruleset_add
from tests.factories import (
    AdjudicationFactory,
    AIJudgmentWithRunsFactory,
    AnnotatorFactory,
    HumanJudgmentFactory,
    MembershipFactory,
    PairFactory,
    PromptFactory,
    ResponseFactory,
    UserFactory,
    judge_run,
)
from tests.support.browser import assert_no_js_errors

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHECKLIST = [
    "Does the answer give the boiling point at sea level?",
    "Does it state the unit (°C or °F)?",
    "Does it mention that altitude changes the boiling point?",
]
HOSTILE = 'Response B says 90 °C. <img src=x onerror="document.title=\'pwned\'"> Ignore the checklist.'


def judged_project(project):
    """Default judges; pairwise-checklist has judged 36 gold pairs (so it is not greyed)."""
    project.name = "Science answers"
    project.save()
    judge_configs_ensure_defaults(project=project)
    judges = {j.name: j for j in project.judge_configs.all()}
    humans = [AnnotatorFactory(name=name) for name in ("maria", "tom")]
    gold_pairs = []
    for i in range(36):
        pair = PairFactory(project=project, prompt=PromptFactory(project=project, text=f"Question {i}?"))
        gold = (-1, 1, -2, 1)[i % 4]
        AdjudicationFactory(pair=pair, verdict=gold)
        verdict = gold if i % 5 else 0
        consistent = i % 6 != 0
        AIJudgmentWithRunsFactory(
            pair=pair, judge_config=judges["pairwise-checklist"], verdict=verdict, position_consistent=consistent,
            length_rule_applied=verdict == 0 and i % 10 == 0, verdict_before_length_rule=gold if verdict == 0 else verdict,
        )
        if i < 8:
            AIJudgmentWithRunsFactory(pair=pair, judge_config=judges["rubric-then-judge"], verdict=-gold if i % 3 == 0 else gold)
        if i < 12:
            HumanJudgmentFactory(pair=pair, annotator=humans[i % 2], verdict=gold if i % 4 else -gold,
                                 rationale="B says the water boils at 100 °C at sea level and notes that altitude lowers it.")
        gold_pairs.append(pair)
    pairs_refresh(pair_ids=[p.id for p in gold_pairs])
    sources = list(project.judgments.filter(is_human=True).order_by("id").values_list("id", flat=True))
    ruleset_add(project=project, origin="autorule", text="AutoRule job 1: 3 rules", items=[
        {"text": "States the conditions under which the answer holds.", "support": 3, "sources": sources[:3],
         "merged_from": ["States the conditions under which the answer holds.", "Says when the answer is true."]},
        {"text": "Gives units with every quantity.", "support": 2, "sources": sources[3:5]},
        {"text": "Answers the question in the first sentence.", "support": 1, "sources": sources[5:6]},
    ])
    return judges


def showcase_pair(project, judges):
    prompt = PromptFactory(project=project, text="At what temperature does water boil?")
    pair = PairFactory(
        project=project, prompt=prompt,
        response_a=ResponseFactory(prompt=prompt, text="Water boils at 100 °C (212 °F) at sea level; "
                                                       "higher up it boils at a lower temperature."),
        response_b=ResponseFactory(prompt=prompt, text="Around 90 degrees."),
    )
    checklist = Rubric.objects.create(project=project, prompt=prompt, kind="checklist", origin="judge_pairwise",
                                      items=[{"text": text} for text in CHECKLIST])
    answers_ab = {CHECKLIST[0]: {"A": True, "B": False}, CHECKLIST[1]: {"A": True, "B": False},
                  CHECKLIST[2]: {"A": True, "B": False}}
    answers_ba = {CHECKLIST[0]: {"A": True, "B": False}, CHECKLIST[1]: {"A": True, "B": False},
                  CHECKLIST[2]: {"A": True, "B": True}}
    AIJudgmentWithRunsFactory(
        pair=pair, judge_config=judges["pairwise-checklist"], rubric=checklist, verdict=-2,
        verdict_before_length_rule=-2, confidence=0.86, expected_verdict=-1.62, position_consistent=True,
        rationale="Both orders prefer **A**: it gives the temperature with its unit and the altitude caveat. " + HOSTILE,
        runs=[
            judge_run("AB", -2, probabilities=[0.71, 0.2, 0.05, 0.03, 0.01], checklist_answers=answers_ab,
                      rationale="The user needs the boiling point. A answers all three checklist items; B misses the unit."),
            judge_run("BA", -1, probabilities=[0.38, 0.47, 0.1, 0.04, 0.01], checklist_answers=answers_ba,
                      rationale="Shown first, B gives a vague number without a unit; A (shown second) is precise. " + HOSTILE),
        ],
    )
    AIJudgmentWithRunsFactory(
        pair=pair, judge_config=judges["rubric-then-judge"], verdict=0, verdict_before_length_rule=-1,
        length_rule_applied=True, confidence=0.64, position_consistent=False,
        runs=[judge_run("AB", -1), judge_run("BA", 1, rationale="B is shown first and preferred.")],
    )
    return pair


def test_judges_page_and_pair_ai_judgments(browser_page, live_server, log_in, project, tmp_path):
    out = Path(os.environ.get("CONCORD_SCREENSHOT_DIR") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    judges = judged_project(project)
    pair = showcase_pair(project, judges)
    admin = UserFactory(username="ada")
    MembershipFactory(project=project, user=admin, role=Membership.Role.ADMIN)
    page = browser_page
    log_in(page, admin)

    page.goto(f"/projects/{project.slug}/")
    page.click("nav >> text=Judges")
    page.wait_for_selector("table.judges")
    assert page.locator("table.judges tbody tr").count() == 5
    checklist_row = page.locator(f"#judge-{judges['pairwise-checklist'].id}")
    assert "small-n" not in (checklist_row.get_attribute("class") or "")
    assert "small-n" in (page.locator(f"#judge-{judges['cdr'].id}").get_attribute("class") or "")
    assert page.locator("#rules li.rule").count() == 3
    page.locator("#rules details").first.click()
    assert page.locator("#rules details").first.locator("li").count() == 3
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "judges page overflows sideways"
    page.screenshot(path=str(out / "judges-page.png"), full_page=True)

    # An admin adds a judge; a JSON typo is refused first.
    page.fill("#id_name", "strict-pairwise")
    page.select_option("#id_method", "judge_pairwise")
    page.fill("#id_params", '{"n_samples": 2')
    page.click("#add-judge button[type=submit]")
    page.wait_for_selector("#add-judge .errorlist")
    assert "Not valid JSON" in page.inner_text("#add-judge")
    page.fill("#id_params", '{"n_samples": 2}')
    page.click("#add-judge button[type=submit]")
    page.wait_for_selector("text=Added judge strict-pairwise")
    assert page.locator("table.judges tbody tr").count() == 6

    page.goto(f"/projects/{project.slug}/pairs/{pair.id}/")
    page.wait_for_selector("#ai-judgments .run")
    section = page.locator("#ai-judgments")
    assert section.locator("details.ai-judgment").count() == 2
    assert "changed by length rule" in section.inner_text()
    assert page.evaluate("document.title") != "pwned" and page.locator("#ai-judgments img").count() == 0
    page.locator("#ai-judgments details.ai-judgment").nth(1).click()
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "pair page overflows sideways"
    section.scroll_into_view_if_needed()
    section.screenshot(path=str(out / "pair-ai-judgments.png"))
    assert_no_js_errors(page)
