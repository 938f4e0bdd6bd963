"""What the database can store, checked on a parsed Record before anything is written.

Parsers check types and values; this checks sizes against the columns the writer
fills: a name longer than its ``max_length`` (PostgreSQL refuses it; SQLite would
keep it), an integer beyond its column's range, a number that is not finite. Without
it such a record failed in the middle of the write with a DataError instead of a
RecordError naming the field (found by the fuzzing in tests/fault). NaN and
infinity in JSON values are refused by the readers (readers.py) already.

Identities (annotator and judge names) are refused rather than cut: two long names
sharing a prefix must not become one annotator. The checks are compiled once per
record class: the validation pass runs them on every record of a million-pair file.
"""
from __future__ import annotations

import math
from functools import cache

from django.db import models

from curation.models import Annotator, JudgeConfig, Judgment, Pair, Prompt, Response, Rubric, Score

from .records import (
    AdjudicationLabel,
    AILabel,
    HumanLabel,
    PairRecord,
    Record,
    RecordError,
    ResponseRecord,
    RubricRecord,
    ScoreRecord,
)

# Record attribute → the column it is written to (attributes the writer cuts to
# length itself, such as external ids and the category, are not listed).
COLUMNS = {
    Record: {"prompt_origin": (Prompt, "origin")},
    ResponseRecord: {"producer_kind": (Response, "producer_kind"), "finish_reason": (Response, "finish_reason"),
                     "n_tokens": (Response, "n_tokens")},
    PairRecord: {"origin": (Pair, "origin"), "ensemble_mu": None, "ensemble_sigma": None},
    HumanLabel: {"annotator": (Annotator, "name"), "raw_value": (Judgment, "raw_value"),
                 "raw_scale": (Judgment, "raw_scale"), "shown_order": (Judgment, "shown_order"),
                 "mode": (Judgment, "mode"), "time_spent_ms": (Judgment, "time_spent_ms")},
    AILabel: {"judge": (JudgeConfig, "name"), "kind": (JudgeConfig, "kind"), "method": (JudgeConfig, "method"),
              "model": (JudgeConfig, "model"), "backend": (JudgeConfig, "backend"),
              "template_version": (JudgeConfig, "template_version"), "raw_value": (Judgment, "raw_value"),
              "raw_scale": (Judgment, "raw_scale"), "confidence": None, "expected_verdict": None},
    ScoreRecord: {"judge": (JudgeConfig, "name"), "aspect": (Score, "aspect"), "value": None, "expected": None},
    RubricRecord: {"kind": (Rubric, "kind"), "version": (Rubric, "version"), "origin": (Rubric, "origin"),
                   "task_type": (Rubric, "task_type")},
    AdjudicationLabel: {},
}
# Lists of nested records to walk.
CHILDREN = {
    Record: ("responses", "pairs", "scores", "rubrics"),
    PairRecord: ("human", "ai", "adjudications"),
}

INT_RANGES = {
    models.SmallIntegerField: (-32768, 32767),
    models.PositiveSmallIntegerField: (0, 32767),
    models.IntegerField: (-2147483648, 2147483647),
    models.PositiveIntegerField: (0, 2147483647),
    models.BigIntegerField: (-(2**63), 2**63 - 1),
}


@cache
def _checks(cls) -> tuple[tuple[str, str, object], ...]:
    """(attribute, kind, bound) for one record class: kind is length, range or finite."""
    checks = []
    for name, column in COLUMNS.get(cls, {}).items():
        if column is None:
            checks.append((name, "finite", None))
            continue
        field = column[0]._meta.get_field(column[1])
        if getattr(field, "max_length", None):
            checks.append((name, "length", field.max_length))
            continue
        bound = next((INT_RANGES[c] for c in type(field).__mro__ if c in INT_RANGES), None)
        if bound:
            checks.append((name, "range", bound))
    return tuple(checks)


def check_storable(record: Record) -> Record:
    """Raise RecordError (naming the field) for a value no column can hold."""
    _check(record, record.location, "")
    return record


def _check(obj, location: str, path: str) -> None:
    for name, kind, bound in _checks(type(obj)):
        value = getattr(obj, name)
        if value is None:
            continue
        if kind == "length":
            if isinstance(value, str) and len(value) > bound:
                raise RecordError(location, path + name, f"is {len(value):,} characters long; at most {bound} fit")
        elif kind == "range":
            if isinstance(value, int) and not bound[0] <= value <= bound[1]:
                raise RecordError(location, path + name, f"{value} is out of range ({bound[0]} to {bound[1]})")
        elif isinstance(value, float) and not math.isfinite(value):
            raise RecordError(location, path + name, f"{value} is not a finite number")
    for name in CHILDREN.get(type(obj), ()):
        for index, child in enumerate(getattr(obj, name)):
            _check(child, location, f"{path}{name}[{index}].")
