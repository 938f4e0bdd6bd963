"""The review form: parses what the page posts, in the shown orientation.

The rules (scale, rationale required, one judgment per pair, overlap) live in
``curation.services.judgment_record_human``; this form only reads the fields.
"""
from django import forms

from curation.models import Project, Rubric
from curation.services import HUMAN_FLAGS

from .services import SKIP_REASONS, Submission

MAX_RATIONALE = 20_000
SIDES = ("A", "B")
ANSWERS = {"yes": True, "no": False}


def scale_values(project: Project) -> list[int]:
    """Verdict values of the project's scale, left (A much better) to right."""
    return [-1, 0, 1] if project.verdict_scale == Project.Scale.THREE else [-2, -1, 0, 1, 2]


def aspect_field(aspect: str) -> str:
    return f"aspect-{aspect}"


def check_field(index: int, side: str) -> str:
    return f"check-{index}-{side}"


class ReviewForm(forms.Form):
    verdict = forms.TypedChoiceField(
        coerce=int, error_messages={"required": "Choose a verdict (keys 1–5, or the buttons)."}
    )
    rationale = forms.CharField(required=False, max_length=MAX_RATIONALE, strip=True)
    flags = forms.MultipleChoiceField(choices=list(HUMAN_FLAGS.items()), required=False)
    time_spent_ms = forms.IntegerField(required=False, min_value=0)

    def __init__(self, *args, project: Project, checklist: list[str], rubric: Rubric | None, **kwargs):
        super().__init__(*args, **kwargs)
        self.project, self.checklist, self.rubric = project, checklist, rubric
        values = [(value, str(value)) for value in scale_values(project)]
        self.fields["verdict"].choices = values
        for aspect in project.aspects:
            self.fields[aspect_field(aspect)] = forms.TypedChoiceField(
                coerce=int, choices=[("", "—"), *values], required=False, empty_value=None
            )
        for index, _ in enumerate(checklist):
            for side in SIDES:
                self.fields[check_field(index, side)] = forms.ChoiceField(
                    choices=[("", "—"), ("yes", "Yes"), ("no", "No")], required=False
                )

    def submission(self) -> Submission:
        data = self.cleaned_data
        aspects = {
            aspect: data[aspect_field(aspect)]
            for aspect in self.project.aspects
            if data.get(aspect_field(aspect)) is not None
        }
        checklist = {}
        for index, text in enumerate(self.checklist):
            sides = {side: ANSWERS[data[check_field(index, side)]] for side in SIDES if data.get(check_field(index, side))}
            if sides:
                checklist[text] = sides
        return Submission(
            verdict=data["verdict"],
            aspects=aspects,
            checklist_answers=checklist,
            rationale=data["rationale"],
            flags=list(data["flags"]),
            time_spent_ms=data["time_spent_ms"],
            rubric=self.rubric,
        )


class SkipForm(forms.Form):
    reason = forms.ChoiceField(
        choices=list(SKIP_REASONS.items()), error_messages={"required": "Choose why you skip this pair."}
    )
    note = forms.CharField(required=False, max_length=190, strip=True)


class RevealForm(forms.Form):
    verdict = forms.TypedChoiceField(coerce=int, error_messages={"required": "Choose a verdict."})
    rationale = forms.CharField(required=False, max_length=MAX_RATIONALE, strip=True)

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["verdict"].choices = [(value, str(value)) for value in scale_values(project)]
