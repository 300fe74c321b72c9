import asyncio
import json
from typing import Any

import pytest
from django.contrib.auth.models import User

from chat import services, turns
from chat.engines.offline import OfflineEngine
from chat.models import Conversation, Message, ToolCall
from tests.helpers.frames import delta_frames, streamed_text
from tests.helpers.sockets import (
    ORIGIN,
    frame,
    is_appended,
    is_delta,
    is_finished_bubble,
    receive_until,
    session_cookie,
    socket_for,
    wait_for_answer,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def make_conversation(user: User) -> Conversation:
    return await asyncio.to_thread(services.conversation_get_or_create_empty, owner=user)


async def connect(
    user: User | None, conversation: Conversation, origin: tuple[bytes, bytes] | None = ORIGIN
):
    headers = [origin] if origin else []
    if user is not None:
        headers.append(await asyncio.to_thread(session_cookie, user))
    communicator = socket_for(f"/ws/conversations/{conversation.pk}/", headers)
    connected, code = await communicator.connect()
    return communicator, connected, code


async def test_tax_question_streams_in_order_and_completes(alice: User, settings: Any) -> None:
    settings.OFFLINE_TOKEN_DELAY = 0.01  # an answer over several push intervals
    conversation = await make_conversation(alice)
    socket, connected, _ = await connect(alice, conversation)
    assert connected
    await socket.receive_from()  # the catch-up transcript
    await socket.send_to(text_data=frame("What is the tax on 85,000 euros of revenue?"))
    frames = await receive_until(socket, is_appended)
    # The new title: the page's, and one item put at the top of the list's Today.
    titled = next(f for f in frames if f'id="conversation-item-{conversation.pk}"' in f)
    assert '<ul id="conversations-today" hx-swap-oob="afterbegin">' in titled
    assert "Tax on €85,000" in titled
    assert 'id="chat-title"' in titled
    appended = frames[-1]
    assert "What is the tax on 85,000 euros of revenue?" in appended
    assert 'data-status="streaming"' in appended
    assert '<div id="chat-alert" class="alert"' in appended  # cleared: the question was taken
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    frames = await receive_until(socket, is_finished_bubble(answer.pk))
    assert "Tax calculation" in frames[0]  # the card comes before the text
    deltas = delta_frames(frames, answer.pk)
    assert len(deltas) >= 2  # the answer arrived in pieces
    seqs = [delta["seq"] for delta in deltas]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # numbered, none missing
    assert 'data-seq="1"' in frames[0]  # the card was push 1; the deltas follow it
    assert seqs[0] == 2
    stored_text = (await Message.objects.aget(pk=answer.pk)).text
    assert streamed_text(frames, answer.pk) == stored_text  # every piece, in order
    assert "€14,500.00" in frames[-1]
    assert 'data-status="complete"' in frames[-1]
    await socket.disconnect()
    stored = await Message.objects.aget(pk=answer.pk)
    assert stored.status == "complete"
    assert await ToolCall.objects.filter(message=stored).acount() == 1


async def test_second_send_while_streaming_is_refused_and_text_given_back(
    alice: User, settings: object
) -> None:
    settings.OFFLINE_TOKEN_DELAY = 0.05  # type: ignore[attr-defined]
    conversation = await make_conversation(alice)
    socket, _, _ = await connect(alice, conversation)
    await socket.receive_from()
    await socket.send_to(text_data=frame("tax on 85000 EUR"))
    await receive_until(socket, is_appended)
    await socket.send_to(text_data=frame("and on 90000 EUR?"))
    refusal = await receive_until(
        socket, lambda f: "chat-alert" in f and "still being written" in f
    )
    assert "and on 90000 EUR?" in refusal[-1]  # restored into the composer
    assert await Message.objects.filter(conversation=conversation).acount() == 2
    await socket.send_to(text_data=json.dumps({"action": "stop"}))
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    await receive_until(socket, is_finished_bubble(answer.pk))
    await socket.disconnect()


async def test_stop_ends_the_answer_as_interrupted(alice: User, settings: object) -> None:
    settings.OFFLINE_TOKEN_DELAY = 0.05  # type: ignore[attr-defined]
    conversation = await make_conversation(alice)
    socket, _, _ = await connect(alice, conversation)
    await socket.receive_from()
    await socket.send_to(text_data=frame("tax on 85000 EUR"))
    await receive_until(socket, is_appended)
    await receive_until(socket, is_delta)  # some of the answer has streamed
    await socket.send_to(text_data=json.dumps({"action": "stop"}))
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    frames = await receive_until(socket, is_finished_bubble(answer.pk))
    assert 'data-status="interrupted"' in frames[-1]
    assert "Stopped before the answer was finished" in frames[-1]
    stored = await Message.objects.aget(pk=answer.pk)
    assert stored.status == "interrupted"
    assert 0 < len(stored.text) < 300  # partial text kept
    await socket.disconnect()


async def test_turn_finishes_and_is_stored_after_the_socket_closes(
    alice: User, settings: object
) -> None:
    settings.OFFLINE_TOKEN_DELAY = 0.01  # type: ignore[attr-defined]
    conversation = await make_conversation(alice)
    socket, _, _ = await connect(alice, conversation)
    await socket.receive_from()
    await socket.send_to(text_data=frame("tax on 85000 EUR"))
    await receive_until(socket, is_appended)
    await socket.disconnect()
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    for _ in range(100):
        await asyncio.sleep(0.05)
        await answer.arefresh_from_db()
        if answer.status != "streaming":
            break
    assert answer.status == "complete"
    assert "€14,500.00" in answer.text


async def test_reconnecting_socket_receives_the_stored_transcript(alice: User) -> None:
    conversation = await make_conversation(alice)
    await asyncio.to_thread(
        turns.turn_start,
        conversation=conversation,
        text="tax on 85000 EUR",
        engine=OfflineEngine(),
    )
    socket, _, _ = await connect(alice, conversation)
    catch_up = await socket.receive_from()
    assert 'id="messages" class="messages" hx-swap-oob="innerHTML"' in catch_up
    assert "tax on 85000 EUR" in catch_up
    assert 'data-status="streaming"' in catch_up
    await socket.disconnect()


async def test_anonymous_socket_is_refused_before_accept(alice: User) -> None:
    conversation = await make_conversation(alice)
    _, connected, code = await connect(None, conversation)
    assert not connected
    assert code == 4401


async def test_another_persons_conversation_is_refused_and_nothing_written(
    alice: User, bob: User
) -> None:
    conversation = await make_conversation(alice)
    _, connected, code = await connect(bob, conversation)
    assert not connected
    assert code == 4404
    assert await Message.objects.acount() == 0


@pytest.mark.parametrize(
    "origin",
    [(b"origin", b"https://evil.example"), (b"origin", b"http://127.0.0.1.evil.example"), None],
)
async def test_foreign_or_missing_origin_is_refused(
    alice: User, origin: tuple[bytes, bytes] | None
) -> None:
    conversation = await make_conversation(alice)
    _, connected, _ = await connect(alice, conversation, origin=origin)
    assert not connected


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ("   ", "not valid JSON"),
        ('{"type": "turn.stop"}', "Type a message first"),
        ('{"type": "websocket.disconnect", "message": 5}', "Type a message first"),
        ('{"action": "chat_fragment", "html": "<script>"}', "Unknown action"),
        ("x" * 70_000, "too large"),
    ],
)
async def test_bad_frames_get_an_error_and_the_socket_stays_usable(
    alice: User, payload: str, reason: str
) -> None:
    conversation = await make_conversation(alice)
    socket, _, _ = await connect(alice, conversation)
    await socket.receive_from()
    await socket.send_to(text_data=payload)
    assert reason in await socket.receive_from()
    await socket.send_to(text_data=frame("hello"))
    await receive_until(socket, lambda f: is_appended(f) and "hello" in f)
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    await receive_until(socket, is_finished_bubble(answer.pk))
    await socket.disconnect()


