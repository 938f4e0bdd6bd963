import json

from django import forms
from django.contrib.auth import get_user_model

from .exports.options import FORMATS as EXPORT_FORMATS
from .exports.options import MARGINS, TIERS
from .importers import FORMATS
from .models import JudgeConfig, Membership, Pair, Project


class ProjectCreateForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["name", "description"]


class ProjectSettingsForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = [
            "name",
            "description",
            "instructions",
            "mode",
            "verdict_scale",
            "overlap",
            "quorum",
            "consensus_weighting",
            "lease_minutes",
            "gold_rate",
            "rationale_required",
            "length_rule_k",
            "silver_confidence",
            "human_budget",
            "auto_accept_min_pairs",
            "auto_accept_threshold",
            "audit_fraction",
            "default_model",
        ]
        widgets = {"instructions": forms.Textarea(attrs={"rows": 8}), "description": forms.Textarea(attrs={"rows": 3})}


class ImportForm(forms.Form):
    file = forms.FileField(help_text="JSON, JSON Lines or CSV; .gz is read as gzip.")
    format = forms.ChoiceField(choices=[("auto", "Detect from the first record")] + [(f, f) for f in FORMATS])
    dry_run = forms.BooleanField(required=False, label="Validate only (write nothing)")


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Membership.Role.choices)

    def clean_username(self):
        username = self.cleaned_data["username"]
        try:
            self.user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise forms.ValidationError(f"No user named {username!r}.")
        return username


class PairFilterForm(forms.Form):
    """Filters of the pair list. Beyond tier, status, category and queue, the others
    come from dashboard links ("the pairs behind a figure") and are listed above the
    table with a link that clears them; see ``selectors.pair_conditions``."""

    QUEUES = [
        ("", "any queue"),
        ("adjudication", "awaiting adjudication"),
        ("disagree", "humans disagree"),
        ("conflict", "humans vs AI"),
    ]
    HIDDEN = (
        "label_source", "judge", "human", "ai", "annotator", "gold", "wrong", "inconsistent", "longer_wins",
        "week", "category_none",
    )

    tier = forms.ChoiceField(choices=[("", "any tier")] + Pair.Tier.choices, required=False)
    status = forms.ChoiceField(choices=[("", "any status")] + Pair.Status.choices, required=False)
    category = forms.CharField(required=False, max_length=100, widget=forms.TextInput(attrs={"placeholder": "category"}))
    queue = forms.ChoiceField(choices=QUEUES, required=False)
    label_source = forms.CharField(required=False, max_length=30, widget=forms.HiddenInput)
    judge = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    human = forms.IntegerField(required=False, min_value=-2, max_value=2, widget=forms.HiddenInput)
    ai = forms.IntegerField(required=False, min_value=-2, max_value=2, widget=forms.HiddenInput)
    annotator = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    gold = forms.BooleanField(required=False, widget=forms.HiddenInput)
    wrong = forms.BooleanField(required=False, widget=forms.HiddenInput)
    inconsistent = forms.BooleanField(required=False, widget=forms.HiddenInput)
    longer_wins = forms.BooleanField(required=False, widget=forms.HiddenInput)
    week = forms.DateField(required=False, widget=forms.HiddenInput)
    category_none = forms.BooleanField(required=False, widget=forms.HiddenInput)
    after = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def filters(self) -> dict:
        data = self.cleaned_data if self.is_valid() else {}
        return {key: data[key] for key in ("tier", "status") if data.get(key)}

    def extra_filters(self) -> list[tuple[str, object]]:
        """The dashboard-link filters in use, for the "filtered by" line."""
        data = self.cleaned_data if self.is_valid() else {}
        return [(key, data[key]) for key in self.HIDDEN if data.get(key) not in (None, "", False)]


# --- exports (issue 8) ------------------------------------------------------------


