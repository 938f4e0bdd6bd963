"""The reference runs the benchmarks measure themselves against: PostgreSQL's own COPY
of the rows an import wrote (bench.import_concord) and the CPU of the database backends
during an HTTP run (bench.annotation_http)."""
import time

import pytest
from django.db import connection

from bench.annotation_http import PostgresBackendCPU
from bench.import_concord import copy_reference, write_file
from curation.importers import dataset_import
from curation.models import Judgment, Pair, Project, Prompt, Response
from curation.services import project_create

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the reference runs use PostgreSQL COPY and backend processes"
)


def table_counts() -> tuple[int, ...]:
    return tuple(model.objects.count() for model in (Project, Prompt, Response, Pair, Judgment))


@postgres_only
def test_copy_reference_writes_the_imported_rows_again_and_leaves_nothing(db, tmp_path):
    path = tmp_path / "bench.jsonl"
    write_file(path, 120)
    project = project_create(name="bench import", slug="bench-import")
    dataset_import(path=path, project=project, fmt="concord")
    other = project_create(name="other", slug="other")  # rows of another project are not copied
    Prompt.objects.create(project=other, text="another project's prompt")
    before = table_counts()

    result = copy_reference(project)

    assert result["rows"] == {"curation_prompt": 120, "curation_response": 240, "curation_pair": 120,
                              "curation_judgment": 120}
    assert set(result["steps"]) == {*result["rows"], "foreign-key checks"}
    assert result["seconds"] == pytest.approx(sum(result["steps"].values()))
    assert table_counts() == before
    assert not Project.objects.filter(slug="bench-import-copy").exists()


@postgres_only
def test_backend_cpu_counts_only_what_the_backends_use_during_the_run(db):
    """The connection that samples first had imported the project before the run; its
    CPU until then is not the run's (it used to be counted in full)."""
    import psutil

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = psutil.Process(cursor.fetchone()[0])
        before = sum(backend.cpu_times()[:2])
        cursor.execute("SELECT count(*) FROM generate_series(1, 20000000)")
    assert sum(backend.cpu_times()[:2]) - before > 0.5  # this connection's backend has used CPU
    with PostgresBackendCPU(connection.settings_dict["NAME"]) as cpu:
        time.sleep(1.2)  # the thread samples twice; nothing runs
    assert cpu.seconds() < 0.3
