"""The streaming path: numbered delta frames carry only what changed, a page that missed one is
made whole, catch-up is bounded, and cost per push does not grow with the answer."""

import asyncio
import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from hypothesis import given
from hypothesis import strategies as st

from chat import services, turns
from chat.engines.base import TextDelta, TurnDone
from chat.engines.offline import OfflineEngine
from chat.models import Conversation, Message
from chat.streaming import BlockStream, render_blocks, split_blocks
from tests.helpers.engines import ScriptedEngine
from tests.helpers.frames import delta_frames, streamed_text
from tests.helpers.sockets import (
    ORIGIN,
    frame,
    is_appended,
    is_finished_bubble,
    receive_until,
    session_cookie,
    socket_for,
)
from tests.helpers.turns import RecordingListener

ANSWER = (
    "On a yearly revenue of **€85,000.00** the tax is **€14,500.00**.\n\n"
    "How it adds up:\n\n- 0 % up to €10,000.00\n- 10 % to €30,000.00\n\n"
    "```\ncode block\n\nwith a blank line\n```\n\n"
    "| a | b |\n| - | - |\n| 1 | 2 |\n\n_This is a demonstration tax table._"
)


def apply(page: dict[int, str], start: int, blocks: list[str]) -> None:
    """What chat.js does with a delta frame: replace blocks from `start` on."""
    for index in [i for i in page if i >= start]:
        del page[index]
    for offset, html in enumerate(blocks):
        page[start + offset] = html


@given(cuts=st.lists(st.integers(min_value=1, max_value=len(ANSWER) - 1), max_size=40))
def test_blocks_sent_as_deltas_add_up_to_the_whole_render(cuts: list[int]) -> None:
    stream, page = BlockStream(), {}
    for end in [*sorted(set(cuts)), len(ANSWER)]:
        apply(page, *stream.advance(ANSWER[:end]))
    assert [page[i] for i in sorted(page)] == render_blocks(ANSWER)


def test_a_fence_keeps_its_blank_lines_and_long_paragraphs_are_capped() -> None:
    blocks = split_blocks(ANSWER)
    assert "```\ncode block\n\nwith a blank line\n```" in blocks
    long_paragraph = " ".join(["word"] * 2000)
    assert max(len(block) for block in split_blocks(long_paragraph)) <= 1500


def test_bytes_sent_grow_linearly_with_the_answer() -> None:
    def bytes_for(words: int) -> int:
        text = ""
        stream = BlockStream()
        sent = 0
        for index in range(words):
            text += f"word{index} " + ("\n\n" if index % 40 == 39 else "")
            if index % 5 == 4:  # a push every 5 deltas
                _, blocks = stream.advance(text)
                sent += sum(len(html) for html in blocks)
        return sent

    assert bytes_for(8000) / bytes_for(2000) <= 4.5


# --- Over the socket ------------------------------------------------------------------------------


async def connect(user: User, conversation: Conversation, query: str = "") -> Any:
    cookie = await asyncio.to_thread(session_cookie, user)
    socket = socket_for(f"/ws/conversations/{conversation.pk}/{query}", [ORIGIN, cookie])
    connected, _ = await socket.connect()
    assert connected
    return socket


pytestmark_db = pytest.mark.django_db(transaction=True)


@pytestmark_db
async def test_a_page_that_asks_for_a_resync_gets_the_answer_as_it_stands(
    alice: User, settings: Any
) -> None:
    settings.OFFLINE_TOKEN_DELAY = 0.02
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    socket = await connect(alice, conversation)
    await socket.receive_from()
    await socket.send_to(text_data=frame("What is the tax on 85,000 euros?"))
    await receive_until(socket, is_appended)
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    frames = await receive_until(socket, lambda text: text.startswith('{"type":"delta"'))
    seen = delta_frames(frames, answer.pk)[-1]["seq"]
    so_far = streamed_text(frames, answer.pk).strip()
    await socket.send_to(text_data=json.dumps({"action": "resync", "message": answer.pk}))
    snapshot = await receive_until(socket, lambda text: text.startswith("<article"))
    bubble = snapshot[-1]
    assert f'id="message-{answer.pk}"' in bubble
    assert 'data-status="streaming"' in bubble
    seq = int(bubble.split('data-seq="')[1].split('"')[0])
    assert seq >= seen  # the snapshot is at least as new as what the page had
    assert so_far
    assert so_far in bubble  # everything the page had seen, and maybe more
    await receive_until(socket, is_finished_bubble(answer.pk))
    await socket.disconnect()


