import pytest

from chat.rendering import markdown_to_safe_html, sanitize_html
from tests.helpers.htmlcheck import active_parts

ATTACKS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<a href="#" hx-get="/admin/" hx-trigger="load">x</a>',
    '<p style="position:fixed;inset:0">cover</p>',
    '<div onclick="alert(1)">x</div>',
]


@pytest.mark.parametrize("source", ATTACKS)
def test_markdown_output_is_inert(source: str) -> None:
    assert active_parts(markdown_to_safe_html(source)) == []


def test_markdown_keeps_formatting_and_safe_links() -> None:
    html = markdown_to_safe_html("**bold** and [docs](https://example.com)\n\n- one\n- two")
    assert "<strong>bold</strong>" in html
    assert 'href="https://example.com"' in html
    assert 'rel="noopener noreferrer nofollow"' in html
    assert "<li>one</li>" in html


@pytest.mark.parametrize("source", ATTACKS)
def test_sanitizer_strips_raw_html_even_if_markdown_let_it_through(source: str) -> None:
    assert active_parts(sanitize_html(source)) == []
