import asyncio
from collections.abc import AsyncGenerator

import pytest
from django.contrib.auth.models import User

from chat import services, turns
from chat.engines.base import EngineEvent, TextDelta, TurnDone, TurnFailed, TurnRequest
from chat.engines.offline import OfflineEngine
from chat.models import Conversation, Message, ToolCall
from tests.helpers.engines import CallTool, ScriptedEngine
from tests.helpers.turns import RecordingListener


def start(user: User, text: str, engine: object = None) -> turns.StartedTurn:
    conversation = services.conversation_get_or_create_empty(owner=user)
    return turns.turn_start(conversation=conversation, text=text, engine=engine or OfflineEngine())


@pytest.mark.django_db
def test_turn_start_stores_the_question_before_any_provider_call(alice: User) -> None:
    started = start(alice, "  What is the tax on 85,000 euros?  ")
    assert (
        Message.objects.get(pk=started.user_message.pk).text == "What is the tax on 85,000 euros?"
    )
    assert started.assistant_message.status == Message.Status.STREAMING
    assert started.assistant_message.conversation.title == "Tax on €85,000"  # chat.titles


@pytest.mark.django_db
def test_second_turn_in_the_same_conversation_is_refused_while_one_streams(alice: User) -> None:
    first = start(alice, "first question")
    conversation = first.user_message.conversation
    with pytest.raises(turns.TurnRejected, match="still being written"):
        turns.turn_start(conversation=conversation, text="second", engine=OfflineEngine())
    assert conversation.messages.count() == 2  # nothing half-stored


@pytest.mark.django_db
@pytest.mark.parametrize(("text", "reason"), [("   ", "Type a message"), ("x" * 4001, "limit")])
def test_empty_or_oversized_message_is_refused(alice: User, text: str, reason: str) -> None:
    with pytest.raises(turns.TurnRejected, match=reason):
        start(alice, text)
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_new_conversation_reuses_the_empty_one(alice: User) -> None:
    first = services.conversation_get_or_create_empty(owner=alice)
    assert services.conversation_get_or_create_empty(owner=alice) == first
    start(alice, "hello")
    assert services.conversation_get_or_create_empty(owner=alice) != first


@pytest.mark.django_db(transaction=True)
async def test_offline_turn_stores_receipt_and_answer(alice: User) -> None:
    started = await asyncio.to_thread(start, alice, "What is the tax on 85,000 euros of revenue?")
    listener = RecordingListener()
    message = await turns.turn_run(
        message_id=started.assistant_message.pk, listener=listener, engine=OfflineEngine()
    )
    assert message.status == Message.Status.COMPLETE
    stored = await Message.objects.aget(pk=message.pk)
    assert "€14,500.00" in stored.text
    call = await ToolCall.objects.aget(message=stored)
    assert call.name == "calculate_tax"
    assert call.parsed_input == {"revenue": "85000"}
    assert call.result is not None
    assert call.result["tax"] == "14500.00"
    assert listener.updates[-1].finished
    assert listener.updates[-1].tool_calls[0].pk == call.pk


@pytest.mark.django_db(transaction=True)
async def test_failure_keeps_partial_text(alice: User) -> None:
    started = await asyncio.to_thread(start, alice, "question")
    engine = ScriptedEngine(
        [
            TextDelta("Half an "),
            TextDelta("answer"),
            TurnFailed("The connection dropped.", interrupted=True),
        ]
    )
    message = await turns.turn_run(
        message_id=started.assistant_message.pk, listener=RecordingListener(), engine=engine
    )
    stored = await Message.objects.aget(pk=message.pk)
    assert (stored.status, stored.text) == (Message.Status.INTERRUPTED, "Half an answer")
    assert stored.status_notice == "The connection dropped."


@pytest.mark.django_db(transaction=True)
async def test_stop_cancels_the_engine_and_keeps_partial_text(alice: User) -> None:
    started = await asyncio.to_thread(start, alice, "question")
    engine = ScriptedEngine([TextDelta("So far")], hang=True)
    task = asyncio.create_task(
        turns.turn_run(
            message_id=started.assistant_message.pk, listener=RecordingListener(), engine=engine
        )
    )
    await asyncio.wait_for(engine.hanging.wait(), timeout=5)
    task.cancel()
    await task  # the turn handles its stop and finishes
    assert engine.closed  # the upstream stream was closed, not left running
    stored = await Message.objects.aget(pk=started.assistant_message.pk)
    assert (stored.status, stored.text) == (Message.Status.INTERRUPTED, "So far")
    # The conversation can take the next question.
    conversation = await Conversation.objects.aget(pk=stored.conversation_id)
    await asyncio.to_thread(
        turns.turn_start, conversation=conversation, text="next", engine=OfflineEngine()
    )


