"""The conversation features as a person uses them, in Debian's Chromium: the conversation menu,
search, answer actions and versions, streaming controls, times, phone layout, dark mode,
accessibility (axe-core, vendored from the npm registry), long conversations."""

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.helpers.servers import ROOT, serve_taxsite

pytestmark = pytest.mark.browser

QUESTION = "What is the tax on 85,000 euros of revenue?"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PHONE = {"width": 390, "height": 844}


def sign_up(page: Page, base_url: str) -> str:
    username = f"f{uuid.uuid4().hex[:8]}"
    page.goto(f"{base_url}/accounts/signup/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill("a long passphrase 9")
    page.get_by_label("Password confirmation").fill("a long passphrase 9")
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("#connection")).to_have_text("Live")
    return username


def ask(page: Page, text: str) -> Any:
    """Send `text` and wait for its answer to finish; returns the answer bubble."""
    answers = page.locator(".bubble--assistant")
    before = answers.count()
    box = page.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")
    expect(answers).to_have_count(before + 1)
    answer = answers.last
    expect(answer).not_to_have_attribute("data-status", "streaming", timeout=30_000)
    return answer


@pytest.fixture
def make_page(browser: Browser) -> Iterator[Any]:
    """Pages with their own context options; each fails on a Content-Security-Policy breach."""
    contexts: list[Any] = []
    violations: list[str] = []

    def make(**options: Any) -> Page:
        context = browser.new_context(**{"viewport": {"width": 1280, "height": 860}, **options})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on(
            "console",
            lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
        )
        return page

    yield make
    for context in contexts:
        context.close()
    assert violations == [], violations


def axe_violations(page: Page) -> list[str]:
    """Serious and critical axe-core violations of the page as it is now."""
    page.evaluate(AXE.read_text(encoding="utf-8"))  # through DevTools: no inline script
    results = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
        ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(' | '))"
    )
    return list(results)


# --- The conversation menu, search, tab title -------------------------------------------------


def test_rename_search_delete_and_the_tab_title(
    page: Page, live_server_url: str, artifacts: Path
) -> None:
    sign_up(page, live_server_url)
    ask(page, QUESTION)
    expect(page).to_have_title("Tax on €85,000 · taxsite")
    sidebar = page.locator("#conversation-list")
    expect(sidebar.locator(".conversation-group")).to_have_text(["Today"])

    page.get_by_label("Conversation menu: Tax on €85,000").click()
    page.get_by_role("button", name="Rename").click()
    title_box = page.get_by_role("textbox", name="New title")
    expect(title_box).to_be_focused()
    title_box.fill("Freelance year 2026")
    title_box.press("Enter")
    expect(sidebar).to_contain_text("Freelance year 2026")
    expect(page.locator("#chat-title")).to_have_text("Freelance year 2026")
    expect(page).to_have_title("Freelance year 2026 · taxsite")

    page.get_by_label("Conversation menu: Freelance year 2026").click()
    page.get_by_role("button", name="Rename").click()
    page.get_by_role("textbox", name="New title").fill("Not this")
    page.get_by_role("textbox", name="New title").press("Escape")
    expect(page.get_by_role("textbox", name="New title")).to_be_hidden()
    expect(sidebar).to_contain_text("Freelance year 2026")
    expect(sidebar).not_to_contain_text("Not this")

    search = page.get_by_role("searchbox", name="Search conversations")
    search.fill("adds up")
    result = page.locator("#search-results a").first
    expect(result).to_contain_text("Freelance year 2026")
    expect(result.locator("mark").first).to_have_text(re.compile("adds up", re.IGNORECASE))
    page.screenshot(path=str(artifacts / "features-search.png"))
    result.click()
    expect(page.locator(".bubble.is-found")).to_have_count(1)
    expect(page.locator("#connection")).to_have_text("Live")
    conversation_url = page.url.split("?")[0]

    page.get_by_label("Conversation menu: Freelance year 2026").click()
    page.get_by_role("link", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete conversation?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Freelance year 2026")
    page.screenshot(path=str(artifacts / "features-delete-dialog.png"))
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    page.get_by_label("Conversation menu: Freelance year 2026").click()
    page.get_by_role("link", name="Delete").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(page.locator("#chat-title")).to_have_text("New conversation")
    expect(page.locator("#conversation-list")).not_to_contain_text("Freelance year 2026")
    assert page.goto(conversation_url).status == 404  # type: ignore[union-attr]


# --- Answer actions and versions --------------------------------------------------------------


def test_a_conversation_that_gets_its_title_goes_to_the_top_of_today(
    page: Page, live_server_url: str
) -> None:
    sign_up(page, live_server_url)
    sidebar = page.locator("#conversation-list")
    expect(sidebar.get_by_text("No conversations yet.")).to_be_visible()
    ask(page, QUESTION)
    expect(sidebar.get_by_text("No conversations yet.")).to_be_hidden()
    expect(sidebar.locator(".conversation-group")).to_have_text(["Today"])
    today = page.locator("#conversations-today .conversation-title")
    expect(today).to_have_text(["Tax on €85,000"])

    page.get_by_role("button", name="New conversation").first.click()
    expect(page.locator("#chat-title")).to_have_text("New conversation")
    expect(page.locator("#connection")).to_have_text("Live")
    ask(page, "What is the tax on 40,000 euros of revenue?")
    expect(today).to_have_text(["Tax on €40,000", "Tax on €85,000"])
    current = page.locator('#conversation-list a[aria-current="page"] .conversation-title')
    expect(current).to_have_text("Tax on €40,000")
    page.reload()  # the list the server renders is the one the socket built
    expect(today).to_have_text(["Tax on €40,000", "Tax on €85,000"])
    expect(current).to_have_text("Tax on €40,000")


def test_copy_regenerate_page_versions_and_edit(
    make_page: Any, live_server_url: str, artifacts: Path
) -> None:
    page = make_page(permissions=["clipboard-read", "clipboard-write"])
    sign_up(page, live_server_url)
    first = ask(page, QUESTION)
    first_id = first.get_attribute("id")

    page.get_by_role("button", name="Copy").last.click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "**€14,500.00**" in copied  # the Markdown, not the rendered text

    page.get_by_role("button", name="Regenerate").click()
    answer = page.locator(".bubble--assistant")
    expect(answer).to_have_count(1)
    expect(answer).not_to_have_id(first_id or "")
    expect(answer).to_have_attribute("data-status", "complete", timeout=30_000)
    expect(answer.locator(".version-count")).to_have_text("2 / 2")
    answer.get_by_role("button", name="Previous version").click()
    expect(page.locator(".bubble--assistant .version-count")).to_have_text("1 / 2")
    expect(page.locator(".bubble--assistant")).to_have_id(first_id or "")
    expect(page.locator(".bubble--assistant")).to_contain_text("Earlier version")
    page.locator(".bubble--assistant").get_by_role("button", name="Next version").click()
    expect(page.locator(".bubble--assistant .version-count")).to_have_text("2 / 2")

    page.get_by_role("button", name="Edit").click()
    editor = page.get_by_role("textbox", name="Edit your message")
    expect(editor).to_be_focused()
    editor.fill("What is the tax on 90,000 euros of revenue?")
    page.get_by_role("button", name="Save and send").click()
    question = page.locator(".bubble--user")
    expect(question).to_have_count(1)
    expect(question.locator(".plain")).to_have_text("What is the tax on 90,000 euros of revenue?")
    answer = page.locator(".bubble--assistant")
    expect(answer).to_have_attribute("data-status", "complete", timeout=30_000)
    expect(answer.locator(".calc-tax dd")).to_have_text("€16,000.00")
    expect(question.locator(".version-count")).to_have_text("2 / 2")
    page.screenshot(path=str(artifacts / "features-versions.png"))
    question.get_by_role("button", name="Previous version").click()
    expect(page.locator(".bubble--user .plain")).to_have_text(QUESTION)
    expect(page.locator(".bubble--assistant .calc-tax dd")).to_have_text("€14,500.00")
    # Reloaded, the page shows the latest version, which the conversation continues from.
    page.reload()
    expect(page.locator(".bubble--user .plain")).to_have_text(
        "What is the tax on 90,000 euros of revenue?"
    )


def test_retry_an_interrupted_answer(page: Page, live_server_url: str) -> None:
    sign_up(page, live_server_url)
    box = page.get_by_role("textbox", name="Message")
    box.fill("tax on 1000000 EUR")
    box.press("Enter")
    expect(page.locator(".bubble--assistant .streaming-text")).to_contain_text("I read your yearly")
    page.get_by_role("button", name="Stop answering").click()
    answer = page.locator(".bubble--assistant")
    expect(answer).to_have_attribute("data-status", "interrupted")
    page.get_by_role("button", name="Retry").click()
    expect(page.locator(".bubble--assistant")).to_have_attribute(
        "data-status", "complete", timeout=30_000
    )
    expect(page.locator(".bubble--assistant .version-count")).to_have_text("2 / 2")


# --- Streaming controls -----------------------------------------------------------------------


def test_send_becomes_stop_escape_stops_and_a_stale_refusal_goes(
    make_page: Any, live_server_url: str
) -> None:
    page = make_page()
    sign_up(page, live_server_url)
    page.evaluate(
        """() => { window.announced = [];
        new MutationObserver(() => window.announced.push(
            document.getElementById('answer-announcer').textContent))
          .observe(document.getElementById('answer-announcer'), {childList: true, characterData: true, subtree: true}); }"""
    )
    box = page.get_by_role("textbox", name="Message")
    box.fill("tax on 1000000 EUR")
    box.press("Enter")
    expect(page.get_by_role("button", name="Stop answering")).to_be_visible()
    expect(page.get_by_role("button", name="Send")).to_be_hidden()

    # A second tab sends while the answer is written (as a race would): it is refused ...
    other = page.context.new_page()
    other.goto(page.url)
    expect(other.locator("#connection")).to_have_text("Live")
    other.get_by_role("textbox", name="Message").fill("and 5 EUR?")
    other.evaluate("document.getElementById('composer').requestSubmit()")
    expect(other.locator("#chat-alert")).to_contain_text("still being written")

    box.focus()
    page.keyboard.press("Escape")  # ... and Escape stops the answer,
    answer = page.locator(".bubble--assistant")
    expect(answer).to_have_attribute("data-status", "interrupted")
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    expect(page.get_by_role("button", name="Stop answering")).to_be_hidden()
    expect(other.locator("#chat-alert")).to_be_hidden()  # the refusal no longer applies
    other.close()

    announced = [text for text in page.evaluate("window.announced") if text.strip()]
    assert announced, "nothing was announced"
    streamed = answer.locator(".bubble-body").inner_text()
    assert len(announced) < len(streamed.split()) / 2  # sentences, not tokens
    assert all(re.search(r"[.!?:)]$", t.strip()) for t in announced[:-1]), announced


# --- Times ------------------------------------------------------------------------------------


def test_times_are_in_the_browsers_time_zone(make_page: Any, live_server_url: str) -> None:
    page = make_page(timezone_id="Asia/Seoul", locale="en-GB")
    sign_up(page, live_server_url)
    answer = ask(page, QUESTION)
    time = answer.locator("time.message-time")
    stamp = datetime.fromisoformat(time.get_attribute("datetime") or "")
    expect(time).to_have_text(stamp.astimezone(ZoneInfo("Asia/Seoul")).strftime("%H:%M"))
    assert "GMT+9" in (time.get_attribute("title") or "") or "KST" in (
        time.get_attribute("title") or ""
    )
    page.reload()  # the server now knows the zone too (the tz cookie): its groups use it
    expect(page.locator(".conversation-group")).to_have_text(["Today"])
    expect(page.locator(".bubble--assistant time.message-time")).to_have_attribute(
        "title", re.compile(r"GMT\+9|KST")
    )


# --- Phone ------------------------------------------------------------------------------------

NUMBERS_ON_ONE_LINE = """() => {
  const broken = [];
  const walker = document.createTreeWalker(document.querySelector('.calc-card'), NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    for (const match of node.textContent.matchAll(/€?[0-9][0-9,]*(\\.[0-9]+)?/g)) {
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      const tops = new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top)));
      if (tops.size > 1) broken.push(match[0]);
    }
  }
  return broken;
}"""


def test_phone_layout(make_page: Any, live_server_url: str, artifacts: Path) -> None:
    page = make_page(viewport=PHONE, is_mobile=True, has_touch=True)
    sign_up(page, live_server_url)
    disclaimer = page.locator("details.disclaimer")
    expect(disclaimer).to_contain_text("not real tax law")
    assert disclaimer.evaluate("d => d.open") is False  # one line until opened
    assert disclaimer.bounding_box()["height"] < 70  # type: ignore[index]
    ask(page, "What is the tax on 100,000 euros of revenue?")
    title = page.locator("#chat-title")
    expect(title).to_have_text("Tax on €100,000")
    assert title.evaluate("h => h.scrollWidth <= h.clientWidth")  # not cut to "Wha…"
    assert page.evaluate(NUMBERS_ON_ONE_LINE) == []
    page.screenshot(path=str(artifacts / "features-phone.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    page.get_by_role("button", name="Conversations").click()
    sidebar = page.locator("#sidebar")
    expect(sidebar).to_be_in_viewport()
    expect(sidebar.get_by_role("button", name="+ New conversation")).to_be_visible()
    expect(sidebar).to_contain_text("Tax on €100,000")
    page.wait_for_timeout(300)  # the drawer slides in
    page.screenshot(path=str(artifacts / "features-phone-drawer.png"))
    page.keyboard.press("Escape")
    expect(sidebar).not_to_be_in_viewport()

    disclaimer.locator("summary").click()
    expect(disclaimer).to_contain_text("40 % above")

    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert page.evaluate(NUMBERS_ON_ONE_LINE) == []
    page.get_by_role("button", name="New conversation", exact=True).click()
    expect(page.locator("#chat-title")).to_have_text("New conversation")


# --- Dark mode --------------------------------------------------------------------------------


def _background(page: Page) -> str:
    return str(page.evaluate("getComputedStyle(document.documentElement).backgroundColor"))


def test_dark_mode_follows_the_system_and_the_switch_is_remembered(
    make_page: Any, live_server_url: str, artifacts: Path
) -> None:
    page = make_page(color_scheme="dark")
    sign_up(page, live_server_url)
    ask(page, QUESTION)
    switch = page.get_by_role("button", name="Dark mode")
    expect(switch).to_have_attribute("aria-pressed", "true")
    dark = _background(page)
    assert dark == "rgb(15, 20, 27)"
    page.screenshot(path=str(artifacts / "features-dark.png"))
    assert axe_violations(page) == []
    switch.click()
    expect(switch).to_have_attribute("aria-pressed", "false")
    assert _background(page) != dark
    page.reload()
    expect(page.get_by_role("button", name="Dark mode")).to_have_attribute("aria-pressed", "false")
    assert _background(page) != dark


# --- Accessibility ----------------------------------------------------------------------------


def test_axe_finds_no_serious_violation_and_the_skip_link_works(
    page: Page, live_server_url: str, artifacts: Path
) -> None:
    page.goto(f"{live_server_url}/accounts/login/")
    assert axe_violations(page) == []
    sign_up(page, live_server_url)
    assert axe_violations(page) == []  # the empty conversation
    ask(page, QUESTION)
    assert axe_violations(page) == []  # a conversation with an answer and its card
    page.get_by_label("Conversation menu: Tax on €85,000").click()
    assert axe_violations(page) == []  # with the menu open
    page.keyboard.press("Escape")

    conversation_url = page.url
    page.goto(f"{live_server_url}/search/")  # a page that focuses nothing by itself
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()

    page.goto(conversation_url)
    expect(page.locator("#connection")).to_have_text("Live")
    skip = page.get_by_role("link", name="Skip to the message box")
    first_stop = "document.querySelector('a[href], button, input, textarea, summary')"
    assert page.evaluate(f"{first_stop}.classList.contains('skip-link')")
    page.get_by_role("button", name="Send").focus()
    skip.focus()
    skip.press("Enter")
    expect(page.get_by_role("textbox", name="Message")).to_be_focused()
    page.screenshot(path=str(artifacts / "features-desktop.png"))


def test_favicon(page: Page, live_server_url: str) -> None:
    response = page.request.get(f"{live_server_url}/favicon.ico")
    assert response.ok
    assert response.headers["content-type"].startswith("image/svg+xml")


# --- Long conversations -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    workdir = tmp_path_factory.mktemp("features")
    with serve_taxsite(workdir) as url:
        yield url, workdir


def _add_messages(workdir: Path, conversation_id: int, count: int) -> None:
    _shell(
        workdir,
        "from chat.models import Conversation, Message\n"
        f"c = Conversation.objects.get(pk={conversation_id})\n"
        "Message.objects.bulk_create(Message(conversation=c, "
        "role='user' if i % 2 == 0 else 'assistant', text=f'message number {i}') "
        f"for i in range({count}))\n"
        "c.title = 'Long'; c.save()\n",
    )


def _add_conversations(workdir: Path, username: str, count: int) -> None:
    """`count` conversations titled "Old question 0000".. (the last the newest), a question each."""
    _shell(
        workdir,
        "from django.contrib.auth.models import User\n"
        "from chat.models import Conversation, Message\n"
        f"owner = User.objects.get(username='{username}')\n"
        "made = Conversation.objects.bulk_create(Conversation(owner=owner, "
        f"title=f'Old question {{i:04d}}') for i in range({count}))\n"
        "Message.objects.bulk_create(Message(conversation=c, role='user', text='q') "
        "for c in made)\n",
    )


def _shell(workdir: Path, code: str) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "taxsite.settings",
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
    }
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "shell", "-c", code],
        env=env,
        check=True,
        cwd=ROOT,
        capture_output=True,
    )


def test_load_earlier_and_jump_to_latest(
    page: Page, own_server: tuple[str, Path], artifacts: Path
) -> None:
    url, workdir = own_server
    sign_up(page, url)
    conversation_id = int(page.url.rstrip("/").split("/")[-1])
    _add_messages(workdir, conversation_id, 120)
    page.reload()
    expect(page.locator("#connection")).to_have_text("Live")
    bubbles = page.locator("#messages .bubble")
    expect(bubbles).to_have_count(50)
    expect(bubbles.last).to_contain_text("message number 119")
    expect(page.get_by_role("button", name="Jump to latest")).to_be_hidden()

    page.get_by_role("button", name="Load earlier").click()
    expect(bubbles).to_have_count(100)
    page.get_by_role("button", name="Load earlier").click()
    expect(bubbles).to_have_count(120)
    expect(bubbles.first).to_contain_text("message number 0")
    expect(page.get_by_role("button", name="Load earlier")).to_have_count(0)

    page.locator("#messages").evaluate("list => { list.scrollTop = 0; }")
    jump = page.get_by_role("button", name="Jump to latest")
    expect(jump).to_be_visible()
    page.screenshot(path=str(artifacts / "features-long.png"))
    jump.click()
    expect(jump).to_be_hidden()
    expect(bubbles.last).to_be_in_viewport()


