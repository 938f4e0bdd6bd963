import random

import pytest

from curation.models import Membership, Project
from curation.services import annotator_for_user

from ..factories import AIJudgmentFactory, JudgeConfigFactory, PairFactory, ProjectFactory, UserFactory, MembershipFactory


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Many users are made here; the production hasher would take most of the run."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def queue_project(db) -> Project:
    """Overlap 2, no gold checks unless a test asks, five-level scale, two aspects."""
    return ProjectFactory(overlap=2, gold_rate=0.0, aspects=["helpfulness", "honesty"])


def make_routed(project: Project, n: int, **fields) -> list:
    """n routed pairs; routing scores fall with the index, so the queue order is the list order."""
    return [PairFactory(project=project, status="routed", routing_score=1.0 - i / 1000, **fields) for i in range(n)]


def make_annotator(project: Project, role: str = Membership.Role.ANNOTATOR, username: str | None = None):
    """A project member and their annotator identity."""
    user = UserFactory(**({"username": username} if username else {}))
    MembershipFactory(project=project, user=user, role=role)
    return user, annotator_for_user(user=user)


def add_ai_verdict(pair, verdict: int = -2, rationale: str = "AI-RATIONALE-SECRET: A is clearly better.", **fields):
    judge = JudgeConfigFactory(project=pair.project, name=f"judge-for-{pair.pk}", kind="ai")
    return AIJudgmentFactory(pair=pair, judge_config=judge, verdict=verdict, rationale=rationale, **fields)


@pytest.fixture
def rng() -> random.Random:
    return random.Random(7)
