from django import template
from django.utils.safestring import mark_safe

from curation.rendering import render_markdown

register = template.Library()

VERDICT_LABELS = {
    -2: "A much better",
    -1: "A better",
    0: "Tie",
    1: "B better",
    2: "B much better",
}


@register.filter(name="markdown")
def markdown_filter(text: str) -> str:
    """Sanitized markdown: the only way model or user text becomes HTML."""
    return mark_safe(render_markdown(text))  # noqa: S308 — sanitized by nh3 above


@register.filter
def verdict_label(verdict: int | None) -> str:
    if verdict is None:
        return "no verdict"
    return VERDICT_LABELS.get(verdict, str(verdict))


@register.filter
def signed(value) -> str:
    if value is None:
        return "—"
    return f"{value:+d}" if isinstance(value, int) else f"{value:+.2f}"


@register.filter
def percent(value) -> str:
    if value is None:
        return "—"
    return f"{100 * value:.0f}%"


@register.filter
def word_count(text: str) -> int:
    return len((text or "").split())


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if mapping else None


@register.filter
def basename(path: str) -> str:
    """The file name of a stored relative path (export files)."""
    return str(path).rsplit("/", 1)[-1]


@register.filter
def interval(bounds) -> str:
    """A 95% interval as "0.49 – 0.55" (empty when there is none)."""
    if not bounds:
        return ""
    low, high = bounds
    return f"{low:.2f} – {high:.2f}"


@register.filter
def param_lines(params) -> list[str]:
    """Parameters as "key: value" lines, values in JSON (escaped by the template like any text)."""
    import json

    if not isinstance(params, dict):
        return [json.dumps(params, ensure_ascii=False)] if params else []
    return [f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in sorted(params.items())]
