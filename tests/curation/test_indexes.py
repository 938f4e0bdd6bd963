"""The content tables' indexes after every migration: each foreign key can still be
looked up by an index (deletes and joins need one), and no index repeats another
(each one is written on every insert: migration curation 0006 dropped seven)."""
import pytest
from django.apps import apps
from django.db import connection

pytestmark = pytest.mark.django_db

TABLES = ("curation_prompt", "curation_response", "curation_pair", "curation_judgment")


def _indexes(table: str) -> dict[str, dict]:
    with connection.cursor() as cursor:
        return {
            name: info
            for name, info in connection.introspection.get_constraints(cursor, table).items()
            if info["index"] or info["unique"] or info["primary_key"]
        }


def _foreign_key_columns(table: str) -> list[str]:
    model = next(m for m in apps.get_models() if m._meta.db_table == table)
    return [f.column for f in model._meta.concrete_fields if f.is_relation and f.many_to_one]


@pytest.mark.parametrize("table", TABLES)
def test_every_foreign_key_leads_an_index(table):
    leading = {info["columns"][0] for info in _indexes(table).values() if info["columns"]}
    missing = [column for column in _foreign_key_columns(table) if column not in leading]
    assert missing == [], f"{table}: no index starts with {missing}"


@pytest.mark.parametrize("table", TABLES)
def test_the_dropped_indexes_stay_dropped(table):
    """The single-column indexes whose column leads a wider index are gone (and the
    duplicate ``pair_prompt``)."""
    dropped = {
        "curation_prompt": {"curation_prompt_project_id_b2680f72"},
        "curation_response": {"curation_response_prompt_id_df1b30ce"},
        "curation_pair": {"curation_pair_project_id_470a32ce", "pair_prompt"},
        "curation_judgment": {
            "curation_judgment_project_id_926351bb",
            "curation_judgment_annotator_id_2ce9d487",
            "curation_judgment_judge_config_id_d06e3056",
        },
    }[table]
    assert dropped.isdisjoint(_indexes(table))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_index tells partial indexes apart")
@pytest.mark.parametrize("table", TABLES)
def test_no_index_repeats_another(table):
    """No two full (not partial) indexes on the same columns, and no single-column
    index whose column leads another full index."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, i.indkey::int2[], i.indisunique, i.indclass::oid[] FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = %s::regclass AND i.indpred IS NULL AND i.indexprs IS NULL",
            [table],
        )
        full = cursor.fetchall()
    keys = [(tuple(key), tuple(classes)) for _, key, _, classes in full]  # columns and operator classes
    assert len(keys) == len(set(keys)), f"{table}: two indexes on the same columns: {full}"
    for name, key, unique, _ in full:
        if len(key) == 1 and not unique:
            wider = [other for other, other_key, _, _ in full if len(other_key) > 1 and other_key[0] == key[0]]
            # a varchar_pattern_ops index (Django's *_like) answers LIKE, which the wider ones do not
            if wider and not name.endswith("_like"):
                pytest.fail(f"{table}: {name} repeats the first column of {wider}")