async def test_binary_frame_is_refused(alice: User) -> None:
    conversation = await make_conversation(alice)
    socket, _, _ = await connect(alice, conversation)
    await socket.receive_from()
    await socket.send_to(bytes_data=b"\x00\x01")
    assert "Binary frames are not accepted" in await socket.receive_from()
    await socket.disconnect()


async def test_person_text_is_escaped_in_the_streamed_fragment(alice: User) -> None:
    conversation = await make_conversation(alice)
    socket, _, _ = await connect(alice, conversation)
    await socket.receive_from()
    await socket.send_to(text_data=frame('<img src=x onerror="alert(1)"> tax on 85000 EUR'))
    appended = (await receive_until(socket, is_appended))[-1]
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in appended
    assert "<img" not in appended
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    await receive_until(socket, is_finished_bubble(answer.pk))
    await socket.disconnect()


async def test_logout_closes_the_persons_open_sockets(alice: User) -> None:
    from asgiref.sync import sync_to_async
    from django.test import Client

    conversation = await make_conversation(alice)
    client = Client()
    await sync_to_async(client.force_login)(alice)
    cookie = (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())
    socket = socket_for(f"/ws/conversations/{conversation.pk}/", [ORIGIN, cookie])
    connected, _ = await socket.connect()
    assert connected
    await socket.receive_from()
    await sync_to_async(client.post)("/accounts/logout/")
    output = await socket.receive_output(timeout=2)
    assert output == {"type": "websocket.close", "code": 4001}


