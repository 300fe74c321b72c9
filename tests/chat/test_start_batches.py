"""Starts gathered while the database is busy are written together, and each asker still gets
exactly what a lone start would give: their own turn, or their own refusal in their language."""

import asyncio
import gc
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from chat import services, start_batches, turns
from chat.collector import collector_held
from chat.engines.base import PastToolCall
from chat.engines.offline import OfflineEngine
from chat.models import Conversation, Message, ToolCall
from tests.helpers.sockets import (
    conversation_socket,
    frame,
    is_appended,
    receive_until,
    wait_for_answer,
)

pytestmark = pytest.mark.django_db(transaction=True)

RUNNING = "still being written"


async def askers(users: type[User], prefix: str, count: int) -> list[tuple[User, Conversation]]:
    """`count` people, each with an empty conversation."""
    people = [
        await users.objects.acreate_user(username=f"{prefix}{i}", password="pw")
        for i in range(count)
    ]
    return [(person, await Conversation.objects.acreate(owner=person)) for person in people]


def request(conversation: Conversation, text: str = "tax on 85000 EUR") -> turns.StartRequest:
    return turns.StartRequest(conversation, text, OfflineEngine(), "owner")


def test_a_batch_starts_each_turn_with_its_own_history_in_a_few_statements(
    alice: User, bob: User
) -> None:
    first = services.conversation_get_or_create_empty(owner=alice)
    earlier = turns.turn_start(conversation=first, text="earlier question", engine=OfflineEngine())
    Message.objects.filter(pk=earlier.assistant_message.pk).update(
        status="complete", text="earlier answer"
    )
    receipts = [
        ToolCall.objects.create(
            message=earlier.assistant_message,
            call_id="call_0",  # providers reuse ids across responses
            name="calculate_tax",
            raw_arguments=f'{{"revenue": {revenue}}}',
            output=f"tax on {revenue}",
        )
        for revenue in (85_000, 120_000)
    ]
    conversations = [first] + [Conversation.objects.create(owner=bob) for _ in range(5)]
    asks = [request(c, f"question {i}") for i, c in enumerate(conversations)]
    with CaptureQueriesContext(connection) as queries:
        started = turns.turns_start(asks)
        contexts = turns.turn_contexts(
            [s.assistant_message for s in started if isinstance(s, turns.StartedTurn)]
        )
    assert all(isinstance(s, turns.StartedTurn) for s in started)
    assert len(queries) <= 10  # not a few statements per start: six starts, one batch
    assert [c.user_text for c in contexts] == [f"question {i}" for i in range(6)]
    assert [m.text for m in contexts[0].history] == ["earlier question", "earlier answer"]
    # The earlier answer's receipts, in order, each replayed under an id of its own.
    assert contexts[0].history[0].tool_calls == ()
    assert contexts[0].history[1].tool_calls == tuple(
        PastToolCall("call_0", "calculate_tax", r.raw_arguments, r.output, f"call_{r.pk}")
        for r in receipts
    )
    assert all(c.history == [] for c in contexts[1:])
    for conversation, context in zip(conversations, contexts, strict=True):
        assert context.conversation.pk == conversation.pk
        assert Message.objects.filter(conversation=conversation, status="streaming").count() == 1
    assert Conversation.objects.get(pk=conversations[1].pk).title  # titled from the question


def test_two_starts_in_one_conversation_in_one_batch_start_one_turn(alice: User) -> None:
    conversation = services.conversation_get_or_create_empty(owner=alice)
    first, second = turns.turns_start([request(conversation, "one"), request(conversation, "two")])
    assert isinstance(first, turns.StartedTurn)
    assert isinstance(second, turns.TurnRejected)
    assert RUNNING in str(second)
    # The refused question is not stored: the page gives its text back to the person.
    assert list(Message.objects.filter(role="user").values_list("text", flat=True)) == ["one"]


def test_the_rate_limit_counts_the_starts_of_the_same_batch(alice: User, settings: Any) -> None:
    settings.CHAT_RATE_LIMIT_TURNS = 2
    conversations = [Conversation.objects.create(owner=alice) for _ in range(3)]
    outcomes = turns.turns_start([request(c) for c in conversations])
    assert [isinstance(o, turns.StartedTurn) for o in outcomes] == [True, True, False]
    assert "faster than we can answer" in str(outcomes[2])


