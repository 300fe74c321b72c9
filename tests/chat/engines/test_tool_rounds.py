"""The tool-round loop the OpenAI engines share: caps, one output per call, ids that never
collide, and a provider left consistent when a turn ends with calls unanswered."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from chat.engines.base import PastMessage, PastToolCall
from chat.engines.errors import _wait_phrase
from chat.engines.rounds import CallIds, ToolCallRequest
from chat.models import Conversation, ToolCall
from tests.fake_openai import FakeOpenAI, Status, ToolCalls
from tests.helpers.adapters import Adapter
from tests.helpers.turns import ask

pytestmark = pytest.mark.django_db(transaction=True)

TAX = ("calculate_tax", '{"revenue": "1000"}')


async def test_too_many_calls_at_once_end_the_turn_without_a_follow_up(
    alice: User, fake_openai: FakeOpenAI, settings: Any, adapter: Adapter
) -> None:
    settings.ASSISTANT_MAX_TOOL_CALLS_PER_TURN = 8
    fake_openai.script(ToolCalls([TAX] * 300))
    answer = await ask(alice, "hello")
    assert answer.status == "error"
    assert "asked for 300 tool calls at once (the limit is 8)" in answer.status_notice
    assert len(adapter.generations(fake_openai)) == 1  # no request carrying 300 outputs
    assert not await ToolCall.objects.filter(message=answer).aexists()


async def test_each_round_cap_forces_an_answer_and_every_call_gets_one_output(
    alice: User, fake_openai: FakeOpenAI, settings: Any, adapter: Adapter
) -> None:
    settings.ASSISTANT_MAX_TOOL_ROUNDS = 3
    fake_openai.script(*[ToolCalls([TAX, TAX])] * 3)
    answer = await ask(alice, "hello")
    sent = adapter.generations(fake_openai)
    receipts = [c.call_id async for c in ToolCall.objects.filter(message=answer).order_by("pk")]
    assert len(receipts) == 6
    outputs = [i for request in sent for i in adapter.outputs_sent(request.body)]
    if adapter.resends_history:  # each request repeats the earlier outputs: count the last
        outputs = adapter.outputs_sent(sent[-1].body)
    assert sorted(outputs) == sorted(receipts)
    assert len(set(outputs)) == len(outputs)
    if adapter.can_force_answer:
        assert len(sent) == 4
        assert [adapter.forced_answer(r.body) for r in sent] == [False, False, False, True]
        assert answer.status == "complete"


async def test_provider_call_ids_reused_within_a_turn_never_collide(
    alice: User, fake_openai: FakeOpenAI, settings: Any
) -> None:
    """Servers that number calls per response send call_0 in every round."""
    settings.ASSISTANT_ENGINE = "chat"
    fake_openai.script(
        ToolCalls([TAX], ids=["call_0"]),
        ToolCalls([("calculate_tax", '{"revenue": "20000"}')], ids=["call_0"]),
    )
    answer = await ask(alice, "hello")
    assert answer.status == "complete"
    assert [c.call_id async for c in ToolCall.objects.order_by("pk")] == ["call_0", "call_0"]
    messages = fake_openai.requests_to("/chat/completions")[-1].body["messages"]
    calls = [c["id"] for m in messages for c in m.get("tool_calls") or []]
    outputs = [m["tool_call_id"] for m in messages if m["role"] == "tool"]
    assert calls == outputs
    assert len(set(calls)) == 2
    replies = [m["content"] for m in messages if m["role"] == "tool"]
    assert json.loads(replies[0])["revenue"] == "1000.00"  # each output with its own call
    assert json.loads(replies[1])["revenue"] == "20000.00"


async def test_chat_history_replays_reused_ids_under_distinct_ids(
    alice: User, fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.ASSISTANT_ENGINE = "chat"
    fake_openai.script(ToolCalls([TAX], ids=["call_0"]))
    first = await ask(alice, "hello")
    fake_openai.script(ToolCalls([TAX], ids=["call_0"]))
    await ask(alice, "again", first.conversation)
    messages = fake_openai.requests_to("/chat/completions")[-1].body["messages"]
    calls = [c["id"] for m in messages for c in m.get("tool_calls") or []]
    outputs = [m["tool_call_id"] for m in messages if m["role"] == "tool"]
    assert calls == outputs
    assert len(set(calls)) == 2


def test_call_ids_avoid_the_history_and_each_other() -> None:
    history = [
        PastMessage(
            "assistant",
            "",
            (PastToolCall("call_0", "t", "{}", "x", "call_7"), PastToolCall("b", "t", "{}", "x")),
        )
    ]
    ids = CallIds(history)
    calls = [
        ToolCallRequest("call_7", "t", "{}"),
        ToolCallRequest("call_7", "t", "{}"),
        ToolCallRequest("b", "t", "{}"),
        ToolCallRequest("", "t", "{}"),
        ToolCallRequest("call_0", "t", "{}"),
    ]
    ids.assign(calls)
    wire = [c.wire_id for c in calls]
    assert len(set(wire) | {"call_7", "b"}) == len(wire) + 2  # unique, and not in the history
    assert wire[-1] == "call_0"  # the provider's id when it is free
    assert calls[3].call_id  # a call without an id gets one, for its receipt too


@pytest.mark.parametrize("mode", ["conversation", "previous_response_id"])
async def test_a_stateful_thread_left_with_unanswered_calls_is_replaced_next_turn(
    alice: User, fake_openai: FakeOpenAI, settings: Any, mode: str
) -> None:
    """The provider would refuse to continue a thread whose calls have no outputs."""
    settings.ASSISTANT_ENGINE = "responses"
    settings.OPENAI_STATE_MODE = mode
    fake_openai.script(ToolCalls([TAX] * 20))
    first = await ask(alice, "hello")
    assert first.status == "error"
    conversation = await Conversation.objects.aget(pk=first.conversation_id)
    assert conversation.provider_thread_id == ""
    await ask(alice, "tax on 85000 EUR", conversation)
    last = fake_openai.requests_to("/responses")[-2].body  # the new turn's first request
    assert "previous_response_id" not in last
    if mode == "conversation":
        assert len(fake_openai.requests_to("/conversations")) == 2


def test_a_retry_after_beyond_a_day_is_not_shown_in_minutes() -> None:
    assert _wait_phrase(1e12) == "Try again later."
    assert _wait_phrase(24 * 3600) == "Try again in 1440 min."
    assert _wait_phrase(30) == "Try again in 30 s."


async def test_a_huge_retry_after_reads_as_later(
    alice: User, fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.ASSISTANT_ENGINE = "chat"
    fake_openai.script(Status(429, headers={"retry-after": "1000000000000"}))
    answer = await ask(alice, "hello")
    assert answer.status_notice.endswith("(429). Try again later.")


def test_importing_engines_and_an_offline_turn_do_not_load_the_sdk(tmp_path: Path) -> None:
    """Importing an engine class (for its label) must not load `openai`."""
    root = Path(__file__).resolve().parents[3]
    script = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        import django
        import tests.settings
        tests.settings.DATABASES = {"default": {
            "ENGINE": "django.db.backends.sqlite3", "NAME": sys.argv[1]}}
        django.setup()
        from django.core.management import call_command
        import chat.engines
        for module in pkgutil.iter_modules(chat.engines.__path__):
            importlib.import_module(f"chat.engines.{module.name}")
        from chat.engines import engine_label
        labels = [engine_label(n) for n in ("responses", "chat", "assistants", "offline")]
        call_command("migrate", verbosity=0)
        from django.contrib.auth.models import User
        User.objects.create_user("amy", password="x y z w 1")
        call_command("ask", "tax on 85000 EUR", user="amy", engine="offline")
        assert "openai" not in sys.modules, "openai was imported"
        assert "httpx2" not in sys.modules, "httpx2 was imported"
        print("SDK NOT LOADED", labels)
        """
    )
    assert "SDK NOT LOADED" in _python(root, script, str(tmp_path / "db.sqlite3"))


def test_a_server_loads_the_sdk_before_it_serves_and_only_for_an_openai_engine() -> None:
    """Left to the first question, loading the SDK held every socket of the process for about
    half a second (benchmarks/first_question.py): daphne's process loads it at startup."""
    root = Path(__file__).resolve().parents[3]
    script = textwrap.dedent(
        """
        import sys
        import django
        django.setup()
        from django.conf import settings
        from chat.engines import prepare_default_engine
        from chat.engines.client import _tls_context
        settings.ASSISTANT_ENGINE = "offline"
        prepare_default_engine()
        assert "openai" not in sys.modules, "the offline engine loaded the SDK"
        settings.ASSISTANT_ENGINE = "chat"
        import daphne.server  # as when daphne serves: the application prepares the engine
        import taxsite.asgi
        assert "openai" in sys.modules, "the SDK was not loaded before serving"
        assert _tls_context.cache_info().currsize == 1, "the CA bundle was not loaded"
        print("PREPARED")
        """
    )
    assert "PREPARED" in _python(root, script)


def _python(root: Path, script: str, *args: str) -> str:
    """What `script` prints, run in a fresh interpreter with the test settings (it must succeed)."""
    env = {"DJANGO_SETTINGS_MODULE": "tests.settings", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout
