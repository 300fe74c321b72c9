"""Every recorded provider stream in tests/data/openai-wire/recorded, replayed byte for byte
through the real openai SDK and our engines, checked against what the capture itself says."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from chat.models import ToolCall
from chat.turns import PARAGRAPH_BREAK
from tests.chat.engines.oracle import Reply, api_of, read_reply
from tests.fake_openai import WIRE, Capture, FakeOpenAI, load_capture
from tests.helpers.turns import ask

pytestmark = pytest.mark.django_db(transaction=True)

RECORDED = WIRE / "recorded"
CAPTURES = sorted(
    str(path.relative_to(WIRE))
    for path in RECORDED.rglob("*")
    if path.is_file() and path.suffix != ".md"
)
SOURCES = (RECORDED / "SOURCES.md").read_text()


def _git_blob_sha(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 - git's id


def test_the_corpus_is_large_and_varied() -> None:
    rows = [line for line in SOURCES.splitlines() if line.startswith("| `")]
    providers = {row.split("|")[4].strip() for row in rows}
    assert len(CAPTURES) >= 20
    assert len(providers) >= 10, providers


@pytest.mark.parametrize("capture", CAPTURES)
def test_every_capture_is_an_exact_copy_with_its_source(capture: str) -> None:
    """SOURCES.md names the repository, path, commit and git blob id of each file; the bytes
    we keep hash to that blob id, so they are the recorded bytes, unchanged."""
    name = capture.removeprefix("recorded/")
    row = next((line for line in SOURCES.splitlines() if line.startswith(f"| `{name}`")), None)
    assert row is not None, f"no SOURCES.md row for {name}"
    blob = re.search(r"\b[0-9a-f]{40}\b", row.split("|")[-2])
    assert blob is not None, row
    assert _git_blob_sha(WIRE / capture) == blob.group()


def _expected_text(rounds: list[Reply]) -> str:
    """The turn's text: each response's answer, a paragraph apart after a tool call."""
    text = ""
    for reply in rounds:
        if not reply.answer:
            continue
        piece = reply.answer
        if text and not text.endswith(PARAGRAPH_BREAK):
            piece = PARAGRAPH_BREAK + piece.lstrip("\n")
        text += piece
    return text


def _squash(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize("capture", CAPTURES)
async def test_recorded_stream_gives_the_captured_answer(
    alice: User, fake_openai: FakeOpenAI, settings: Any, capture: str
) -> None:
    replies = load_capture(capture)
    api = api_of(replies[0])
    settings.ASSISTANT_ENGINE = api
    settings.OPENAI_STATE_MODE = "stateless"
    settings.OPENAI_MAX_RETRIES = 0
    fake_openai.script(*Capture.all(capture))

    answer = await ask(alice, "hello")

    # The rounds the turn consumed: up to the first reply without calls, or with an error.
    rounds: list[Reply] = []
    for reply in replies:
        rounds.append(read_reply(reply))
        if rounds[-1].error or not rounds[-1].call_ids:
            break
    last = rounds[-1]
    fell_back = bool(last.call_ids) and not last.error  # the fake's own answer came after
    receipts = [c async for c in ToolCall.objects.filter(message=answer).order_by("pk")]
    assert [r.call_id for r in receipts] == [i for r in rounds for i in r.call_ids]

    if last.error:
        assert answer.status == ("interrupted" if _expected_text(rounds) else "error")
        assert answer.status_notice.startswith("The AI provider reported an error")
    else:
        assert (answer.status, answer.status_notice) == ("complete", "")
    if fell_back:
        assert answer.text.startswith(_expected_text(rounds))
        assert "Unknown tool" in answer.text  # the fake answered the error outputs
    else:
        assert answer.text == _expected_text(rounds)
    assert "<think>" not in answer.text
    assert _squash(answer.reasoning) == _squash("".join(r.reasoning for r in rounds))
    assert not answer.reasoning or answer.reasoning not in answer.text

    usage_in = sum(r.input_tokens for r in rounds) + (
        {"chat": 40, "responses": 50}[api] if fell_back else 0
    )
    assert answer.usage.get("input_tokens", 0) == usage_in
    assert answer.usage.get("output_tokens", 0) >= sum(r.output_tokens for r in rounds)
    if not fell_back:
        assert answer.usage.get("output_tokens", 0) == sum(r.output_tokens for r in rounds)

    # Every call answered exactly once, by an id the request holds only once.
    sent = (
        fake_openai.requests_to("/chat/completions")
        if api == "chat"
        else fake_openai.requests_to("/responses")
    )
    assert len(sent) == len(rounds) + (1 if fell_back else 0)
    for request in sent[1:]:
        body = request.body
        if api == "chat":
            calls = [c["id"] for m in body["messages"] for c in m.get("tool_calls") or []]
            outputs = [m["tool_call_id"] for m in body["messages"] if m["role"] == "tool"]
        else:
            calls = [i["call_id"] for i in body["input"] if i.get("type") == "function_call"]
            outputs = [
                i["call_id"] for i in body["input"] if i.get("type") == "function_call_output"
            ]
        assert sorted(calls) == sorted(outputs)
        assert len(set(calls)) == len(calls)


async def test_reused_call_ids_across_turns_stay_distinct_in_stateless_history(
    alice: User, fake_openai: FakeOpenAI, settings: Any
) -> None:
    """AWS Bedrock numbers calls per response (call_0, call_1 in every turn): the stored
    receipts keep those ids, the replayed history gets ids that cannot collide."""
    capture = "recorded/pydantic-ai/test_bedrock_mantle--test_reused_tool_call_ids-stream.yaml"
    settings.ASSISTANT_ENGINE = "responses"
    settings.OPENAI_STATE_MODE = "stateless"
    fake_openai.script(*Capture.all(capture))
    first = await ask(alice, "hello")
    fake_openai.script(*Capture.all(capture))
    second = await ask(alice, "again", first.conversation)
    assert (first.status, second.status) == ("complete", "complete")
    provider_ids = [c.call_id async for c in ToolCall.objects.order_by("pk")]
    assert provider_ids == ["call_0", "call_1", "call_0", "call_1"]  # as the provider sent them
    last = fake_openai.requests_to("/responses")[-1].body["input"]
    calls = [i["call_id"] for i in last if i["type"] == "function_call"]
    outputs = [i["call_id"] for i in last if i["type"] == "function_call_output"]
    assert len(calls) == 4
    assert len(set(calls)) == 4  # no id twice
    assert calls == outputs  # each call followed by its own output


def test_the_standalone_fake_serves_a_capture_unchanged() -> None:
    """`python -m tests.fake_openai --capture FILE` (what `make fake-openai` runs, plus a file)."""
    import subprocess
    import sys
    import urllib.request

    capture = "recorded/pydantic-ai/test_snowflake--test_snowflake_model_streaming.yaml"
    root = Path(__file__).resolve().parents[3]
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_openai", "--port", "0", "--capture", capture],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = re.search(r"http://\S+/v1", server.stdout.readline())
        assert url is not None
        request = urllib.request.Request(  # noqa: S310 - a local URL we just printed
            f"{url.group()}/chat/completions",
            data=b'{"model": "m", "stream": true}',
            headers={"authorization": "Bearer sk-x", "content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
            assert reply.read() == load_capture(capture)[0].body
    finally:
        server.terminate()
        server.wait(timeout=10)