async def test_password_change_closes_the_persons_open_sockets(alice: User) -> None:
    conversation = await make_conversation(alice)
    socket, connected, _ = await connect(alice, conversation)
    assert connected
    await socket.receive_from()

    def change_password() -> None:
        alice.set_password("a brand new passphrase")
        alice.save()

    await asyncio.to_thread(change_password)
    output = await socket.receive_output(timeout=2)
    assert output == {"type": "websocket.close", "code": 4001}


async def test_a_session_ended_elsewhere_stops_the_socket_at_its_next_frame(
    alice: User, settings: Any
) -> None:
    from django.contrib.sessions.models import Session

    settings.CHAT_SESSION_RECHECK_SECONDS = 0  # re-read at every frame (default: every 5 s)
    conversation = await make_conversation(alice)
    socket, _, _ = await connect(alice, conversation)
    await socket.receive_from()
    await Session.objects.all().adelete()  # e.g. an admin ended every session
    await socket.send_to(text_data=frame("tax on 85000 EUR"))
    assert await socket.receive_output(timeout=2) == {"type": "websocket.close", "code": 4001}
    assert await Message.objects.acount() == 0


async def test_a_frame_and_its_session_re_check_do_not_wait_behind_others_database_work(
    alice: User, settings: Any
) -> None:
    """The shared database thread busy with others' turns (here: 3 s) holds up neither the
    frame (Channels' dispatch would first queue a trip there) nor the session re-check it
    needs: the frame is answered meanwhile."""
    import time

    from chat.db import db_async

    settings.CHAT_SESSION_RECHECK_SECONDS = 0  # re-read at every frame
    conversation = await make_conversation(alice)
    socket, _, _ = await connect(alice, conversation)
    await socket.receive_from()
    while not await socket.receive_nothing(timeout=0.3):
        await socket.receive_from()  # the connect's catch-up done: the socket is idle
    busy = asyncio.ensure_future(db_async(time.sleep)(3))
    await asyncio.sleep(0.1)  # the database thread is now taken
    await socket.send_to(text_data=json.dumps({"action": "nothing"}))
    assert "Unknown action." in await socket.receive_from(timeout=2)
    assert not busy.done()
    await busy
    await socket.disconnect()


async def test_an_answers_end_is_worked_out_off_the_loop_while_frames_are_answered(
    alice: User, settings: Any
) -> None:
    """The grounding check and the final bubble (milliseconds of CPU) run on chat.cpu's worker:
    with that worker held (here: by a job of up to 10 s), the answer's last words still stream
    and the socket still answers frames at once, but the answer waits to end; then it ends,
    checked and whole."""
    import threading

    from chat import cpu

    settings.OFFLINE_TOKEN_DELAY = 0.01  # words over a while: the worker is taken meanwhile
    conversation = await make_conversation(alice)
    socket, _, _ = await connect(alice, conversation)
    await socket.receive_from()
    await socket.send_to(text_data=frame("What is the tax on 85,000 euros of revenue?"))
    await receive_until(socket, is_appended)
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    streamed = await receive_until(socket, is_delta)  # after the receipt: words are coming
    release = threading.Event()
    held = asyncio.ensure_future(cpu.off_loop(release.wait, 10))
    try:
        while not await socket.receive_nothing(timeout=0.5):  # every word sent: the end waits
            streamed.append(await socket.receive_from())
        assert "14,500" in streamed_text(streamed, answer.pk)
        assert not any(is_finished_bubble(answer.pk)(f) for f in streamed)
        await socket.send_to(text_data=json.dumps({"action": "nothing"}))
        frames = await receive_until(socket, lambda f: "Unknown action." in f, timeout=1)
        assert not any(is_finished_bubble(answer.pk)(f) for f in frames)
        assert (await Message.objects.aget(pk=answer.pk)).status == "streaming"
    finally:
        release.set()
        await held
    frames = await receive_until(socket, is_finished_bubble(answer.pk))
    assert "€14,500.00" in frames[-1]
    assert 'data-status="complete"' in frames[-1]
    stored = await Message.objects.aget(pk=answer.pk)
    assert (stored.status, stored.figures_verified) == ("complete", True)
    await socket.disconnect()