class ExportForm(forms.Form):
    """The export options a curator sets on the project page (the command has them all)."""

    format = forms.ChoiceField(choices=[(f, f) for f in EXPORT_FORMATS], initial="trl")
    min_tier = forms.ChoiceField(
        choices=[("", "format default (silver; concord: everything)")] + [(t, t) for t in TIERS], required=False
    )
    keep_ties = forms.BooleanField(required=False, label="Keep ties")
    keep_flagged = forms.BooleanField(required=False, label="Keep flagged pairs")
    min_agreement = forms.FloatField(required=False, min_value=0, max_value=1, label="Minimum pair agreement",
                                     help_text="0.75 is advised for reward models")
    test_fraction = forms.FloatField(initial=0.0, min_value=0, max_value=0.99, label="Test fraction",
                                     help_text="split by prompt; 0 = no split")
    seed = forms.IntegerField(initial=0)
    margin = forms.ChoiceField(choices=[("", "no margin")] + [(m, m) for m in MARGINS], required=False,
                               help_text="trl only")
    conversational = forms.BooleanField(required=False, help_text="trl: message lists")
    strict = forms.BooleanField(required=False, help_text="only the format's columns; the rest in a sidecar")
    parquet = forms.BooleanField(required=False)

    def options(self) -> dict:
        """Options for ExportOptions.from_dict; unchecked 'keep' boxes mean the format's default."""
        data = dict(self.cleaned_data)
        for key in ("keep_ties", "keep_flagged"):
            data[key] = True if data[key] else None
        return data


class AdjudicationForm(forms.Form):
    """A reviewer's decision: a verdict on the project's scale and a note.

    ``action = mark_gold`` without a verdict keeps the pair's current label and makes
    it gold."""

    ACTIONS = [("decide", "Decide"), ("mark_gold", "Mark gold")]

    verdict = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, widget=forms.RadioSelect)
    note = forms.CharField(required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))
    action = forms.ChoiceField(choices=ACTIONS, initial="decide", required=False)

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        values = (-1, 0, 1) if project.verdict_scale == Project.Scale.THREE else (-2, -1, 0, 1, 2)
        labels = {-2: "A much better", -1: "A better", 0: "Tie", 1: "B better", 2: "B much better"}
        self.fields["verdict"].choices = [(v, labels[v]) for v in values]

    def clean(self):
        data = super().clean()
        if (data.get("action") or "decide") == "decide" and data.get("verdict") is None:
            self.add_error("verdict", "Choose a verdict.")
        return data


# --- AI judges (issue 5) ---------------------------------------------------------------

AI_JUDGE_METHODS = [
    (value, label)
    for value, label in JudgeConfig.Method.choices
    if value not in (JudgeConfig.Method.CONSTRUCTION, JudgeConfig.Method.IMPORTED)
]


class JudgeConfigForm(forms.Form):
    """An admin's new AI judge. ``params`` is a JSON object, checked here so a typo is
    reported with its line and column instead of being stored."""

    name = forms.SlugField(max_length=100, help_text="Letters, digits, - and _; used as run_job --param judge=NAME.")
    method = forms.ChoiceField(choices=AI_JUDGE_METHODS)
    model = forms.CharField(max_length=300, required=False, help_text="Empty: the project's default model.")
    template_version = forms.CharField(max_length=50, required=False, initial="1")
    params = forms.CharField(
        required=False,
        initial="{}",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text='A JSON object, e.g. {"n_samples": 2}.',
    )

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if JudgeConfig.objects.filter(project=self.project, name=name).exists():
            raise forms.ValidationError(f"This project already has a judge named {name!r}.")
        return name

    def clean_params(self) -> dict:
        text = (self.cleaned_data.get("params") or "").strip() or "{}"
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(
                f"Not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}."
            ) from None
        if not isinstance(value, dict):
            raise forms.ValidationError(
                f"Parameters must be a JSON object like {{\"n_samples\": 2}}, not a {type(value).__name__}."
            )
        return value
