"""Export fixtures: a project built through the real importer (so tiers and labels
come from the real consensus code), and a real Celery worker process."""
import json
import time
from pathlib import Path

import pytest

from curation.importers import dataset_import
from curation.models import Pair

from ..factories import ProjectFactory


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """The factories give every user a password; PBKDF2 would cost a second per user."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

UF_ASPECTS = ("instruction_following", "honesty", "truthfulness", "helpfulness")


def uf_scores(side: str, values: tuple[int, int, int, int], judge: str = "uf-rater") -> list[dict]:
    return [
        {"side": side, "judge": judge, "aspect": aspect, "value": value, "rationale": f"{aspect} is {value}"}
        for aspect, value in zip(UF_ASPECTS, values)
    ]


def silver_judges(verdict: int) -> list[dict]:
    """Two agreeing, confident, position-consistent AI judges: a silver pair."""
    return [
        {"judge": "judge-a", "verdict": verdict, "confidence": 0.9, "position_consistent": True,
         "rationale": "Judge A's reasoning.", "model": "model-a", "template_version": "2",
         "runs": [{"shown_order": "ab", "verdict": verdict, "p": [0.1, 0.6, 0.1, 0.1, 0.1]}]},
        {"judge": "judge-b", "verdict": verdict * 2 if abs(verdict) == 1 else verdict, "confidence": 0.8,
         "position_consistent": True, "rationale": "Judge B's reasoning.", "model": "model-b"},
    ]


N_SILVER = 30

SPECIAL_ROWS = [
    {
        "id": "p-adj",
        "prompt": "What is 2 + 2?",
        "prompt_metadata": {"difficulty": "easy"},
        "category": "math",
        "metadata": {"note": "fixture"},
        "response_a": "4",
        "response_b": "5",
        "producer_a": "model-x",
        "producer_b": "model-y",
        "response_a_meta": {"producer_kind": "model", "params": {"temperature": 0.8}, "n_tokens": 1,
                            "finish_reason": "stop"},
        "adjudications": [{"verdict": -2, "note": "Four is right. Five is off by one.", "source": "review"}],
        "judgments": [
            {"annotator": "ann-1", "verdict": -2, "rationale": "A is correct. B is off by one.",
             "aspects": {"truthfulness": -2}, "shown_order": "ba", "mode": "blind", "time_spent_ms": 5300},
            {"annotator": "ann-2", "verdict": -1, "rationale": "A.", "mode": "reveal_after"},
            {"annotator": "ann-2", "verdict": -2, "rationale": "A, clearly.", "mode": "reveal_after", "revised": True},
        ],
        "ai_judgments": silver_judges(-1),
        "scores": uf_scores("a", (5, 5, 5, 4)) + uf_scores("b", (1, 2, 1, 2)),
        "rubrics": [{"kind": "checklist", "version": 1, "items": [{"text": "Is the sum right?"}],
                     "origin": "judge_pairwise"}],
    },
    {
        "id": "p-consensus",
        "prompt": "Write a haiku about rain.",
        "response_a": "Rain falls. It is wet.",
        "response_b": "Soft rain on the roof / the garden drinks in silence / puddles hold the sky",
        "judgments": [
            {"annotator": "ann-1", "verdict": 1, "rationale": "B is a haiku. A is not."},
            {"annotator": "ann-2", "verdict": 2, "rationale": "B follows the form."},
            {"annotator": "ann-3", "verdict": 1, "rationale": "B."},
            {"annotator": "ann-4", "verdict": 2, "rationale": "B has imagery. A has none."},
        ],
    },
    {
        "id": "p-gold-import",
        "prompt": "Give the capital of France.",
        "response_a": "Lyon.",
        "response_b": "Paris.",
        "gold": {"verdict": 1, "source": "llmbar/natural", "note": "expert label"},
    },
    {
        "id": "p-tie",
        "prompt": "Say hello.",
        "response_a": "Hello!",
        "response_b": "Hi there!",
        "adjudications": [{"verdict": 0, "note": "Both fine."}],
    },
    {
        "id": "p-flagged",
        "prompt": "Is a tomato a fruit?",
        "response_a": "Botanically, yes.",
        "response_b": "No, it is a vegetable.",
        "flags": ["ambiguous"],
        "ensemble_mu": 0.2,
        "ensemble_sigma": 1.1,
        "adjudications": [{"verdict": -1}],
    },
    {
        "id": "p-empty",
        "prompt": "Describe the sea.",
        "response_a": "Vast, blue and restless.",
        "response_b": "   ",
        "adjudications": [{"verdict": -1}],
    },
    {
        "id": "p-unverified",
        "prompt": "Name a prime number.",
        "response_a": "Nine.",
        "response_b": "Seven.",
        "ai_judgments": [{"judge": "judge-a", "verdict": 1, "confidence": 0.6, "position_consistent": False}],
    },
    {"prompt": "A prompt waiting for generation.", "category": "writing",
     "rubrics": [{"kind": "rubric", "version": 1, "items": [{"text": "Clear", "weight": 1.0}], "origin": "human"}]},
]


def silver_rows(n: int = N_SILVER) -> list[dict]:
    rows = []
    for i in range(n):
        verdict = -1 if i % 2 else 1
        row = {
            "prompt": f"Tell me one fact about topic number {i}.",
            "category": f"c{i % 3}",
            "response_a": f"Topic {i} is interesting because of reason {i}.",
            "response_b": f"I do not know anything about topic {i}.",
            "origin": "sample" if i % 3 else "rmboost",
            "ai_judgments": silver_judges(verdict),
        }
        if i < 10:  # aspect ratings on a third of them, for the ultrafeedback format
            better, worse = (5, 4, 5, 4), (2, 3, 2, 3)
            row["scores"] = uf_scores("a", better if verdict < 0 else worse) + uf_scores("b", worse if verdict < 0 else better)
        rows.append(row)
    return rows


# Default selection (silver or better, no ties, no flagged, no empty side):
# p-adj, p-consensus, p-gold-import and the silver pairs.
DEFAULT_PAIRS = 3 + N_SILVER
ALL_PAIRS = 7 + N_SILVER
SCORED_PAIRS = 1 + 10  # p-adj and the first ten silver pairs have aspect ratings

CONVERSATION_ROW = {
    "id": "p-chat",
    "prompt": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Pick a colour."},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "Another one?"},
    ],
    "response_a": "Green.",
    "response_b": "I would rather not pick another colour, since colours are a matter of taste.",
    "adjudications": [{"verdict": -2, "note": "A is terse, as asked."}],
}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def import_rows(project, rows: list[dict], tmp_path: Path, name: str = "fixture.jsonl") -> None:
    dataset_import(path=write_jsonl(tmp_path / name, rows), project=project, fmt="concord")


@pytest.fixture
def export_project(db, tmp_path):
    project = ProjectFactory(name="Export fixture", slug="export-fixture")
    import_rows(project, SPECIAL_ROWS + silver_rows(), tmp_path)
    assert Pair.objects.filter(project=project).count() == ALL_PAIRS
    return project


@pytest.fixture
def conversation_project(export_project, tmp_path):
    import_rows(export_project, [CONVERSATION_ROW], tmp_path, "chat.jsonl")
    return export_project


# --- a real Celery worker --------------------------------------------------------


@pytest.fixture
def celery_worker_process(celery_worker, settings, tmp_path, transactional_db):
    """A real worker on the ``default`` queue (tests/support/worker.py's factory), with
    exports written under tmp_path/exports by both it and this process. Yields the
    export folder."""
    exports = tmp_path / "exports"
    settings.CONCORD_EXPORT_DIR = exports
    celery_worker(env={"CONCORD_EXPORT_DIR": str(exports)}, queues="default")
    return exports


def wait_for(predicate, timeout: float = 90.0, interval: float = 0.3, what: str = "condition", log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    detail = f"\nworker log:\n{log.read_text()[-4000:]}" if log and log.exists() else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
