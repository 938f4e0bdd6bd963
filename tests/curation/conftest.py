"""Builders for curation tests: pairs with human and AI verdicts in a few lines."""
import pytest

from curation.models import JudgeConfig
from curation.services import pairs_refresh
from tests.factories import (
    AIJudgmentFactory,
    AnnotatorFactory,
    HumanJudgmentFactory,
    JudgeConfigFactory,
    PairFactory,
    PromptFactory,
    ResponseFactory,
)


@pytest.fixture(autouse=True)
def _fresh_dashboard_cache():
    """Dashboard panels are cached per project id, and ids repeat across tests."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def build(project):
    """build(humans=[...], ai={judge: verdict}, category=..., lengths=(a, b), **pair fields) → pair,
    refreshed as the services leave it.

    ``humans`` holds verdicts or (annotator name, verdict) tuples; ``ai`` maps a
    JudgeConfig (or a name, created on first use) to a verdict or a dict of fields.
    """
    judges: dict[str, JudgeConfig] = {}
    counter = iter(range(10**6))

    def judge(name: str, kind: str = JudgeConfig.Kind.AI) -> JudgeConfig:
        if name not in judges:
            judges[name] = JudgeConfigFactory(project=project, name=name, kind=kind)
        return judges[name]

    def make(humans=(), ai=None, category="facts", lengths=None, **fields):
        prompt = PromptFactory(project=project, category=category)
        a_len, b_len = lengths or (20, 20)
        n = next(counter)
        pair = PairFactory(
            project=project,
            prompt=prompt,
            response_a=ResponseFactory(prompt=prompt, text=f"a{n}-" + "x" * a_len, n_chars=a_len),
            response_b=ResponseFactory(prompt=prompt, text=f"b{n}-" + "y" * b_len, n_chars=b_len),
            **fields,
        )
        for i, human in enumerate(humans):
            name, verdict = human if isinstance(human, tuple) else (f"annotator-{i}", human)
            HumanJudgmentFactory(pair=pair, annotator=AnnotatorFactory(name=name), verdict=verdict)
        for key, value in (ai or {}).items():
            config = key if isinstance(key, JudgeConfig) else judge(key)
            extra = value if isinstance(value, dict) else {"verdict": value}
            AIJudgmentFactory(pair=pair, judge_config=config, **extra)
        pairs_refresh(pair_ids=[pair.id])  # as the services do after every write
        pair.refresh_from_db()
        return pair

    make.judge = judge
    return make
