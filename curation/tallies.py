"""A project's pairs per tier and status, and its prompts, counted without scanning them.

Database triggers (migration 0004) append a signed row to ``RowTally`` for every
insert, delete or change of tier/status of a pair and every insert or delete of a
prompt, whatever wrote it. ``counts`` sums a project's rows (an index scan of a few
dozen rows instead of a million pairs: 0.2–0.7 s at 1M) and, once a project has
gathered more than ``FOLD_AT`` of them, folds them into one row per key in the same
transaction. Folding deletes the rows it sums (``DELETE … RETURNING``), so two folds
at once, or writers adding rows meanwhile, never count a change twice or lose one.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import DatabaseError, connection, transaction

from .models import RowTally

logger = logging.getLogger(__name__)

FOLD_AT = 200  # rows of a project before a read folds them
TABLE = RowTally._meta.db_table


@dataclass
class Counts:
    prompts: int = 0
    tiers: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    statuses: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    by_tier_status: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def pairs(self) -> int:
        return sum(self.tiers.values())


def counts(project_id: int) -> Counts:
    """The project's prompts and its pairs per tier and status (one query; a fold
    when the project's rows have piled up)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT kind, tier, status, SUM(n), COUNT(*) FROM {TABLE} WHERE project_id = %s GROUP BY kind, tier, status",
            [project_id],
        )
        rows = cursor.fetchall()
    result = Counts()
    n_rows = 0
    for kind, tier, status, n, k in rows:
        n_rows += k
        if kind == RowTally.Kind.PROMPT:
            result.prompts += n
        elif n:
            result.tiers[tier] += n
            result.statuses[status] += n
            result.by_tier_status[(tier, status)] = n
    if n_rows > FOLD_AT:
        fold(project_id)
    return result


def fold(project_id: int) -> None:
    """Replace a project's rows by their sums, one row per key (zeros dropped). A fold
    that fails (SQLite busy, a serialization failure under REPEATABLE READ) is rolled
    back to its savepoint and left to a later read: the sums are right unfolded."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"WITH gone AS (DELETE FROM {TABLE} WHERE project_id = %s RETURNING kind, tier, status, n) "
                    f"INSERT INTO {TABLE} (project_id, kind, tier, status, n) "
                    "SELECT %s, kind, tier, status, SUM(n) FROM gone GROUP BY kind, tier, status HAVING SUM(n) <> 0",
                    [project_id, project_id],
                )
            else:  # SQLite: one writer at a time, so read, delete and write back in one transaction
                cursor.execute(f"SELECT MAX(id) FROM {TABLE} WHERE project_id = %s", [project_id])
                (through,) = cursor.fetchone()
                cursor.execute(
                    f"SELECT kind, tier, status, SUM(n) FROM {TABLE} WHERE project_id = %s AND id <= %s "
                    "GROUP BY kind, tier, status HAVING SUM(n) <> 0",
                    [project_id, through],
                )
                sums = cursor.fetchall()
                cursor.execute(f"DELETE FROM {TABLE} WHERE project_id = %s AND id <= %s", [project_id, through])
                RowTally.objects.bulk_create(
                    RowTally(project_id=project_id, kind=kind, tier=tier, status=status, n=n)
                    for kind, tier, status, n in sums
                )
    except DatabaseError as error:
        logger.warning("folding the row tallies of project %s failed, left for a later read: %s", project_id, error)


def forget_project(sender, instance, **kwargs) -> None:
    """A deleted project's rows (its pairs' and prompts' deletes sum them to zero)."""
    RowTally.objects.filter(project_id=instance.pk).delete()
