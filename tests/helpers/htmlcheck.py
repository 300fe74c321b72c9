"""Parse HTML the way a browser would see its elements, to assert nothing active survived."""

from html.parser import HTMLParser

ACTIVE_TAGS = {"script", "iframe", "object", "embed", "img", "svg", "style", "form", "input"}


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))


def elements(html: str) -> list[tuple[str, dict[str, str]]]:
    collector = _Collector()
    collector.feed(html)
    return collector.elements


def active_parts(html: str, allowed_tags: frozenset[str] = frozenset()) -> list[str]:
    """Every element or attribute in `html` that could run code or restyle the page."""
    found = []
    for tag, attrs in elements(html):
        if tag in ACTIVE_TAGS and tag not in allowed_tags:
            found.append(f"<{tag}>")
        for name, value in attrs.items():
            lowered = value.strip().lower()
            if name.startswith(("on", "hx-", "data-hx")) or name == "style":
                found.append(f"{tag}[{name}]")
            if name in {"href", "src", "action"} and lowered.startswith(("javascript:", "data:")):
                found.append(f"{tag}[{name}={value[:20]}]")
    return found


def without_feedback_forms(html: str) -> str:
    """The page minus our own Good/Bad answer forms (review/_feedback.html, fixed markup whose
    only person-written part, the comment, is checked in tests/review/test_feedback.py)."""
    import re

    return re.sub(r'<form class="answer-feedback".*?</form>', "", html, flags=re.DOTALL)
