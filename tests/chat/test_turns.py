"""The turn lifecycle: a turn always finishes once, whatever stops or breaks it, and frees the
conversation for the next question."""

import asyncio
import json
import threading
import time
from collections.abc import AsyncGenerator
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.contrib.auth.models import User
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from chat import services, turns
from chat.db import db_async
from chat.engines.base import EngineEvent, TextDelta, TurnDone, TurnRequest, UsageReported
from chat.engines.offline import OfflineEngine
from chat.models import Conversation, Message
from chat.runner import TurnRunner
from tests.helpers.engines import ScriptedEngine
from tests.helpers.sockets import (
    ORIGIN,
    frame,
    is_appended,
    receive_until,
    session_cookie,
    socket_for,
)
from tests.helpers.turns import RecordingListener

pytestmark = pytest.mark.django_db(transaction=True)


class RaisingListener:
    """A listener that fails at every push, the finish included."""

    def __init__(self) -> None:
        self.calls = 0

    async def turn_changed(self, update: turns.TurnUpdate) -> None:
        self.calls += 1
        raise RuntimeError("listener bug")


def start(user: User, text: str = "question") -> turns.StartedTurn:
    conversation = services.conversation_get_or_create_empty(owner=user)
    return turns.turn_start(conversation=conversation, text=text, engine=OfflineEngine())


async def assert_free(conversation_id: int) -> None:
    """No answer left streaming, and the conversation takes the next question."""
    assert not await Message.objects.filter(
        conversation_id=conversation_id, status=Message.Status.STREAMING
    ).aexists()
    conversation = await Conversation.objects.aget(pk=conversation_id)
    started = await asyncio.to_thread(
        turns.turn_start, conversation=conversation, text="next", engine=OfflineEngine()
    )
    await asyncio.to_thread(
        Message.objects.filter(pk=started.assistant_message.pk).update, status="complete"
    )


# --- Sockets: Stop from one or two tabs, at any moment ------------------------------------------


def is_ended_bubble(message_id: int) -> Any:
    def check(text: str) -> bool:
        return f'id="message-{message_id}"' in text and 'data-status="streaming"' not in text

    return check


async def two_tabs(user: User, conversation: Conversation) -> tuple[Any, Any]:
    cookie = await asyncio.to_thread(session_cookie, user)
    tabs = []
    for _ in range(2):
        tab = socket_for(f"/ws/conversations/{conversation.pk}/", [ORIGIN, cookie])
        connected, _ = await tab.connect()
        assert connected
        await tab.receive_from()  # catch-up
        tabs.append(tab)
    return tabs[0], tabs[1]


async def ask_and_stop(
    first: Any,
    second: Any,
    conversation: Conversation,
    *,
    stop_from: str,
    delay: float,
    seen_first: bool = False,
) -> None:
    """Ask in the first tab, press Stop `delay` s later (or, with `seen_first`, once the second
    tab shows the question: a Stop sent before the question exists has nothing to stop)."""
    await first.send_to(text_data=frame("What is the tax on 85,000 euros?"))
    if delay:
        await asyncio.sleep(delay)
    if seen_first:
        await receive_until(second, is_appended)
    stop = json.dumps({"action": "stop"})
    if stop_from == "both":
        await asyncio.gather(first.send_to(text_data=stop), second.send_to(text_data=stop))
    else:
        await second.send_to(text_data=stop)
    await receive_until(first, is_appended)
    answer = await Message.objects.filter(conversation=conversation, role="assistant").alatest("pk")
    for tab in (first, second):
        frames = await receive_until(tab, is_ended_bubble(answer.pk), timeout=10)
        assert 'data-status="interrupted"' in frames[-1] or 'data-status="complete"' in frames[-1]
    stored = await Message.objects.aget(pk=answer.pk)
    assert stored.status in ("interrupted", "complete")
    assert not await Message.objects.filter(
        conversation=conversation, status=Message.Status.STREAMING
    ).aexists()


