"""Untrusted text (model output, imported data) rendered as sanitized markdown.

Two layers: markdown-it renders with raw HTML disabled, so a ``<script>`` in a
response comes out as text; nh3 then keeps only an allow-list of tags and
attributes, so no event handler, ``javascript:`` link or style survives.
"""
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody",
    "td", "th", "thead", "tr", "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}, "th": {"align"}, "td": {"align"}}


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True}).enable("table").enable(
        "strikethrough"
    )


# The review page renders the same prompt and responses for each annotator of a pair
# (and again on the reveal): a few milliseconds of parsing and cleaning each time. The
# cache is keyed by the text itself, so an edited text is a new entry and nothing can be
# stale; it lives in the process and is bounded (about 25 MB at most: 1,024 texts of up
# to CACHED_MAX_CHARS, longer ones are not kept).
CACHED_MAX_CHARS = 8_000


def render_markdown(text: str) -> str:
    """HTML safe to insert into a page, from any text."""
    text = text or ""
    return _render_cached(text) if len(text) <= CACHED_MAX_CHARS else _render_uncached(text)


@lru_cache(maxsize=1024)
def _render_cached(text: str) -> str:
    return _render_uncached(text)


def _render_uncached(text: str) -> str:
    html = _markdown().render(text)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
