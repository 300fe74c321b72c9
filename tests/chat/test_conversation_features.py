"""Conversation features over HTTP and in the services: titles, rename, delete, search, export,
versions, long conversations, time zones, favicon."""

import csv
import io
import json
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from chat import selectors, services, titles, turns
from chat.engines.offline import OfflineEngine
from chat.models import Conversation, Message, ToolCall
from chat.tools.registry import registry
from chat.tools.tax import TABLE
from tests.helpers.clients import client_for

pytestmark = pytest.mark.django_db


def ask(
    conversation: Conversation, question: str, answer: str, *, with_card: bool = False
) -> Message:
    started = turns.turn_start(conversation=conversation, text=question, engine=OfflineEngine())
    message = started.assistant_message
    message.text = answer
    message.status = Message.Status.COMPLETE
    message.save()
    if with_card:
        outcome = registry.run("calculate_tax", '{"revenue": "85000"}')
        ToolCall.objects.create(
            message=message,
            call_id="call_1",
            name=outcome.name,
            raw_arguments='{"revenue": "85000"}',
            parsed_input=outcome.parsed_input,
            output=outcome.output,
            result=outcome.result,
            error=outcome.error,
        )
    return message


def new_conversation(user: User) -> Conversation:
    return Conversation.objects.create(owner=user)


# --- Titles -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "title"),
    [
        ("What is the tax on 85,000 euros of revenue?", "Tax on €85,000"),
        ("tax on 85000 EUR", "Tax on €85,000"),
        ("My revenue is €120,000.50 this year", "Tax on €120,000.50"),
        ("And for 85k?", "Tax on €85,000"),
        ("What about 1.2 million", "Tax on €1,200,000"),
        ("In 2026 I earned 40 000 euros", "Tax on €40,000"),
        ("how do brackets work?", "How do brackets work"),
        (
            "please explain in detail how the marginal brackets of this table are applied",
            "Please explain in detail how the marginal…",
        ),
    ],
)
def test_titles_are_short_and_name_the_amount(question: str, title: str) -> None:
    assert titles.title_from_question(question) == title
    assert len(title) <= titles.TITLE_CHARS


def test_three_similar_questions_get_distinct_titles(alice: User) -> None:
    for amount in ("85,000", "90,000", "150,000"):
        ask(new_conversation(alice), f"What is the tax on {amount} euros of revenue?", "a")
    names = list(selectors.conversation_list(user=alice).values_list("title", flat=True))
    assert sorted(names) == ["Tax on €150,000", "Tax on €85,000", "Tax on €90,000"]


def test_titles_skip_years_and_counts_and_name_two_amounts() -> None:
    assert titles.title_from_question("in 2026, with 2 children?") == "In 2026, with 2 children"
    assert titles.amounts_in("€2,026") == [Decimal(2026)]
    assert titles.title_from_question("85,000 EUR or 90,000 EUR?") == "Tax on €85,000 and €90,000"
    assert titles.title_from_question("8만 5천 유로 세금은?") == "Tax on €85,000"


# --- Rename -----------------------------------------------------------------------------------


