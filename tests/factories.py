"""factory_boy factories: each test builds exactly the rows it needs."""
import factory
from django.contrib.auth import get_user_model

from curation.hashing import pair_hash, prompt_hash, response_hash
from curation.models import Adjudication, Annotator, JudgeConfig, Judgment, Membership, Pair, Project, Prompt, Response


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests-1")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.ANNOTATOR


class PromptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prompt

    project = factory.SubFactory(ProjectFactory)
    text = factory.Sequence(lambda n: f"Prompt number {n}: explain something.")
    content_hash = factory.LazyAttribute(lambda o: prompt_hash(o.text, o.messages))
    messages = None
    category = "facts"


class ResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Response

    prompt = factory.SubFactory(PromptFactory)
    text = factory.Sequence(lambda n: f"Response text {n}.")
    content_hash = factory.LazyAttribute(lambda o: response_hash(o.text))
    producer = "test"
    n_chars = factory.LazyAttribute(lambda o: len(o.text))


class PairFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pair

    project = factory.SubFactory(ProjectFactory)
    prompt = factory.SubFactory(PromptFactory, project=factory.SelfAttribute("..project"))
    response_a = factory.SubFactory(ResponseFactory, prompt=factory.SelfAttribute("..prompt"))
    response_b = factory.SubFactory(ResponseFactory, prompt=factory.SelfAttribute("..prompt"))
    content_hash = factory.LazyAttribute(
        lambda o: pair_hash(o.prompt.content_hash, o.response_a.content_hash, o.response_b.content_hash)
    )


class AnnotatorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Annotator
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"annotator{n}")
    source = "test"


class JudgeConfigFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = JudgeConfig

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"judge-{n}")
    method = JudgeConfig.Method.PAIRWISE
    model = "test-model"


class HumanJudgmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Judgment

    pair = factory.SubFactory(PairFactory)
    project = factory.SelfAttribute("pair.project")
    annotator = factory.SubFactory(AnnotatorFactory)
    is_human = True
    verdict = -1


class AIJudgmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Judgment

    pair = factory.SubFactory(PairFactory)
    project = factory.SelfAttribute("pair.project")
    judge_config = factory.SubFactory(JudgeConfigFactory, project=factory.SelfAttribute("..pair.project"))
    is_human = False
    verdict = -1
    confidence = 0.8
    position_consistent = True


# --- curation (issue 7) ----------------------------------------------------------------


class AdjudicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Adjudication

    pair = factory.SubFactory(PairFactory)
    project = factory.SelfAttribute("pair.project")
    verdict = -1
    source = Adjudication.Source.REVIEW


# --- AI judges (issue 5) ------------------------------------------------------------------


def judge_run(shown_order: str = "AB", verdict: int | None = -1, **fields) -> dict:
    """One entry of ``Judgment.runs``: a judge call in one shown order, its verdict in
    stored orientation (``verdict_as_shown`` is negated back for BA)."""
    as_shown = None if verdict is None else (verdict if shown_order == "AB" else -verdict)
    probabilities = [0.0] * 5
    if verdict is not None:
        probabilities[verdict + 2] = 1.0
    return {
        "shown_order": shown_order,
        "verdict": verdict,
        "verdict_as_shown": as_shown,
        "probabilities": probabilities,
        "rationale": f"Run shown {shown_order}.",
        "checklist_answers": {},
        "parse_ok": verdict is not None,
        "llm_call": None,
        **fields,
    }


class AIJudgmentWithRunsFactory(AIJudgmentFactory):
    """A swapped pairwise judgment: the original and the swapped run agree."""

    runs = factory.LazyAttribute(lambda o: [judge_run("AB", o.verdict), judge_run("BA", o.verdict)])
    verdict_before_length_rule = factory.SelfAttribute("verdict")
    rationale = "Combined from both orders."