async def test_work_moved_off_the_loop_is_told_not_to_query() -> None:
    """Templates skip their ORM reads (e.g. an answer's vote) for the loop, also on its worker."""
    from chat.cpu import off_loop, rendering_for_the_loop

    assert rendering_for_the_loop()
    assert await off_loop(rendering_for_the_loop)
    assert not await asyncio.to_thread(rendering_for_the_loop)


async def test_a_frame_naming_another_conversation_cannot_reach_it(alice: User, bob: User) -> None:
    alices = await make_conversation(alice)
    bobs = await make_conversation(bob)
    socket, _, _ = await connect(bob, bobs)
    await socket.receive_from()
    await socket.send_to(
        text_data=json.dumps(
            {"message": "hi", "conversation": alices.pk, "conversation_id": alices.pk}
        )
    )
    await receive_until(socket, is_appended)
    assert await Message.objects.filter(conversation=alices).acount() == 0
    assert await Message.objects.filter(conversation=bobs).acount() == 2
    answer = await Message.objects.aget(conversation=bobs, role="assistant")
    await receive_until(socket, is_finished_bubble(answer.pk))
    await socket.disconnect()


async def test_flood_of_messages_is_rate_limited_with_a_wait_time(
    alice: User, settings: object
) -> None:
    settings.CHAT_RATE_LIMIT_TURNS = 2  # type: ignore[attr-defined]
    conversation = await make_conversation(alice)
    socket, _, _ = await connect(alice, conversation)
    await socket.receive_from()
    for index in range(2):
        await socket.send_to(text_data=frame(f"tax on {index + 1}0000 EUR"))
        await receive_until(socket, is_appended)
        await wait_for_answer(socket, conversation)
    await socket.send_to(text_data=frame("tax on 30000 EUR"))
    refusal = await receive_until(socket, lambda f: "chat-alert" in f and "Try again in" in f)
    assert "tax on 30000 EUR" in refusal[-1]  # the text goes back into the box
    assert await Message.objects.filter(conversation=conversation).acount() == 4
    await socket.disconnect()


async def test_model_output_with_markup_is_escaped_while_streaming(
    alice: User, settings: object
) -> None:
    from chat.engines.offline_text import STRINGS

    conversation = await make_conversation(alice)
    socket, _, _ = await connect(alice, conversation)
    await socket.receive_from()
    original = STRINGS["en"]["help"]
    STRINGS["en"]["help"] = (
        '<script>alert(1)</script> <img src=x onerror=alert(2)> <a hx-get="/admin/">x</a>'
    )
    try:
        await socket.send_to(text_data=frame("hello"))
        await receive_until(socket, is_appended)
        answer = await Message.objects.aget(conversation=conversation, role="assistant")
        frames = await receive_until(socket, is_finished_bubble(answer.pk))
    finally:
        STRINGS["en"]["help"] = original
    from tests.helpers.htmlcheck import active_parts, without_feedback_forms

    for html in frames:
        assert active_parts(without_feedback_forms(html)) == []
    assert "&lt;script&gt;" in "".join(frames)


async def test_second_tab_sees_the_same_stream_and_cannot_start_a_parallel_turn(
    alice: User, settings: object
) -> None:
    settings.OFFLINE_TOKEN_DELAY = 0.03  # type: ignore[attr-defined]
    conversation = await make_conversation(alice)
    first, _, _ = await connect(alice, conversation)
    second, _, _ = await connect(alice, conversation)
    await first.receive_from()
    await second.receive_from()
    await first.send_to(text_data=frame("tax on 85000 EUR"))
    await receive_until(second, is_appended)
    await second.send_to(text_data=frame("tax on 99000 EUR"))
    await receive_until(second, lambda f: "still being written" in f)
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    frames = await receive_until(second, is_finished_bubble(answer.pk))
    assert "€14,500.00" in frames[-1]
    assert await Message.objects.filter(conversation=conversation).acount() == 2
    await first.disconnect()
    await second.disconnect()
