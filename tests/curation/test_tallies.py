"""Row tallies (curation.tallies): the triggers count every way pairs and prompts are
written — the services, the importer, routing's bulk UPDATEs, raw SQL, deletes — and
a read folds a project's rows without changing a sum."""
import pytest
from django.db import connection

from curation import services, tallies
from curation.models import Pair, Prompt, RowTally
from curation.selectors import project_counts
from tests.factories import PairFactory, ProjectFactory, PromptFactory

pytestmark = pytest.mark.django_db

TRIGGERS = {"pair_tally_insert", "pair_tally_delete", "pair_tally_update", "prompt_tally_insert", "prompt_tally_delete"}


def assert_tallies_right(project) -> None:
    """The tallies equal a count of the tables themselves."""
    counted = tallies.counts(project.pk)
    pairs = Pair.objects.filter(project=project)
    expected = {}
    for tier, status in pairs.values_list("tier", "status"):
        expected[(tier, status)] = expected.get((tier, status), 0) + 1
    assert counted.by_tier_status == expected
    assert counted.pairs == pairs.count()
    assert counted.prompts == Prompt.objects.filter(project=project).count()


def test_the_triggers_exist_after_every_migration():
    """A later migration that remakes the pair or prompt table on SQLite (Django copies
    the table) drops its triggers; it must create them again."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        names = {row[0] for row in cursor.fetchall()}
    assert TRIGGERS <= names


def test_every_kind_of_write_is_counted():
    project, other = ProjectFactory(), ProjectFactory()
    pairs = [PairFactory(project=project) for _ in range(6)]
    PairFactory(project=other)
    PromptFactory(project=project)  # a prompt without pairs
    assert_tallies_right(project)
    assert tallies.counts(project.pk).prompts == 7 and tallies.counts(other.pk).pairs == 1

    pairs[0].tier = Pair.Tier.GOLD
    pairs[0].save()  # a model save
    Pair.objects.filter(pk__in=[pairs[1].pk, pairs[2].pk]).update(status=Pair.Status.ROUTED, tier=Pair.Tier.SILVER)
    Pair.objects.filter(pk=pairs[3].pk).update(n_active_leases=1)  # not a tier or status: nothing to count
    with connection.cursor() as cursor:
        cursor.execute("UPDATE curation_pair SET status = 'accepted' WHERE id = %s", [pairs[4].pk])
    assert_tallies_right(project)
    counts = tallies.counts(project.pk)
    assert counts.tiers == {"gold": 1, "silver": 2, "unverified": 3}
    assert counts.statuses == {"open": 3, "routed": 2, "accepted": 1}

    Pair.objects.filter(pk=pairs[5].pk).delete()
    Prompt.objects.filter(pk=pairs[5].prompt_id).delete()
    assert_tallies_right(project)
    assert tallies.counts(other.pk).pairs == 1

    summary = project_counts(project)
    assert summary["pairs"] == 5 and summary["prompts"] == 6
    assert summary["tiers"] == {"unverified": 2, "silver": 2, "gold": 1}


def test_routing_moves_are_counted(settings):
    project = ProjectFactory(human_budget=3)
    for _ in range(8):
        PairFactory(project=project, routing_score=0.5)
    services.pairs_route(project=project)
    assert_tallies_right(project)
    assert tallies.counts(project.pk).statuses["routed"] == Pair.objects.filter(project=project, status="routed").count()


def test_a_read_folds_many_rows_into_one_per_key(monkeypatch):
    project = ProjectFactory()
    pair = PairFactory(project=project)
    monkeypatch.setattr(tallies, "FOLD_AT", 20)
    for i in range(15):  # 30 signed rows, most cancelling out
        Pair.objects.filter(pk=pair.pk).update(status=Pair.Status.ROUTED if i % 2 == 0 else Pair.Status.OPEN)
    assert RowTally.objects.filter(project_id=project.pk).count() > 20
    before = tallies.counts(project.pk)  # sums, then folds
    rows = list(RowTally.objects.filter(project_id=project.pk).values_list("kind", "tier", "status", "n"))
    assert sorted(rows) == [("pair", "unverified", "routed", 1), ("prompt", "", "", 1)]
    assert tallies.counts(project.pk) == before
    assert_tallies_right(project)


def test_deleting_a_project_deletes_its_rows():
    project = ProjectFactory()
    PairFactory(project=project)
    keep = PairFactory().project
    Pair.objects.filter(project=project).delete()  # pairs protect their prompts: a project with pairs is not deleted
    project.delete()
    assert not RowTally.objects.filter(project_id=project.pk).exists()
    assert tallies.counts(keep.pk).pairs == 1


def test_a_fold_that_fails_changes_nothing(monkeypatch):
    """A fold that fails (SQLite busy, a serialization failure) is rolled back to its
    savepoint: the read still returns the sums, and the transaction goes on."""
    from django.db import OperationalError

    project = ProjectFactory()
    pair = PairFactory(project=project)
    monkeypatch.setattr(tallies, "FOLD_AT", 4)
    for i in range(4):
        Pair.objects.filter(pk=pair.pk).update(status=Pair.Status.ROUTED if i % 2 == 0 else Pair.Status.OPEN)
    rows_before = RowTally.objects.filter(project_id=project.pk).count()

    def refuse_deletes(execute, sql, params, many, context):
        if "DELETE FROM" in sql and RowTally._meta.db_table in sql:
            raise OperationalError("database is locked")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse_deletes):
        counted = tallies.counts(project.pk)
    assert counted.statuses == {"open": 1} and counted.prompts == 1
    assert RowTally.objects.filter(project_id=project.pk).count() == rows_before  # nothing folded, nothing lost
    tallies.counts(project.pk)  # the next read folds
    assert RowTally.objects.filter(project_id=project.pk).count() == 2
    assert_tallies_right(project)