@pytest.mark.parametrize("stop_from", ["both", "second"])
async def test_stop_from_two_tabs_a_hundred_times_never_leaves_a_turn_streaming(
    alice: User, settings: Any, stop_from: str
) -> None:
    settings.OFFLINE_TOKEN_DELAY = 0.01  # an answer of a second or more: Stop lands mid-answer
    settings.CHAT_RATE_LIMIT_TURNS = 10_000
    settings.CHAT_FRAMES_PER_SECOND = 10_000  # these tabs press Stop faster than any person
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    first, second = await two_tabs(alice, conversation)
    for _ in range(100):
        await ask_and_stop(
            first, second, conversation, stop_from=stop_from, delay=0, seen_first=True
        )
    statuses = [
        s async for s in Message.objects.filter(role="assistant").values_list("status", flat=True)
    ]
    assert len(statuses) == 100
    assert statuses.count("interrupted") >= 95  # Stop landed mid-answer, not after it
    await first.disconnect()
    await second.disconnect()
    await assert_free(conversation.pk)


@pytest.mark.parametrize("delay_ms", [0, 10, 20, 40])
async def test_stop_right_after_the_question_never_leaves_a_turn_streaming(
    alice: User, settings: Any, delay_ms: int
) -> None:
    settings.OFFLINE_TOKEN_DELAY = 0.01
    settings.CHAT_RATE_LIMIT_TURNS = 10_000
    settings.CHAT_FRAMES_PER_SECOND = 10_000  # these tabs press Stop faster than any person
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    first, second = await two_tabs(alice, conversation)
    for _ in range(50):
        await ask_and_stop(first, second, conversation, stop_from="second", delay=delay_ms / 1000)
    await first.disconnect()
    await second.disconnect()
    await assert_free(conversation.pk)


async def test_stop_for_an_answer_whose_process_is_gone_ends_it_at_once(alice: User) -> None:
    started = await asyncio.to_thread(start, alice)
    # Owned by a process that no longer exists (its channel is not listened to, its lease lapsed).
    await asyncio.to_thread(
        Message.objects.filter(pk=started.assistant_message.pk).update,
        turn_owner="turns.gone!nobody",
        lease_expires_at=None,
        text="Half",
    )
    conversation = started.user_message.conversation
    first, second = await two_tabs(alice, conversation)
    await second.send_to(text_data=json.dumps({"action": "stop"}))
    for tab in (first, second):
        frames = await receive_until(tab, is_ended_bubble(started.assistant_message.pk))
        assert "Stopped before the answer was finished" in frames[-1]
    stored = await Message.objects.aget(pk=started.assistant_message.pk)
    assert (stored.status, stored.text) == ("interrupted", "Half")
    await first.disconnect()
    await second.disconnect()
    await assert_free(conversation.pk)


async def test_a_sweep_that_waited_for_the_database_spares_answers_started_meanwhile(
    alice: User,
) -> None:
    """Under load the sweep waits behind turn starts on the one database thread: the answers
    it spares are the ones running when it runs, not when it was queued (at 500 answers at
    once a process ended 239 of its own live answers)."""
    started = await asyncio.to_thread(start, alice)
    answer_id = started.assistant_message.pk
    # Its lease lapsed while renewals queued behind other work.
    await asyncio.to_thread(
        Message.objects.filter(pk=answer_id).update, lease_expires_at=timezone.now()
    )
    runner = TurnRunner(get_channel_layer())
    busy, free = threading.Event(), threading.Event()

    def other_work() -> None:  # what holds the database thread: say, 500 turn starts
        busy.set()
        free.wait(5)

    blocker = asyncio.ensure_future(db_async(other_work)())
    await asyncio.to_thread(busy.wait, 5)
    sweep = asyncio.ensure_future(runner.sweep_once())  # queued behind it
    await asyncio.sleep(0.05)
    # Meanwhile this process starts running the answer.
    turn = turns.TurnRun(message_id=answer_id, engine=OfflineEngine(), listener=RecordingListener())
    runner.turns[answer_id] = (turn, blocker)
    free.set()
    await asyncio.gather(blocker, sweep)
    assert (await Message.objects.aget(pk=answer_id)).status == "streaming"


async def test_the_sweep_of_a_serving_process_ends_a_dead_owners_answer_and_tells_the_tabs(
    alice: User, settings: Any
) -> None:
    settings.CHAT_TURN_SWEEP_SECONDS = 0.1
    started = await asyncio.to_thread(start, alice)
    conversation = started.user_message.conversation
    first, second = await two_tabs(alice, conversation)  # connecting starts this process's sweep
    await asyncio.to_thread(
        Message.objects.filter(pk=started.assistant_message.pk).update,
        turn_owner="turns.gone!nobody",
        lease_expires_at=None,
        text="Checkpointed part",
    )
    frames = await receive_until(first, is_ended_bubble(started.assistant_message.pk))
    assert "The server writing this answer stopped" in frames[-1]
    assert "Checkpointed part" in frames[-1]
    await first.disconnect()
    await second.disconnect()
    await assert_free(conversation.pk)


