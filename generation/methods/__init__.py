"""Generation methods by their ``run_job --method`` name (methods.md §2)."""
from .autorule import AutoRule
from .base import ItemContext, Method, Param, ParamError
from .codeclm import CodecLM
from .contrastive import ContrastiveFilter
from .judge import Judge
from .rmboost import RMBoost
from .sample import Sample
from .skillmix import SkillMix

METHODS: dict[str, Method] = {
    method.name: method
    for method in (Sample(), RMBoost(), CodecLM(), SkillMix(), ContrastiveFilter(), Judge(), AutoRule())
}

__all__ = ["METHODS", "ItemContext", "Method", "Param", "ParamError"]
