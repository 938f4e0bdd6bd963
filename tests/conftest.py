import os
from pathlib import Path

import pytest

from curation.models import Membership

from .factories import MembershipFactory, ProjectFactory, UserFactory

pytest_plugins = ["tests.support.browser", "tests.support.worker", "tests.support.server"]

SHARED_DATA = Path(os.environ.get("CONCORD_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    """Tests never depend on a collectstatic run lying around in var/."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data: real public preference sets. Skipped in a user's clone without
    it; CI sets CONCORD_REQUIRE_SHARED=1, which turns the skip into a failure."""
    if not SHARED_DATA.is_dir():
        message = f"shared data not found at {SHARED_DATA} (set CONCORD_SHARED_DATA)"
        if os.environ.get("CONCORD_REQUIRE_SHARED") == "1":
            pytest.fail(message + " and CONCORD_REQUIRE_SHARED=1")
        pytest.skip(message)
    return SHARED_DATA


@pytest.fixture
def project(db):
    return ProjectFactory()


@pytest.fixture
def member(project):
    """Make a user with a role in the project: member('annotator') → user."""

    def make(role: str = Membership.Role.ANNOTATOR, username: str | None = None):
        user = UserFactory(**({"username": username} if username else {}))
        MembershipFactory(project=project, user=user, role=role)
        return user

    return make


@pytest.fixture
def project_admin_client(client, member):
    client.force_login(member(Membership.Role.ADMIN))
    return client