async def test_a_live_answer_is_never_swept(alice: User, settings: Any) -> None:
    settings.CHAT_TURN_LEASE_SECONDS = 0.6  # renewed every 0.2 s by its owner
    started = await asyncio.to_thread(start, alice)
    engine = ScriptedEngine([TextDelta("Slow ")], hang=True)  # a provider that goes quiet
    turn = turns.TurnRun(
        message_id=started.assistant_message.pk, engine=engine, listener=RecordingListener()
    )
    task = asyncio.create_task(turn.run())
    for _ in range(8):
        await asyncio.sleep(0.25)
        assert await asyncio.to_thread(turns.turn_sweep) == []
    turn.stop()
    await task
    assert (await Message.objects.aget(pk=started.assistant_message.pk)).status == "interrupted"


async def test_a_stop_that_a_library_turns_into_another_error_still_stops(alice: User) -> None:
    """redis-py turns a cancel during one of its reads into TimeoutError; a push waiting on
    Redis when Stop is pressed must not swallow the Stop."""
    started = await asyncio.to_thread(start, alice)
    pushing = asyncio.Event()

    class RedisLikeListener(RecordingListener):
        async def turn_changed(self, update: turns.TurnUpdate) -> None:
            await super().turn_changed(update)
            if update.finished:
                return
            pushing.set()
            try:
                await asyncio.sleep(30)  # a slow read from the channel layer
            except asyncio.CancelledError:
                raise TimeoutError("Timeout reading from 127.0.0.1:6379") from None

    engine = ScriptedEngine([TextDelta("So far"), TextDelta(" and more")], hang=True)
    turn = turns.TurnRun(
        message_id=started.assistant_message.pk, engine=engine, listener=RedisLikeListener()
    )
    task = asyncio.create_task(turn.run())
    await asyncio.wait_for(pushing.wait(), 5)
    turn.stop()
    await asyncio.wait({task}, timeout=5)  # not wait_for: its own cancel would stop the turn
    assert task.done(), "the Stop was swallowed: the answer is still being written"
    message = task.result()
    assert message is not None
    assert (message.status, message.status_notice) == ("interrupted", turns.STOPPED_MESSAGE)
    await assert_free(message.conversation_id)


@pytest.mark.parametrize("pushes_while_stopped", ["text", "receipt"])
async def test_a_stop_that_asyncio_wait_for_swallows_still_stops(
    alice: User, pushes_while_stopped: str
) -> None:
    """redis-py awaits each write to Redis with `asyncio.wait_for`, which on Python 3.11 returns
    normally when its write completes just as the cancel arrives (CPython gh-86296). A Stop
    pressed at that moment, on another process, once let the answer run to its end."""
    started = await asyncio.to_thread(start, alice, "What is the tax on 250,000 euros?")
    written = asyncio.get_running_loop().create_future()
    writing = asyncio.Event()

    class WaitForListener(RecordingListener):
        async def turn_changed(self, update: turns.TurnUpdate) -> None:
            await super().turn_changed(update)
            if not written.done():
                writing.set()
                await asyncio.wait_for(written, 5)  # the write to Redis

    if pushes_while_stopped == "text":
        engine: Any = ScriptedEngine([TextDelta("So far"), TextDelta(" and more"), TurnDone()])
    else:
        engine = OfflineEngine()
    listener = WaitForListener()
    turn = turns.TurnRun(message_id=started.assistant_message.pk, engine=engine, listener=listener)
    task = asyncio.create_task(turn.run())
    await asyncio.wait_for(writing.wait(), 5)
    # The write completes and Stop arrives in the same turn of the event loop.
    written.set_result(None)
    turn.stop()
    message = await asyncio.wait_for(task, 5)
    assert message is not None
    assert (message.status, message.status_notice) == ("interrupted", turns.STOPPED_MESSAGE)
    assert "and more" not in message.text
    await assert_free(message.conversation_id)


# --- Faults inside the turn: the finish still happens -------------------------------------------


