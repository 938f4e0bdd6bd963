"""No N+1 on list endpoints: the number of queries does not grow with the page."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from curation.models import ExportJob, GenerationJob, Rubric

from ..factories import AIJudgmentFactory, HumanJudgmentFactory, PairFactory
from .conftest import client_for

pytestmark = pytest.mark.django_db

# The project, the member's role, the page: three queries whatever the page holds.
LIST_PATHS = ["prompts/", "pairs/", "judgments/", "rubrics/", "jobs/", "exports/"]


def add_rows(world, n: int) -> None:
    for _ in range(n):
        pair = PairFactory(project=world.project)
        HumanJudgmentFactory(pair=pair)
        AIJudgmentFactory(pair=pair)
        Rubric.objects.create(project=world.project, prompt=pair.prompt, kind="checklist", origin="human")
        GenerationJob.objects.create(project=world.project, method="judge", created_by=world.users["admin"])
        ExportJob.objects.create(project=world.project, format="csv", created_by=world.users["admin"])


def count_queries(world, path: str, role: str = "admin") -> int:
    client = client_for(world, role)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/api/projects/{world.project.slug}/{path}?page_size=50")
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("path", LIST_PATHS)
def test_list_queries_do_not_grow_with_rows(world, path):
    add_rows(world, 3)
    few = count_queries(world, path)
    add_rows(world, 20)
    assert count_queries(world, path) == few <= 3


def test_annotator_judgments_and_project_list(world, django_assert_max_num_queries):
    add_rows(world, 10)
    with django_assert_max_num_queries(3):
        assert client_for(world, "annotator").get(f"/api/projects/{world.project.slug}/judgments/").status_code == 200
    with django_assert_max_num_queries(1):
        assert client_for(world, "admin").get("/api/projects/").status_code == 200
