"""Schemathesis against the OpenAPI schema: generated requests to every operation, as
a project admin on a real project, never get a 5xx. Bounded examples (< 60 s)."""
import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 8


# Loaded from the app itself (no server, no network); generating the schema needs no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Like Django's test client: requests made in-process must not close the test
    transaction's connection when they finish."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def admin_token(world) -> dict:
    return {"slug": world.project.slug, "pair_id": world.judged_pair.id, "job_id": world.job.id,
            "export_id": world.export.id, "token": Token.objects.create(user=world.users["admin"]).key}


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, admin_token):
    # Point the generated request at the real project, so it reaches the code behind
    # the permission check, and at real objects for even generated ids (odd ones stay
    # as generated: missing, or beyond 64 bits).
    for name, value in (case.path_parameters or {}).items():
        if name == "slug" or (isinstance(value, int) and value % 2 == 0):
            case.path_parameters[name] = admin_token[name]
    case.call_and_validate(headers={"Authorization": f"Token {admin_token['token']}"}, checks=[not_a_server_error])
