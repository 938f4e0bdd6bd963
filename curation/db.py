"""Set-based writes the ORM does slowly: many rows updated with different values.

``update_rows`` issues one ``UPDATE … FROM (VALUES …)`` per chunk (PostgreSQL and
SQLite ≥ 3.33 both have it) instead of Django's ``bulk_update`` CASE expressions,
which cost seconds of Python per thousand rows.
"""
from collections.abc import Sequence

from django.db import connection, models

CHUNK_ROWS = 500


def update_rows(model: type[models.Model], fields: Sequence[str], rows: Sequence[tuple]) -> None:
    """rows: (pk, value for each field) tuples."""
    if not rows:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    pk = model._meta.pk
    columns = [pk] + [model._meta.get_field(name) for name in fields]
    quoted = [connection.ops.quote_name(column.column) for column in columns]
    postgres = connection.vendor == "postgresql"
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start : start + CHUNK_ROWS]
        if postgres:
            casts = [f"%s::{column.cast_db_type(connection)}" for column in columns]
            values = ", ".join("(" + ", ".join(casts) + ")" for _ in chunk)
            names = ", ".join(quoted)
            assignments = ", ".join(f"{name} = v.{name}" for name in quoted[1:])
            sql = f"UPDATE {table} SET {assignments} FROM (VALUES {values}) AS v({names}) WHERE {table}.{quoted[0]} = v.{quoted[0]}"
        else:
            placeholder = "(" + ", ".join("%s" for _ in columns) + ")"
            values = ", ".join(placeholder for _ in chunk)
            assignments = ", ".join(f"{name} = v.column{i + 2}" for i, name in enumerate(quoted[1:]))
            sql = f"UPDATE {table} SET {assignments} FROM (VALUES {values}) AS v WHERE {table}.{quoted[0]} = v.column1"
        params = [
            column.get_db_prep_save(value, connection)
            for row in chunk
            for column, value in zip(columns, row)
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
