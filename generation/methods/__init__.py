"""Generation methods by their ``run_job --method`` name (methods.md §2)."""
from .base import ItemContext, Method, Param, ParamError
from .sample import Sample

METHODS: dict[str, Method] = {method.name: method for method in (Sample(),)}

__all__ = ["METHODS", "ItemContext", "Method", "Param", "ParamError"]