async def run_with(engine: Any, user: User, listener: Any = None) -> tuple[Message | None, int]:
    started = await asyncio.to_thread(start, user)
    message = await turns.turn_run(
        message_id=started.assistant_message.pk,
        listener=listener or RecordingListener(),
        engine=engine,
    )
    return message, started.assistant_message.pk


async def test_a_listener_that_raises_does_not_lose_the_turn(alice: User) -> None:
    listener = RaisingListener()
    engine = ScriptedEngine([TextDelta("All "), TextDelta("done."), TurnDone()])
    _, pk = await run_with(engine, alice, listener)
    stored = await Message.objects.aget(pk=pk)
    assert (stored.status, stored.text) == ("complete", "All done.")
    assert listener.calls >= 1  # it was called, finish included, and failed each time
    await assert_free(stored.conversation_id)


@pytest.mark.parametrize("fail_at", [0, 99])
async def test_an_engine_that_raises_at_any_event_ends_as_error_with_its_partial_text(
    alice: User, fail_at: int
) -> None:
    class Breaking(ScriptedEngine):
        async def stream(self, request: TurnRequest) -> AsyncGenerator[EngineEvent, None]:
            for index in range(200):
                if index == fail_at:
                    raise RuntimeError("SDK bug")
                yield TextDelta("w ")

    _, pk = await run_with(Breaking([]), alice)
    stored = await Message.objects.aget(pk=pk)
    assert stored.status == "error"
    assert stored.text == "w " * fail_at
    assert stored.status_notice == turns.UNEXPECTED_MESSAGE
    await assert_free(stored.conversation_id)


async def test_malformed_events_from_an_engine_do_not_lock_the_conversation(alice: User) -> None:
    # What a provider chunk with a list for `content` once became: not text. And usage that is
    # not a number breaks the sum: the error path must still finish.
    engine = ScriptedEngine(
        [TextDelta("Fine. "), TextDelta(["a", "list"]), UsageReported(None, 3), TurnDone()]  # type: ignore[arg-type]
    )
    _, pk = await run_with(engine, alice)
    stored = await Message.objects.aget(pk=pk)
    assert (stored.status, stored.text) == ("error", "Fine. ")
    await assert_free(stored.conversation_id)


