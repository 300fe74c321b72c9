"""Reasoning kept apart from the answer: split off inline, shown collapsed, never as answer."""

from __future__ import annotations

import asyncio
import itertools
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from hypothesis import given
from hypothesis import strategies as st

from chat import fragments, services
from chat.engines.base import ReasoningDelta, TextDelta
from chat.engines.reasoning import ThinkSplitter, part_texts
from chat.models import Message
from tests.fake_openai import FakeOpenAI, Text
from tests.helpers.sockets import (
    ORIGIN,
    frame,
    is_appended,
    receive_until,
    session_cookie,
    socket_for,
)
from tests.helpers.turns import RecordingListener, ask

pytestmark = pytest.mark.django_db(transaction=True)


def split(pieces: list[str]) -> tuple[str, str]:
    splitter = ThinkSplitter()
    events = [e for p in pieces for e in splitter.feed(p)] + list(splitter.flush())
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    return text, reasoning


def cut(text: str, points: list[int]) -> list[str]:
    edges = sorted({0, len(text), *(p % (len(text) + 1) for p in points)})
    return [text[a:b] for a, b in itertools.pairwise(edges)]


@given(
    thought=st.text(alphabet=st.characters(blacklist_characters="<"), max_size=40),
    answer=st.text(min_size=1, max_size=40).filter(lambda t: t.strip() != ""),
    points=st.lists(st.integers(min_value=0, max_value=200), max_size=12),
)
def test_a_think_block_splits_the_same_however_the_deltas_are_cut(
    thought: str, answer: str, points: list[int]
) -> None:
    whole = f"  <think>{thought}</think>\n\n{answer}"
    assert split(cut(whole, points)) == (answer.lstrip(), thought)


@given(
    text=st.text(max_size=60).filter(lambda t: not t.lstrip().startswith("<think>")),
    points=st.lists(st.integers(min_value=0, max_value=200), max_size=12),
)
def test_text_without_a_leading_think_block_is_all_answer(text: str, points: list[int]) -> None:
    whole_text, reasoning = split(cut(text, points))
    assert reasoning == ""
    # Only a text that is a prefix of "<think>" all along is held back, and given back at the end.
    assert whole_text == text or (whole_text == "" and text.strip() == "")


def test_an_unclosed_think_block_is_all_reasoning() -> None:
    assert split(["<think>still thinking", " when the stream ended"]) == (
        "",
        "still thinking when the stream ended",
    )


def test_a_think_tag_later_in_the_answer_is_answer_text() -> None:
    assert split(["Use <think> tags.", " Done"]) == ("Use <think> tags. Done", "")


def test_typed_parts() -> None:
    parts = [
        {"type": "thinking", "thinking": [{"type": "text", "text": "a"}]},
        {"type": "reasoning", "text": "b"},
        {"type": "text", "text": "c"},
        {"type": "image_url", "image_url": {"url": "x"}},
        "d",
    ]
    assert list(part_texts(parts)) == [
        ("reasoning", "a"),
        ("reasoning", "b"),
        ("text", "c"),
        ("text", "d"),
    ]


def _bubble(**fields: Any) -> str:
    message = Message(pk=1, role=Message.Role.ASSISTANT, engine="chat", **fields)
    return fragments.message_bubble(message, [])


def test_reasoning_shows_collapsed_and_sanitized_after_the_answer() -> None:
    html = _bubble(
        status=Message.Status.COMPLETE,
        text="The answer.",
        reasoning='First **think**. <script>alert(1)</script><img src=x onerror="alert(2)">',
    )
    details = re.search(r"<details class=\"reasoning\">(.*?)</details>", html, re.S)
    assert details is not None  # collapsed: no `open`
    assert "<summary>Reasoning</summary>" in details.group(1)
    assert "<strong>think</strong>" in details.group(1)  # rendered like the answer...
    assert "<script" not in html  # ...and sanitized like it
    assert "<img" not in html  # shown as text, never as an element
    answer = re.search(r'<div class="markdown">(.*?)</div>', html.split("</details>")[1], re.S)
    assert answer is not None
    assert "think" not in answer.group(1)  # the answer is only the answer


def test_reasoning_streams_as_escaped_text_into_an_open_section() -> None:
    thinking = _bubble(status=Message.Status.STREAMING, text="", reasoning="a < b <b>bold</b>")
    assert '<details class="reasoning" open>' in thinking
    # The target streaming deltas append to (as text nodes), escaped in the snapshot too.
    assert "data-reasoning-text>a &lt; b &lt;b&gt;bold&lt;/b&gt;</div>" in thinking
    # Before any reasoning the target is there, empty (hidden by CSS until text arrives).
    assert "data-reasoning-text></div>" in _bubble(status=Message.Status.STREAMING, text="")
    assert "<details" not in _bubble(status=Message.Status.COMPLETE, text="x")
    assert "<details" not in fragments.message_bubble(
        Message(pk=2, role=Message.Role.USER, text="hi"), []
    )


async def test_reasoning_reaches_the_page_while_it_streams(
    alice: User, fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.ASSISTANT_ENGINE = "chat"
    fake_openai.token_delay = 0.02
    fake_openai.script(Text("Done.", reasoning=" ".join(f"step{i}" for i in range(40))))
    listener = RecordingListener()
    answer = await ask(alice, "hello", listener=listener)
    assert answer.reasoning.startswith("step0 step1")
    # Pushed before the answer began: some update carried reasoning and no text yet.
    assert any(reasoning and not text for text, reasoning in listener.seen)


async def test_reasoning_section_over_the_socket(
    alice: User, fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.ASSISTANT_ENGINE = "chat"
    fake_openai.token_delay = 0.02
    fake_openai.script(Text("Done.", reasoning="I weigh <b>it</b>."))
    conversation = await asyncio.to_thread(services.conversation_get_or_create_empty, owner=alice)
    cookie = await asyncio.to_thread(session_cookie, alice)
    socket = socket_for(f"/ws/conversations/{conversation.pk}/", [ORIGIN, cookie])
    assert (await socket.connect())[0]
    await socket.receive_from()
    await socket.send_to(text_data=frame("hello"))
    await receive_until(socket, is_appended)
    frames = await receive_until(socket, lambda f: "bubble-meta" in f, timeout=15)
    await socket.disconnect()
    final = frames[-1]
    assert '<details class="reasoning">' in final
    assert "I weigh it." in final or "I weigh &lt;b&gt;it&lt;/b&gt;." in final
    assert "<b>it</b>" not in final
