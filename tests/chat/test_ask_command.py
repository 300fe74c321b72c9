from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from chat.engines import client
from chat.models import Conversation, Message, ToolCall
from tests.fake_openai import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)


def test_ask_streams_the_answer_and_stores_the_turn(
    alice: User, capsys: pytest.CaptureFixture[str]
) -> None:
    out = StringIO()
    call_command("ask", "What is the tax on 85,000 euros of revenue?", user="alice", stdout=out)
    printed = capsys.readouterr().out + out.getvalue()
    assert "€14,500.00" in printed
    assert "complete" in printed
    conversation = Conversation.objects.get(owner=alice)
    assert [m.role for m in conversation.messages.all()] == ["user", "assistant"]
    assert ToolCall.objects.filter(message__conversation=conversation).count() == 1


def test_ask_continues_a_conversation(alice: User) -> None:
    call_command("ask", "tax on 85000 EUR", user="alice", stdout=StringIO())
    conversation = Conversation.objects.get(owner=alice)
    call_command(
        "ask", "and 90000 EUR?", user="alice", conversation=conversation.pk, stdout=StringIO()
    )
    assert conversation.messages.filter(role=Message.Role.USER).count() == 2


def test_ask_refuses_someone_elses_conversation(alice: User, bob: User) -> None:
    call_command("ask", "tax on 85000 EUR", user="alice", stdout=StringIO())
    conversation = Conversation.objects.get(owner=alice)
    with pytest.raises(CommandError, match="bob has no conversation"):
        call_command("ask", "peek", user="bob", conversation=conversation.pk)


def test_ask_needs_a_known_user() -> None:
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        call_command("ask", "hello", user="nobody")


def test_ask_with_an_openai_engine_closes_its_connections(
    alice: User, fake_openai: FakeOpenAI, settings: Any
) -> None:
    settings.ASSISTANT_ENGINE = "chat"
    out = StringIO()
    call_command("ask", "What is the tax on 85,000 euros of revenue?", user="alice", stdout=out)
    assert "complete" in out.getvalue()
    # Nothing left open for the interpreter to report at exit ("Unclosed client session").
    assert client._clients == {}
