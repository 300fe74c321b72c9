"""Markdown from the model or a person, turned into HTML that is safe to put on the page."""

import functools

import nh3
from markdown_it import MarkdownIt

# Raw HTML in the source is escaped by markdown-it ("html": False); nh3 then keeps only these
# tags and attributes, so on*, style, hx-* and javascript:/data: URLs can never survive.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")

ALLOWED_TAGS = {
    "p", "br", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "a",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}


# Remembered for a while: a finished answer is rendered once per reader's language, then for
# each page that shows it, always the same text (a few KB each: 256 is about a megabyte).
@functools.lru_cache(maxsize=256)
def markdown_to_safe_html(text: str) -> str:
    return sanitize_html(_markdown.render(text))


def sanitize_html(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )
