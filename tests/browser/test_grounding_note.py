"""The "not verified" note under an answer, as a person sees it in Chromium."""

import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from chat import turns
from tests.browser.test_chat_flow import sign_up
from tests.fake_openai import Text, ToolCalls
from tests.helpers.servers import ROOT, serve_taxsite

pytestmark = pytest.mark.browser

# A stored answer whose grounding check failed, written by the server's own Django.
STORE = """
from django.contrib.auth.models import User
from chat.models import Conversation, Message
owner = User.objects.get(username={username!r})
conversation = Conversation.objects.filter(owner=owner).latest("pk")
conversation.title = "Tax on 85k"
conversation.save()
Message.objects.create(conversation=conversation, role="user", text="What is the tax on 85k?")
Message.objects.create(
    conversation=conversation, role="assistant", status="complete", engine="offline",
    text="The tax is **€12,000.00**, an effective rate of 14 %.",
    figures_verified=False, unverified_figures=["€12,000.00", "14 %"],
)
Message.objects.create(
    conversation=conversation, role="assistant", status="complete", engine="offline",
    text="The tax is **€14,500.00**.", figures_verified=True,
)
print(conversation.pk)
"""


def test_unverified_figures_are_flagged_under_the_answer(
    page: Page, tmp_path: Path, artifacts: Path
) -> None:
    with serve_taxsite(tmp_path) as url:
        username = sign_up(page, url)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "taxsite.settings",
            "DEBUG": "1",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        }
        stored = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", STORE.format(username=username)],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        page.goto(f"{url}/c/{stored.stdout.strip().splitlines()[-1]}/")
        flagged, verified = page.locator(".bubble--assistant").all()
        note = flagged.locator(".grounding-note")
        expect(note).to_be_visible()
        expect(note).to_contain_text("not verified")
        expect(note.locator(".grounding-figure")).to_have_text(["€12,000.00", "14 %"])
        # Under the answer's text, inside its bubble.
        assert note.bounding_box()["y"] > flagged.locator(".markdown").bounding_box()["y"]
        expect(verified.locator(".grounding-note")).to_have_count(0)
        page.screenshot(path=str(artifacts / "grounding-note.png"))
        page.set_viewport_size({"width": 390, "height": 844})
        note.scroll_into_view_if_needed()
        expect(note).to_be_visible()
        box = note.bounding_box()
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= 390
        page.screenshot(path=str(artifacts / "grounding-note-mobile.png"))


@pytest.mark.skipif(
    "answer_check_figures" not in inspect.getsource(turns),
    reason="the turn does not call the grounding check yet (chat/turns.py)",
)
def test_a_model_answer_with_a_wrong_figure_shows_the_note_live(
    page: Page, browser_fake_openai: Any, tmp_path: Path, artifacts: Path
) -> None:
    browser_fake_openai.reset()
    browser_fake_openai.token_delay = 0.04
    browser_fake_openai.script(
        ToolCalls([("calculate_tax", '{"revenue": "85000"}')]),
        Text("On €85,000 the tax is **€12,000.00**."),
    )
    with serve_taxsite(
        tmp_path,
        ASSISTANT_ENGINE="chat",
        OPENAI_API_KEY="sk-browser",
        OPENAI_BASE_URL=browser_fake_openai.base_url,
    ) as url:
        sign_up(page, url)
        box = page.get_by_role("textbox", name="Message")
        box.fill("What is the tax on 85,000 euros of revenue?")
        box.press("Enter")
        answer = page.locator(".bubble--assistant").last
        expect(answer).to_have_attribute("data-status", "complete", timeout=20_000)
        expect(answer.locator(".calc-tax dd")).to_have_text("€14,500.00")
        note = answer.locator(".grounding-note")
        expect(note).to_be_visible()
        expect(note).to_contain_text("not verified")
        expect(note.locator(".grounding-figure")).to_have_text(["€12,000.00"])
        page.screenshot(path=str(artifacts / "grounding-note-live.png"))
        page.reload()  # stored on the message: still there after a reload
        expect(page.locator(".bubble--assistant .grounding-note")).to_contain_text("€12,000.00")