def test_the_sidebar_shows_the_newest_and_all_conversations_page_back(
    page: Page, own_server: tuple[str, Path], artifacts: Path
) -> None:
    url, workdir = own_server
    username = sign_up(page, url)
    _add_conversations(workdir, username, 130)
    page.reload()
    items = page.locator("#sidebar .conversation-item")
    expect(items).to_have_count(50)
    expect(items.first).to_contain_text("Old question 0129")
    page.get_by_role("link", name="All conversations").click()

    expect(page.get_by_role("heading", name="All conversations")).to_be_visible()
    listed = page.locator(".conversation-index-list li")
    expect(listed).to_have_count(100)
    expect(page.get_by_text("130 conversations, newest first.")).to_be_visible()
    expect(page.get_by_text("Page 1 of 2")).to_be_visible()
    assert axe_violations(page) == []
    page.screenshot(path=str(artifacts / "features-all-conversations.png"), full_page=True)

    page.get_by_role("link", name="Older").click()
    expect(listed).to_have_count(30)
    expect(listed.last).to_contain_text("Old question 0000")
    page.get_by_role("link", name="Old question 0000").click()
    expect(page.locator("#connection")).to_have_text("Live")
    expect(page.locator("#messages .bubble").first).to_contain_text("q")
    # The sidebar shows where the person is: the open conversation, last, marked current.
    expect(items).to_have_count(51)
    current = items.last.locator('a[aria-current="page"]')
    expect(current).to_contain_text("Old question 0000")
    # ... scrolled into the sidebar's view, though it is the 51st item.
    expect(current).to_be_in_viewport()
    sidebar, shown = page.locator("#sidebar").bounding_box(), current.bounding_box()
    assert sidebar is not None
    assert shown is not None
    assert sidebar["y"] <= shown["y"]
    assert shown["y"] + shown["height"] <= sidebar["y"] + sidebar["height"]
    page.screenshot(path=str(artifacts / "features-sidebar-current.png"))
