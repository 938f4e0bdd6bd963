"""API fixtures: a project with members of every role and some data to read."""
from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from curation import services
from curation.models import Adjudication, ExportJob, GenerationJob, Pair, Project, Rubric

from ..factories import (
    AIJudgmentFactory,
    HumanJudgmentFactory,
    MembershipFactory,
    PairFactory,
    ProjectFactory,
    UserFactory,
)

ROLES = ("anonymous", "outsider", "annotator", "reviewer", "admin")


@pytest.fixture(autouse=True)
def _fresh_throttles():
    """Throttle counts live in the cache; each test starts with none."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """The factories give every user a password; PBKDF2 would cost a second per user."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class World:
    project: Project
    users: dict
    pair: Pair  # a pair nobody has judged yet
    judged_pair: Pair  # judged by the annotator and by an AI judge
    job: GenerationJob
    export: ExportJob


@pytest.fixture
def world(db) -> World:
    project = ProjectFactory(slug="api-project", overlap=2)
    users = {"anonymous": None, "outsider": UserFactory(username="outsider")}
    for role in ("annotator", "reviewer", "admin"):
        users[role] = UserFactory(username=role)
        MembershipFactory(project=project, user=users[role], role=role)
    judged = PairFactory(project=project)
    HumanJudgmentFactory(pair=judged, annotator=services.annotator_for_user(user=users["annotator"]), verdict=-1,
                         rationale="A is better.")
    HumanJudgmentFactory(pair=judged, verdict=-2)
    AIJudgmentFactory(pair=judged, verdict=-1, rationale="secret AI reasoning")
    gold = PairFactory(project=project)
    Adjudication.objects.create(project=project, pair=gold, verdict=1, note="B.")
    services.pairs_refresh(pair_ids=[judged.id, gold.id])
    Rubric.objects.create(project=project, prompt=judged.prompt, kind="checklist", items=[{"text": "Correct?"}],
                          origin="human")
    job = GenerationJob.objects.create(project=project, method="sample", params={"n": 4}, created_by=users["admin"])
    export = ExportJob.objects.create(project=project, format="trl", created_by=users["admin"])
    return World(project=project, users=users, pair=PairFactory(project=project), judged_pair=judged, job=job,
                 export=export)


@pytest.fixture
def api_client():
    return APIClient()


def client_for(world: World, role: str) -> APIClient:
    client = APIClient()
    if world.users[role] is not None:
        client.force_authenticate(world.users[role])
    return client