def test_each_refusal_of_a_batch_is_in_its_askers_language(alice: User, bob: User) -> None:
    conversation = services.conversation_get_or_create_empty(owner=alice)
    turns.turn_start(conversation=conversation, text="first", engine=OfflineEngine())
    asks = [
        turns.StartRequest(conversation, "again", OfflineEngine(), language="ko"),
        turns.StartRequest(conversation, "again", OfflineEngine(), language="en"),
        turns.StartRequest(conversation, "   ", OfflineEngine(), language="ko"),
    ]
    with translation.override("en"):
        korean, english, empty = turns.turns_start(asks)
    with translation.override("ko"):
        assert str(korean) == translation.gettext(turns.TURN_RUNNING_MESSAGE)
        assert str(empty) == translation.gettext("Type a message first.")
    assert RUNNING in str(english)
    assert str(korean) != str(english)


async def test_questions_sent_at_once_on_many_sockets_are_started_together_and_all_answered(
    django_user_model: type[User], monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.CHAT_START_BURST = 2
    settings.SERVER_GC_BURST_HOLD_SECONDS = 0.5
    users, conversations = zip(*await askers(django_user_model, "asker", 6), strict=True)
    batches: list[int] = []
    collecting: list[bool] = []
    write = start_batches._start

    async def counted(asks: Any) -> Any:
        batches.append(len(asks))
        collecting.append(gc.isenabled())
        return await write(asks)

    monkeypatch.setattr(start_batches, "_start", counted)
    sockets = [
        await asyncio.to_thread(conversation_socket, c.pk, u)
        for c, u in zip(conversations, users, strict=True)
    ]
    for socket in sockets:
        connected, _ = await socket.connect()
        assert connected
        await receive_until(socket, lambda f: "chat-alert" in f or 'id="messages"' in f)
    await asyncio.gather(*(s.send_to(text_data=frame("tax on 85000 EUR")) for s in sockets))
    for socket, conversation in zip(sockets, conversations, strict=True):
        await receive_until(socket, is_appended)
        frames = await wait_for_answer(socket, conversation)
        assert "85,000" in frames[-1]
        await socket.disconnect()
    assert sum(batches) == 6
    assert len(batches) < 6  # the asks that came while one was written went together
    # A burst's starts hold the garbage collector off for a while (chat/collector.py).
    bursts = [on for size, on in zip(batches, collecting, strict=True) if size >= 2]
    assert bursts
    assert not any(bursts)
    await asyncio.sleep(settings.SERVER_GC_BURST_HOLD_SECONDS + 0.2)
    assert not collector_held()
    assert gc.isenabled()


async def test_a_question_whose_socket_closed_while_it_was_stored_is_answered_all_the_same(
    alice: User,
) -> None:
    conversation = await Conversation.objects.acreate(owner=alice)
    ask = start_batches.Ask(alice, conversation.pk, "tax on 85000 EUR", OfflineEngine(), "")
    batcher = start_batches.get_start_batcher()
    waiting = asyncio.ensure_future(batcher.start(ask))
    await asyncio.sleep(0)  # the batch is being written
    waiting.cancel()  # ...when the socket goes away
    for _ in range(200):
        answer = await Message.objects.filter(conversation=conversation, role="assistant").afirst()
        if answer is not None and answer.status != "streaming":
            break
        await asyncio.sleep(0.05)
    assert answer is not None
    assert answer.status == "complete"
    assert "85,000" in answer.text


async def test_one_start_that_fails_does_not_fail_the_others_of_its_batch(
    django_user_model: type[User], monkeypatch: pytest.MonkeyPatch
) -> None:
    users, conversations = zip(*await askers(django_user_model, "batch", 3), strict=True)
    title_from = turns._title_from

    def failing_on_boom(text: str) -> str:
        if text == "boom":
            raise RuntimeError("a bug in one start")
        return title_from(text)

    monkeypatch.setattr(turns, "_title_from", failing_on_boom)
    batcher = start_batches.get_start_batcher()
    texts = ["tax on 85000 EUR", "boom", "tax on 90000 EUR"]
    outcomes = await asyncio.gather(
        *(
            batcher.start(start_batches.Ask(u, c.pk, t, OfflineEngine(), ""))
            for u, c, t in zip(users, conversations, texts, strict=True)
        ),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], start_batches.Start)
    assert isinstance(outcomes[1], RuntimeError)
    assert isinstance(outcomes[2], start_batches.Start)
    questions = Message.objects.filter(role="user").order_by("pk").values_list("text", flat=True)
    assert [q async for q in questions] == ["tax on 85000 EUR", "tax on 90000 EUR"]
    await asyncio.to_thread(Message.objects.update, status="complete")
