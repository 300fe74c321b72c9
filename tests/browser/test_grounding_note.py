"""The "not verified" note under an answer, as a person sees it in Chromium."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ROOT, serve_taxsite
from tests.browser.test_chat_flow import sign_up

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
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390
        page.screenshot(path=str(artifacts / "grounding-note-mobile.png"))
