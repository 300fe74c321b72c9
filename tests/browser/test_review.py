"""Review in the browser: the person's feedback and access notice; the reviewer's path
(queue -> open -> note -> flag -> status -> export)."""

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.test_chat_flow import QUESTION, sign_up
from tests.helpers.servers import ROOT, serve_taxsite

pytestmark = pytest.mark.browser

REVIEWER_PASSWORD = "reviewer pass 42"


def create_reviewer(workdir: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "taxsite.settings",
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
    }
    code = (
        "from django.contrib.auth.models import Group, User;"
        f"u = User.objects.create_user('rita', password='{REVIEWER_PASSWORD}', is_staff=True);"
        "u.groups.add(Group.objects.get(name='Reviewers'))"
    )
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "shell", "-c", code],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


def ask_and_wait(page: Page) -> None:
    box = page.get_by_role("textbox", name="Message")
    box.fill(QUESTION)
    box.press("Enter")
    expect(page.locator(".bubble--assistant").last).to_have_attribute(
        "data-status", "complete", timeout=20_000
    )


def test_feedback_then_the_reviewers_path_then_the_persons_notice(
    page: Page, browser: Browser, tmp_path: Path, artifacts: Path
) -> None:
    with serve_taxsite(tmp_path) as url:
        create_reviewer(tmp_path)
        # The person: an answer that arrived over the socket takes a vote and a comment.
        sign_up(page, url)
        ask_and_wait(page)
        answer = page.locator(".bubble--assistant").last
        bad = answer.get_by_role("button", name="Bad answer")
        bad.click()
        expect(answer.get_by_role("button", name="Bad answer")).to_have_attribute(
            "aria-pressed", "true"
        )
        expect(answer.get_by_role("status")).to_contain_text("Bad answer")
        answer.get_by_label("Comment for the review team").fill("The bracket looks wrong to me.")
        answer.get_by_role("button", name="Save comment").click()
        expect(answer.locator("summary")).to_have_text("Your comment")
        answer.locator("summary").click()
        # caret="initial": hiding the caret injects a style the page CSP refuses.
        answer.screenshot(path=str(artifacts / "review-feedback.png"), caret="initial")
        conversation_url = page.url
        page.reload()
        answer = page.locator(".bubble--assistant").last
        expect(answer.get_by_role("button", name="Bad answer")).to_have_attribute(
            "aria-pressed", "true"
        )
        expect(answer.get_by_label("Comment for the review team")).to_have_value(
            "The bracket looks wrong to me."
        )
        expect(page.get_by_text("Viewed by staff")).to_have_count(0)

        # The reviewer, in another browser context.
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, accept_downloads=True
        )
        staff = context.new_page()
        staff.goto(f"{url}/admin/login/?next=/admin/chat/conversation/")
        staff.fill("#id_username", "rita")
        staff.fill("#id_password", REVIEWER_PASSWORD)
        staff.get_by_role("button", name="Log in").click()
        chip = staff.locator(".rv-queue-chip", has_text="Bad-answer feedback")
        expect(chip).to_contain_text("1")
        chip.click()
        expect(staff.locator("#result_list tbody tr")).to_have_count(1)
        staff.screenshot(path=str(artifacts / "review-queue.png"), full_page=True)
        staff.set_viewport_size({"width": 390, "height": 844})
        staff.screenshot(path=str(artifacts / "review-queue-mobile.png"), full_page=True)
        staff.set_viewport_size({"width": 1280, "height": 900})
        staff.locator("#result_list tbody tr th a").click()

        expect(staff.locator(".rv-feedback--bad")).to_contain_text("The bracket looks wrong")
        receipts = staff.locator(".rv-receipts").first
        expect(receipts).to_contain_text("€14,500.00")
        expect(receipts).to_contain_text("€85,000.00")
        staff.get_by_label("Add a note").fill("Figure checked against the table: correct.")
        staff.get_by_role("button", name="Add note").click()
        expect(staff.locator(".rv-note")).to_contain_text("Figure checked against the table")
        staff.locator(".rv-flag-form summary").first.click()
        staff.locator(".rv-flag-form select").first.select_option("unclear")
        staff.locator(".rv-flag-form textarea").first.fill("Does not say which bracket applies.")
        staff.locator(".rv-flag-form").first.get_by_role("button", name="Add flag").click()
        expect(staff.locator(".rv-flag")).to_contain_text("Unclear")
        staff.get_by_label("Status").select_option(label="Reviewed")
        staff.get_by_label("Assignee").select_option(label="rita")
        staff.get_by_role("button", name="Save status").click()
        expect(staff.locator(".rv-facts")).to_contain_text("Reviewed")
        staff.screenshot(path=str(artifacts / "review-page.png"), full_page=True)
        staff.set_viewport_size({"width": 390, "height": 844})
        staff.screenshot(path=str(artifacts / "review-page-mobile.png"), full_page=True)
        staff.set_viewport_size({"width": 1280, "height": 900})
        with staff.expect_download() as download:
            staff.get_by_role("link", name="Export CSV").click()
        rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
        assert [row["feedback"] for row in rows] == ["bad"]
        assert rows[0]["tax"] == "14500.00"
        assert rows[0]["flags"].startswith("Unclear: Does not say which bracket applies.")
        assert rows[0]["review_status"] == "Reviewed"
        staff.get_by_role("link", name="Review history & access log").click()
        expect(staff.locator(".rv-table").first).to_contain_text("In review → Reviewed")
        expect(staff.locator(".rv-table").last).to_contain_text("Exported as CSV")
        context.close()

        # The person is told staff looked, with the date and without the reviewer's name.
        page.goto(conversation_url)
        notice = page.locator(".staff-viewed")
        expect(notice).to_contain_text("Viewed by staff on")
        assert "rita" not in notice.inner_text()
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(
            path=str(artifacts / "review-person-mobile.png"), full_page=True, caret="initial"
        )