def test_rename_overrides_the_title_and_is_kept_after_more_questions(alice: User) -> None:
    conversation = new_conversation(alice)
    ask(conversation, "tax on 85000 EUR", "a")
    client = client_for(alice)
    response = client.post(
        f"/c/{conversation.pk}/rename/",
        {"title": "  My   freelance year  ", "current": str(conversation.pk)},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "My freelance year" in html
    assert 'id="chat-title"' in html
    # Both are swapped in by their ids (features.js, and the ws extension's default).
    assert html.count('id="chat-title"') == html.count('id="conversation-list"') == 1
    ask(Conversation.objects.get(pk=conversation.pk), "and 90000?", "b")
    assert Conversation.objects.get(pk=conversation.pk).title == "My freelance year"


def test_rename_to_blank_keeps_the_title(alice: User) -> None:
    conversation = new_conversation(alice)
    ask(conversation, "tax on 85000 EUR", "a")
    client_for(alice).post(f"/c/{conversation.pk}/rename/", {"title": "   "})
    assert Conversation.objects.get(pk=conversation.pk).title == "Tax on €85,000"


def test_rename_of_someone_elses_conversation_is_404(alice: User, bob: User) -> None:
    conversation = new_conversation(alice)
    ask(conversation, "tax on 85000 EUR", "a")
    response = client_for(bob).post(f"/c/{conversation.pk}/rename/", {"title": "mine now"})
    assert response.status_code == 404
    assert Conversation.objects.get(pk=conversation.pk).title == "Tax on €85,000"


def test_renamed_title_with_markup_is_escaped(alice: User) -> None:
    conversation = new_conversation(alice)
    ask(conversation, "tax on 85000 EUR", "a")
    services.conversation_rename(conversation=conversation, title="<img src=x onerror=alert(1)>")
    html = client_for(alice).get(f"/c/{conversation.pk}/").content.decode()
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


# --- Delete -----------------------------------------------------------------------------------


def test_delete_erases_text_keeps_a_tombstone_and_hides_it_everywhere(alice: User) -> None:
    conversation = new_conversation(alice)
    answer = ask(conversation, "secret revenue 85000 EUR", "secret answer", with_card=True)
    client = client_for(alice)
    assert client.get(f"/c/{conversation.pk}/delete/").status_code == 200  # the confirmation
    response = client.post(f"/c/{conversation.pk}/delete/")
    assert response.status_code == 302
    stored = Conversation.objects.get(pk=conversation.pk)
    assert stored.deleted_at is not None
    assert stored.title == ""
    assert list(stored.messages.values_list("text", "reasoning")) == [("", ""), ("", "")]
    assert ToolCall.objects.filter(message=answer).count() == 1  # kept for staff review
    for path in (
        f"/c/{conversation.pk}/",
        f"/c/{conversation.pk}/export.md",
        f"/c/{conversation.pk}/messages/?before=999",
        f"/m/{answer.pk}/versions/1/",
    ):
        assert client.get(path).status_code == 404, path
    assert client.post(f"/c/{conversation.pk}/rename/", {"title": "x"}).status_code == 404
    home = client.get("/", follow=True).content.decode()
    assert "secret" not in home
    assert selectors.conversation_search(user=alice, query="secret") == []
    assert selectors.conversation_list(user=alice).count() == 0


def test_delete_of_someone_elses_conversation_is_404(alice: User, bob: User) -> None:
    conversation = new_conversation(alice)
    ask(conversation, "tax on 85000 EUR", "a")
    assert client_for(bob).post(f"/c/{conversation.pk}/delete/").status_code == 404
    assert Conversation.objects.get(pk=conversation.pk).deleted_at is None


def test_delete_ends_a_streaming_answer(alice: User) -> None:
    conversation = new_conversation(alice)
    started = turns.turn_start(
        conversation=conversation, text="tax on 85000", engine=OfflineEngine()
    )
    services.conversation_delete(conversation=conversation)
    answer = Message.objects.get(pk=started.assistant_message.pk)
    assert answer.status == Message.Status.INTERRUPTED
    assert answer.status_notice == services.DELETED_MESSAGE
    # the conversation is free again, for staff and sweeps: nothing is left streaming
    assert turns.turn_streaming_target(conversation_id=conversation.pk) is None


# --- Search -----------------------------------------------------------------------------------


def test_search_finds_titles_and_message_text_of_my_conversations_only(
    alice: User, bob: User
) -> None:
    mine = new_conversation(alice)
    ask(mine, "tax on 85000 EUR", "The effective rate is 17.06 % on the demonstration table.")
    other = new_conversation(alice)
    ask(other, "how do brackets work?", "Each bracket is taxed at its own rate.")
    bobs = new_conversation(bob)
    ask(bobs, "bob asks about the effective rate", "bob's answer")
    client = client_for(alice)
    html = client.get("/search/?q=effective+rate", HTTP_HX_REQUEST="true").content.decode()
    assert f"/c/{mine.pk}/?at=" in html
    assert "<mark>effective rate</mark>" in html  # the phrase, marked
    assert "bob" not in html
    html = client.get("/search/?q=brackets").content.decode()  # the page, without htmx
    assert f"/c/{other.pk}/" in html
    assert "How do brackets work" in html
    assert "No conversation matches" in client.get("/search/?q=zzzz").content.decode()


def test_search_query_with_markup_is_escaped(alice: User) -> None:
    conversation = new_conversation(alice)
    ask(conversation, "tax on 85000 <b>now</b>", "answer")
    html = client_for(alice).get("/search/?q=<b>now").content.decode()
    assert "<b>now</b>" not in html
    assert "&lt;b&gt;" in html


def test_search_result_opens_the_conversation_at_an_older_message(alice: User) -> None:
    conversation = new_conversation(alice)
    first = ask(conversation, "the needle question 85000", "needle answer")
    Message.objects.bulk_create(
        Message(conversation=conversation, role="user", text=f"filler {i}") for i in range(80)
    )
    client = client_for(alice)
    assert f'id="message-{first.pk}"' not in client.get(f"/c/{conversation.pk}/").content.decode()
    page = client.get(f"/c/{conversation.pk}/?at={first.pk}").content.decode()
    assert f'id="message-{first.pk}"' in page


# --- Export -----------------------------------------------------------------------------------


def test_exports_markdown_json_and_calculations_csv(alice: User, bob: User) -> None:
    conversation = new_conversation(alice)
    ask(
        conversation,
        "What is the tax on 85,000 euros?",
        "The tax is **€14,500.00**.",
        with_card=True,
    )
    client = client_for(alice)

    md = client.get(f"/c/{conversation.pk}/export.md")
    assert md["Content-Disposition"] == 'attachment; filename="tax-on-85000.md"'
    text = md.content.decode()
    assert text.startswith("# Tax on €85,000")
    assert "The tax is **€14,500.00**." in text
    assert "tax €14500.00" in text

    data = json.loads(client.get(f"/c/{conversation.pk}/export.json").content)
    assert [m["role"] for m in data["messages"]] == ["user", "assistant"]
    assert data["messages"][1]["tool_calls"][0]["result"]["tax"] == "14500.00"

    response = client.get(f"/c/{conversation.pk}/export.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 1
    assert (rows[0]["revenue"], rows[0]["tax"], rows[0]["effective_rate_percent"]) == (
        "85000.00",
        "14500.00",
        "17.06",
    )
    assert rows[0]["time"]
    assert rows[0]["table_version"] == TABLE.version

    assert client_for(bob).get(f"/c/{conversation.pk}/export.json").status_code == 404
    assert client.get(f"/c/{conversation.pk}/export.exe").status_code == 404


def test_export_command_writes_the_same_files(alice: User, tmp_path: object) -> None:
    conversation = new_conversation(alice)
    ask(conversation, "tax on 85000 EUR", "answer", with_card=True)
    out = io.StringIO()
    call_command(
        "export_conversation", conversation.pk, "--user", "alice", "--format", "csv", stdout=out
    )
    assert "85000.00,14500.00,17.06" in out.getvalue()
    out = io.StringIO()
    call_command("export_conversation", conversation.pk, "--user", "alice", stdout=out)
    assert out.getvalue().startswith("# Tax on €85,000")
    with pytest.raises(CommandError):
        call_command("export_conversation", conversation.pk, "--user", "nobody")


def test_export_command_refuses_another_owner(alice: User, bob: User) -> None:
    conversation = new_conversation(alice)
    ask(conversation, "tax on 85000 EUR", "answer")
    with pytest.raises(CommandError, match="no conversation"):
        call_command("export_conversation", conversation.pk, "--user", "bob")


# --- Versions ---------------------------------------------------------------------------------


def test_regenerate_keeps_the_earlier_answer_as_a_version(alice: User) -> None:
    conversation = new_conversation(alice)
    first = ask(conversation, "tax on 85000 EUR", "first answer")
    versioned = services.message_regenerate(
        user=alice, conversation_id=conversation.pk, message_id=first.pk, engine=OfflineEngine()
    )
    second = versioned.assistant_message
    assert versioned.replaced_ids == [first.pk]
    assert (second.version_of_id, second.version_number, second.is_streaming) == (first.pk, 2, True)
    assert Message.objects.get(pk=first.pk).is_current is False
    transcript = list(selectors.message_list(conversation=conversation))
    assert [m.pk for m in transcript][-1] == second.pk
    assert first.pk not in [m.pk for m in transcript]
    # The history given to the engine: the question only, not the replaced answer.
    context = turns.turn_context(second)
    history, user_text = context.history, context.user_text
    assert history == []
    assert user_text == "tax on 85000 EUR"
    # A second regenerate while this one streams is refused.
    with pytest.raises(turns.TurnRejected, match="still being written"):
        services.message_regenerate(
            user=alice,
            conversation_id=conversation.pk,
            message_id=second.pk,
            engine=OfflineEngine(),
        )


def test_only_the_last_answer_can_be_regenerated(alice: User, bob: User) -> None:
    conversation = new_conversation(alice)
    first = ask(conversation, "tax on 85000 EUR", "a")
    ask(conversation, "and 90000?", "b")
    with pytest.raises(turns.TurnRejected, match="Only the last answer"):
        services.message_regenerate(
            user=alice, conversation_id=conversation.pk, message_id=first.pk, engine=OfflineEngine()
        )
    with pytest.raises(turns.TurnRejected, match="no longer exists"):
        services.message_regenerate(
            user=bob, conversation_id=conversation.pk, message_id=first.pk, engine=OfflineEngine()
        )


def test_regenerate_counts_against_the_rate_limit(alice: User, settings: object) -> None:
    settings.CHAT_RATE_LIMIT_TURNS = 2  # type: ignore[attr-defined]
    conversation = new_conversation(alice)
    answer = ask(conversation, "tax on 85000 EUR", "a")
    again = services.message_regenerate(
        user=alice, conversation_id=conversation.pk, message_id=answer.pk, engine=OfflineEngine()
    ).assistant_message
    Message.objects.filter(pk=again.pk).update(status="complete")
    with pytest.raises(turns.TurnRejected, match="faster than we can answer"):
        services.message_regenerate(
            user=alice, conversation_id=conversation.pk, message_id=again.pk, engine=OfflineEngine()
        )


def test_edit_keeps_the_earlier_branch_and_pages_between_versions(alice: User) -> None:
    conversation = new_conversation(alice)
    ask(conversation, "tax on 85000 EUR", "answer one")
    question = conversation.messages.get(role="user")
    answer = conversation.messages.get(role="assistant")
    versioned = services.message_edit(
        user=alice,
        conversation_id=conversation.pk,
        message_id=question.pk,
        text="tax on 90000 EUR",
        engine=OfflineEngine(),
    )
    assert versioned.replaced_ids == [question.pk, answer.pk]
    new_question, new_answer = versioned.new_messages
    assert (new_question.version_of_id, new_question.version_number) == (question.pk, 2)
    context = turns.turn_context(new_answer)
    history, user_text = context.history, context.user_text
    assert history == []
    assert user_text == "tax on 90000 EUR"
    Message.objects.filter(pk=new_answer.pk).update(status="complete", text="answer two")

    client = client_for(alice)
    page = client.get(f"/c/{conversation.pk}/").content.decode()
    assert "2 / 2" in page
    assert "answer two" in page
    assert "answer one" not in page
    earlier = client.get(f"/m/{new_question.pk}/versions/1/").content.decode()
    assert "tax on 85000 EUR" in earlier
    assert "answer one" in earlier
    assert "1 / 2" in earlier
    assert "Earlier version" in earlier
    assert client.get(f"/m/{new_question.pk}/versions/3/").status_code == 404


def test_edit_only_the_last_question_and_not_someone_elses(alice: User, bob: User) -> None:
    conversation = new_conversation(alice)
    ask(conversation, "tax on 85000 EUR", "a")
    first_question = conversation.messages.filter(role="user").first()
    assert first_question is not None
    ask(conversation, "and 90000?", "b")
    with pytest.raises(turns.TurnRejected, match="Only your last message"):
        services.message_edit(
            user=alice,
            conversation_id=conversation.pk,
            message_id=first_question.pk,
            text="x",
            engine=OfflineEngine(),
        )
    assert client_for(bob).get(f"/m/{first_question.pk}/versions/1/").status_code == 404


def test_edit_with_empty_text_changes_nothing(alice: User) -> None:
    conversation = new_conversation(alice)
    ask(conversation, "tax on 85000 EUR", "a")
    question = conversation.messages.get(role="user")
    with pytest.raises(turns.TurnRejected):
        services.message_edit(
            user=alice,
            conversation_id=conversation.pk,
            message_id=question.pk,
            text="   ",
            engine=OfflineEngine(),
        )
    assert conversation.messages.filter(is_current=True).count() == 2


def test_a_version_starts_a_fresh_provider_thread(alice: User) -> None:
    conversation = new_conversation(alice)
    answer = ask(conversation, "tax on 85000 EUR", "a")
    Conversation.objects.filter(pk=conversation.pk).update(
        thread_scope="responses", provider_thread_id="conv_1"
    )
    services.message_regenerate(
        user=alice, conversation_id=conversation.pk, message_id=answer.pk, engine=OfflineEngine()
    )
    stored = Conversation.objects.get(pk=conversation.pk)
    assert stored.provider_thread_id == ""
    assert stored.previous_provider_threads[-1]["thread_id"] == "conv_1"


# --- Long conversations -----------------------------------------------------------------------


def _long_conversation(user: User, count: int) -> Conversation:
    conversation = new_conversation(user)
    conversation.title = "Long"
    conversation.save()
    Message.objects.bulk_create(
        Message(
            conversation=conversation,
            role="user" if i % 2 == 0 else "assistant",
            text=f"message number {i} " + "lorem ipsum " * 10,
        )
        for i in range(count)
    )
    return conversation


def _measure(client: Client, path: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200
    return len(queries), len(response.content)


def test_page_cost_is_flat_from_60_to_5000_messages(alice: User) -> None:
    client = client_for(alice)
    small = _long_conversation(alice, 60)
    large = _long_conversation(alice, 5000)
    small_queries, small_bytes = _measure(client, f"/c/{small.pk}/")
    large_queries, large_bytes = _measure(client, f"/c/{large.pk}/")
    assert large_queries == small_queries
    assert abs(large_bytes - small_bytes) < 2_000  # message numbers have more digits
    html = client.get(f"/c/{large.pk}/").content.decode()
    assert html.count('class="bubble ') == selectors.PAGE_MESSAGES
    assert "message number 4999" in html
    assert "message number 4949 " not in html
    assert "Load earlier" in html


def test_load_earlier_pages_back_to_the_first_message(alice: User) -> None:
    client = client_for(alice)
    conversation = _long_conversation(alice, 120)
    first_shown = conversation.messages.order_by("-pk")[49]
    seen = 50
    before = first_shown.pk
    while True:
        queries, _ = _measure(client, f"/c/{conversation.pk}/messages/?before={before}")
        html = client.get(f"/c/{conversation.pk}/messages/?before={before}").content.decode()
        seen += html.count('class="bubble ')
        assert queries <= 6
        if "Load earlier" not in html:
            break
        before = int(html.split("before=")[1].split('"')[0])
    assert seen == 120
    assert "message number 0 " in html


def _many_conversations(user: User, count: int, prefix: str = "Tax on") -> list[Conversation]:
    """`count` conversations with a question each, the last one the newest."""
    made = Conversation.objects.bulk_create(
        Conversation(owner=user, title=f"{prefix} {i:05d}") for i in range(count)
    )
    Message.objects.bulk_create(Message(conversation=c, role="user", text="q") for c in made)
    return made


def test_the_sidebar_lists_the_newest_conversations_and_links_to_all(alice: User) -> None:
    limit = selectors.SIDEBAR_CONVERSATIONS
    made = _many_conversations(alice, limit)
    client = client_for(alice)
    html = client.get(f"/c/{made[-1].pk}/").content.decode()
    assert html.count('class="conversation-item"') == limit
    assert "All conversations" not in html  # nothing older to show

    made += _many_conversations(alice, 5, prefix="Newer")
    html = client.get(f"/c/{made[-1].pk}/").content.decode()
    assert html.count('class="conversation-item"') == limit
    assert "Newer 00004" in html
    assert "Tax on 00004" not in html  # the five oldest moved off the sidebar
    assert "Tax on 00005" in html
    assert 'href="/conversations/">All conversations</a>' in html


def test_an_open_conversation_older_than_the_sidebar_is_listed_and_marked_current(
    alice: User, bob: User
) -> None:
    limit = selectors.SIDEBAR_CONVERSATIONS
    made = _many_conversations(alice, limit + 10)
    oldest = made[0]
    client = client_for(alice)
    html = client.get(f"/c/{oldest.pk}/").content.decode()
    assert html.count('class="conversation-item"') == limit + 1  # the newest, and this one
    item = html[html.index(f'id="conversation-item-{oldest.pk}"') :]
    assert 'aria-current="page"' in item[: item.index("</a>")]
    assert html.index("Tax on 00010") < html.index(f'id="conversation-item-{oldest.pk}"')  # last
    newest = client.get(f"/c/{made[-1].pk}/").content.decode()
    assert f'id="conversation-item-{oldest.pk}"' not in newest  # only while it is open
    # Another person's conversation is never listed, even named as the current one.
    theirs = _many_conversations(bob, 1)[0]
    assert client.get(f"/c/{theirs.pk}/").status_code == 404
    assert theirs not in selectors.conversation_sidebar(user=alice, current=theirs).conversations


def test_page_cost_is_flat_from_60_to_1000_conversations(alice: User) -> None:
    client = client_for(alice)
    few = _many_conversations(alice, 60)
    few_queries, few_bytes = _measure(client, f"/c/{few[-1].pk}/")
    many = _many_conversations(alice, 940)
    many_queries, many_bytes = _measure(client, f"/c/{many[-1].pk}/")
    assert many_queries == few_queries
    assert abs(many_bytes - few_bytes) < 2_000  # (it was 1.2 MB with every conversation listed)


def test_all_conversations_pages_through_every_one_and_only_the_owners(
    alice: User, bob: User
) -> None:
    per_page = selectors.INDEX_PAGE_CONVERSATIONS
    _many_conversations(alice, per_page * 2 + 30)
    _many_conversations(bob, 3, prefix="Bob's secret")
    client = client_for(alice)
    seen: list[str] = []
    page = 1
    while True:
        response = client.get(f"/conversations/?page={page}")
        assert response.status_code == 200
        html = response.content.decode()
        assert "Bob&#x27;s secret" not in html
        titles_here = [line.split(">")[1].split("<")[0] for line in html.split('<a href="/c/')[1:]]
        seen += titles_here
        assert f"Page {page} of 3" in html
        assert "230 conversations, newest first." in html
        if 'rel="next"' not in html:
            break
        page += 1
    assert page == 3
    assert seen == [f"Tax on {i:05d}" for i in reversed(range(per_page * 2 + 30))]
    # A page number out of range or not a number still shows a page, never an error.
    assert "Page 3 of 3" in client.get("/conversations/?page=999").content.decode()
    assert "Page 1 of 3" in client.get("/conversations/?page=x").content.decode()


def test_all_conversations_needs_a_login_and_says_when_there_are_none(
    client: Client, bob: User
) -> None:
    response = client.get("/conversations/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    html = client_for(bob).get("/conversations/").content.decode()
    assert "No conversations yet." in html


# --- Time zones, favicon ----------------------------------------------------------------------


def test_times_follow_the_browsers_time_zone_cookie(alice: User) -> None:
    conversation = new_conversation(alice)
    message = ask(conversation, "tax on 85000 EUR", "a")
    Message.objects.filter(pk=message.pk).update(created_at="2026-11-25T23:30:00+00:00")
    client = client_for(alice)
    client.cookies["tz"] = "Asia/Seoul"
    assert "KST" in client.get(f"/c/{conversation.pk}/").content.decode()
    client.cookies["tz"] = "../../etc/passwd"
    assert client.get(f"/c/{conversation.pk}/").status_code == 200  # ignored, server zone used


def test_favicon_is_served(client: Client) -> None:
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("chat/favicon.svg")


def test_titles_drop_control_characters() -> None:
    assert titles.title_from_question("\x00tax\x07 brackets\x1b?") == "Tax brackets"