@pytestmark_db
async def test_a_resync_for_someone_elses_answer_sends_nothing(alice: User, bob: User) -> None:
    bobs = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=bob)
    started = await asyncio.to_thread(
        turns.turn_start, conversation=bobs, text="secret 85,000", engine=OfflineEngine()
    )
    mine = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    socket = await connect(alice, mine)
    await socket.receive_from()
    await socket.send_to(
        text_data=json.dumps({"action": "resync", "message": started.assistant_message.pk})
    )
    assert await socket.receive_nothing(timeout=0.5)
    await socket.disconnect()


def fill(conversation: Conversation, count: int) -> list[int]:
    Message.objects.bulk_create(
        Message(
            conversation=conversation,
            role="user" if index % 2 == 0 else "assistant",
            text=f"message number {index} " + "x" * 80,
        )
        for index in range(count)
    )
    return list(conversation.messages.order_by("pk").values_list("pk", flat=True))


@pytestmark_db
async def test_a_reconnecting_page_receives_only_what_it_missed(alice: User) -> None:
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    ids = await asyncio.to_thread(fill, conversation, 10)
    socket = await connect(alice, conversation, f"?after={ids[5]}")
    catch_up = await socket.receive_from()
    assert 'hx-swap-oob="beforeend"' in catch_up  # added to what the page has
    assert [f"message number {i} " in catch_up for i in range(10)] == [False] * 6 + [True] * 4
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()
    # A page that has everything gets nothing at all.
    socket = await connect(alice, conversation, f"?after={ids[-1]}")
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


@pytestmark_db
async def test_catch_up_costs_the_same_with_5000_messages_as_with_100(alice: User) -> None:
    sizes = {}
    for count in (100, 5000):
        conversation = await asyncio.to_thread(Conversation.objects.create, owner=alice)
        await asyncio.to_thread(fill, conversation, count)
        socket = await connect(alice, conversation)
        catch_up = await socket.receive_from()
        assert catch_up.count('class="bubble ') == 50  # the latest 50; the page loads earlier
        assert f"message number {count - 1} " in catch_up
        sizes[count] = len(catch_up)
        await socket.disconnect()
    assert sizes[5000] <= sizes[100] * 1.05


@pytestmark_db
async def test_every_delta_of_an_answer_reaches_both_tabs_in_order(
    alice: User, settings: Any
) -> None:
    settings.OFFLINE_TOKEN_DELAY = 0.005
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    tabs = [await connect(alice, conversation) for _ in range(2)]
    for tab in tabs:
        await tab.receive_from()
    await tabs[0].send_to(text_data=frame("What is the tax on 250,000 euros?"))
    await receive_until(tabs[0], is_appended)
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    seen = [await receive_until(tab, is_finished_bubble(answer.pk)) for tab in tabs]
    stored = await Message.objects.aget(pk=answer.pk)
    for frames in seen:
        seqs = [delta["seq"] for delta in delta_frames(frames, answer.pk)]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert streamed_text(frames, answer.pk) == stored.text
        assert f'data-seq="{seqs[-1] + 1}"' in frames[-1]  # the end is the next number
    for tab in tabs:
        await tab.disconnect()


@pytest.mark.parametrize(
    "deltas",
    [
        ["First paragraph.\n\n", "Second ", "paragraph."],  # the break ends a delta
        ["First paragraph.\n", "\nSecond ", "paragraph."],  # the break split across two
        ["First paragraph.", "\n\nSecond ", "paragraph."],  # the break opens a delta
    ],
)
@pytestmark_db
async def test_a_new_paragraph_never_runs_on_from_the_last_while_streaming(
    alice: User, settings: Any, deltas: list[str]
) -> None:
    """Between two renders a push carries plain text, which the page appends to its last
    block: a new paragraph's first words once showed glued to the previous one."""
    settings.CHAT_PUSH_SECONDS = 0  # every delta its own push
    settings.CHAT_RENDER_SECONDS = 3600  # renders only where a paragraph begins
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    started = await asyncio.to_thread(
        turns.turn_start, conversation=conversation, text="question", engine=OfflineEngine()
    )
    listener = RecordingListener()
    engine = ScriptedEngine([*(TextDelta(d) for d in deltas), TurnDone()])
    await turns.turn_run(message_id=started.assistant_message.pk, listener=listener, engine=engine)
    page: dict[int, str] = {}
    for update in listener.updates:
        if update.finished or update.whole:
            continue
        if update.blocks_from < 0:  # chat.js: the text appended to the last block
            last = max(page, default=0)
            page[last] = page.get(last, "") + update.delta
        else:
            apply(page, update.blocks_from, update.blocks)
        shown = [page[i] for i in sorted(page)]
        assert not any("First" in b and "Second" in b for b in shown), shown
    assert "Second" in page[max(page)]