async def test_a_final_save_that_fails_falls_back_to_ending_the_answer(
    alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_save = turns._save_final
    calls: list[dict[str, Any]] = []

    async def save_failing_once(message_id: int, fields: dict[str, Any]) -> Message:
        calls.append(fields)
        if len(calls) == 1:
            raise RuntimeError("a bug while saving the full answer")
        return await real_save(message_id, fields)

    monkeypatch.setattr(turns, "_save_final", save_failing_once)
    engine = ScriptedEngine([TextDelta("Part"), TurnDone()])
    _, pk = await run_with(engine, alice)
    stored = await Message.objects.aget(pk=pk)
    assert stored.status == "error"
    assert stored.status_notice == turns.UNEXPECTED_MESSAGE
    await assert_free(stored.conversation_id)


async def test_cancels_during_the_final_save_cannot_stop_it(alice: User) -> None:
    started = await asyncio.to_thread(start, alice)
    engine = ScriptedEngine([TextDelta("So far")], hang=True)
    turn = turns.TurnRun(
        message_id=started.assistant_message.pk, engine=engine, listener=RecordingListener()
    )
    task = asyncio.create_task(turn.run())
    await asyncio.wait_for(engine.hanging.wait(), timeout=5)
    locked, release = threading.Event(), threading.Event()

    def hold_write_lock() -> None:
        with transaction.atomic():
            Message.objects.filter(pk=started.user_message.pk).update(text="question")
            locked.set()
            release.wait(5)
        connection.close()

    holder = threading.Thread(target=hold_write_lock)
    if connection.vendor == "sqlite":
        holder.start()
        locked.wait(5)
    turn.stop()
    for _ in range(20):  # Stop pressed again and again, and the task cancelled directly too
        await asyncio.sleep(0.02)
        turn.stop()
        task.cancel()
    release.set()
    if holder.is_alive():
        holder.join()
    message = await asyncio.wait_for(task, timeout=30)
    assert message is not None
    stored = await Message.objects.aget(pk=started.assistant_message.pk)
    assert (stored.status, stored.text) == ("interrupted", "So far")
    assert turn.finished
    await assert_free(stored.conversation_id)


async def test_stop_before_the_turn_starts_running_still_finishes_it(alice: User) -> None:
    started = await asyncio.to_thread(start, alice)
    listener = RecordingListener()
    turn = turns.TurnRun(
        message_id=started.assistant_message.pk, engine=OfflineEngine(), listener=listener
    )
    turn.stop()
    turn.stop()
    await turn.run()
    stored = await Message.objects.aget(pk=started.assistant_message.pk)
    assert stored.status == "interrupted"
    await assert_free(stored.conversation_id)


async def test_a_checkpoint_that_finds_the_answer_ended_elsewhere_stops_the_turn(
    alice: User, settings: Any
) -> None:
    settings.CHAT_CHECKPOINT_SECONDS = 0.01
    started = await asyncio.to_thread(start, alice)
    ended = asyncio.Event()

    def end_elsewhere() -> None:
        # The in-memory test database locks whole tables: wait out a checkpoint being written.
        for _ in range(100):
            try:
                turns.turn_end_orphaned(
                    message_id=started.assistant_message.pk, error="ended by a sweep"
                )
                return
            except OperationalError:
                time.sleep(0.01)

    class Endless(ScriptedEngine):
        async def stream(self, request: TurnRequest) -> AsyncGenerator[EngineEvent, None]:
            for _ in range(10_000):
                yield TextDelta("w ")
                await asyncio.sleep(0.005)
                if not ended.is_set():
                    await asyncio.to_thread(end_elsewhere)
                    ended.set()
            yield TurnDone()

    listener = RecordingListener()
    message = await asyncio.wait_for(
        turns.turn_run(
            message_id=started.assistant_message.pk, listener=listener, engine=Endless([])
        ),
        timeout=10,
    )
    assert message is not None
    assert (message.status, message.status_notice) == ("interrupted", "ended by a sweep")
    assert listener.updates[-1].finished


async def test_the_appended_frame_reaches_both_tabs(alice: User) -> None:
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    first, second = await two_tabs(alice, conversation)
    await first.send_to(text_data=frame("tax on 85,000 euros"))
    for tab in (first, second):
        await receive_until(tab, is_appended)
    await _answered(first, conversation)
    await first.disconnect()
    await second.disconnect()


async def test_the_new_title_reaches_every_tab(alice: User) -> None:
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    first, second = await two_tabs(alice, conversation)
    await first.send_to(text_data=frame("What is the tax on 85,000 euros?"))
    item = f'id="conversation-item-{conversation.pk}"'
    for tab in (first, second):
        frames = await receive_until(tab, is_appended)
        assert 'id="chat-title"' in frames[-1]
        assert "Tax on €85,000" in frames[-1]
        # A new conversation: put at the top of Today, nothing to take out of the list first.
        assert '<ul id="conversations-today" hx-swap-oob="afterbegin">' in frames[-1]
        assert frames[-1].count(item) == 1
    await _answered(first, conversation)
    await first.disconnect()
    await second.disconnect()


async def test_a_listed_conversation_that_gets_its_title_moves_to_the_top_of_today(
    alice: User,
) -> None:
    """A first question with nothing to make a title of ("???") lists the conversation as
    Untitled; the next question titles it: its old item is taken out as the new one goes in."""
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    await asyncio.to_thread(
        Message.objects.create, conversation=conversation, role="user", text="???"
    )
    await asyncio.to_thread(
        Message.objects.create, conversation=conversation, role="assistant", text="Ask me."
    )
    tab, other = await two_tabs(alice, conversation)
    await other.disconnect()
    await tab.send_to(text_data=frame("What is the tax on 85,000 euros?"))
    appended = (await receive_until(tab, is_appended))[-1]
    item = f'id="conversation-item-{conversation.pk}"'
    assert f'<li {item} hx-swap-oob="delete"></li>' in appended
    assert appended.index('hx-swap-oob="delete"') < appended.index('hx-swap-oob="afterbegin"')
    assert appended.count(item) == 2  # the one taken out, the one put in
    assert "Tax on €85,000" in appended
    await _answered(tab, conversation)
    await tab.disconnect()


async def _answered(tab: Any, conversation: Conversation) -> None:
    """Wait for the answer to end: a test leaves no turn writing while its database is flushed."""
    answer = await Message.objects.filter(conversation=conversation, role="assistant").alatest("pk")
    await receive_until(tab, is_ended_bubble(answer.pk))