@pytest.mark.django_db(transaction=True)
async def test_engine_crash_ends_as_error_with_a_clear_message(alice: User) -> None:
    class CrashingEngine(ScriptedEngine):
        async def stream(self, request: TurnRequest) -> AsyncGenerator[EngineEvent, None]:
            yield TextDelta("Partial")
            raise RuntimeError("provider SDK bug")

    started = await asyncio.to_thread(start, alice, "question")
    message = await turns.turn_run(
        message_id=started.assistant_message.pk,
        listener=RecordingListener(),
        engine=CrashingEngine([]),
    )
    stored = await Message.objects.aget(pk=message.pk)
    assert stored.status == Message.Status.ERROR
    assert stored.text == "Partial"
    assert stored.status_notice == turns.UNEXPECTED_MESSAGE
    assert "SDK" not in stored.status_notice


@pytest.mark.django_db(transaction=True)
async def test_text_is_checkpointed_during_a_long_answer_not_per_delta(
    alice: User, settings: object
) -> None:
    settings.CHAT_CHECKPOINT_SECONDS = 0.1  # type: ignore[attr-defined]
    started = await asyncio.to_thread(start, alice, "question")
    seen_in_database: list[str] = []

    class SlowEngine(ScriptedEngine):
        async def stream(self, request: TurnRequest) -> AsyncGenerator[EngineEvent, None]:
            for index in range(12):
                yield TextDelta(f"{index} ")
                await asyncio.sleep(0.03)
                stored = await Message.objects.aget(pk=started.assistant_message.pk)
                seen_in_database.append(stored.text)
            yield TurnDone()

    await turns.turn_run(
        message_id=started.assistant_message.pk, listener=RecordingListener(), engine=SlowEngine([])
    )
    final = "".join(f"{index} " for index in range(12))
    midway = [text for text in seen_in_database if text and text != final]
    assert midway  # checkpointed while the answer was still being written
    # Not per delta: deltas came every 30 ms, writes about every 100 ms, so reads repeat.
    assert len(set(seen_in_database)) < len(seen_in_database)


@pytest.mark.django_db(transaction=True)
async def test_tool_calls_beyond_the_cap_are_refused_not_run(alice: User, settings: object) -> None:
    settings.ASSISTANT_MAX_TOOL_CALLS_PER_TURN = 2  # type: ignore[attr-defined]
    calls = [CallTool(f"call_{i}", "calculate_tax", '{"revenue": "1000"}') for i in range(500)]
    started = await asyncio.to_thread(start, alice, "question")
    listener = RecordingListener()
    engine = ScriptedEngine([*calls, TurnDone()])
    message = await turns.turn_run(
        message_id=started.assistant_message.pk, listener=listener, engine=engine
    )
    # Every call is answered, but only the first two run, are stored and are pushed.
    assert len(engine.outputs) == 500
    assert all("Too many tool calls" in output for output in engine.outputs[2:])
    receipts = [c async for c in ToolCall.objects.filter(message_id=started.assistant_message.pk)]
    assert [bool(r.result) for r in receipts] == [True, True]
    assert len(listener.updates) <= 3  # two receipts and the finish, not 500 pushes
    assert message is not None
    assert message.usage["tool_calls_refused"] == 498


@pytest.mark.django_db
def test_sweep_ends_only_answers_whose_lease_expired(alice: User, bob: User) -> None:
    from datetime import timedelta

    from django.utils import timezone

    live = start(alice, "question")
    dead = start(bob, "question")
    Message.objects.filter(pk=dead.assistant_message.pk).update(
        text="Half of it", lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    swept = turns.turn_sweep()
    assert [m.pk for m in swept] == [dead.assistant_message.pk]
    orphan = Message.objects.get(pk=dead.assistant_message.pk)
    assert (orphan.status, orphan.text) == (Message.Status.INTERRUPTED, "Half of it")
    assert orphan.status_notice == turns.OWNER_GONE_MESSAGE
    assert Message.objects.get(pk=live.assistant_message.pk).status == Message.Status.STREAMING
    assert turns.turn_sweep() == []  # idempotent


@pytest.mark.django_db
def test_too_many_questions_in_a_minute_are_refused_with_a_wait_time(
    alice: User, bob: User, settings: object
) -> None:
    settings.CHAT_RATE_LIMIT_TURNS = 3  # type: ignore[attr-defined]
    for index in range(3):
        started = start(alice, f"question {index}")
        started.assistant_message.status = Message.Status.COMPLETE
        started.assistant_message.save()
    with pytest.raises(turns.TurnRejected, match=r"Try again in (5[0-9]|60) s"):
        start(alice, "one more")
    assert Message.objects.filter(text="one more").count() == 0
    start(bob, "bob has his own budget")


@pytest.mark.django_db
def test_rate_limit_counts_only_the_window(alice: User, settings: object) -> None:
    from datetime import timedelta

    from django.utils import timezone

    settings.CHAT_RATE_LIMIT_TURNS = 2  # type: ignore[attr-defined]
    for index in range(2):
        started = start(alice, f"question {index}")
        started.assistant_message.status = Message.Status.COMPLETE
        started.assistant_message.save()
    Message.objects.update(created_at=timezone.now() - timedelta(seconds=61))
    start(alice, "a minute later")
