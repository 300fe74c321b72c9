"""The frame of a started turn is filled into a skeleton of the templates (chat/skeletons.py):
it must be exactly what the templates render, whatever the words, title, time, language and
zone; a template the skeleton cannot follow is rendered in full."""

import itertools
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.template import Context, Template
from django.test.signals import template_rendered
from django.urls import set_script_prefix
from django.utils import timezone, translation

from chat import fragments, skeletons
from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db

WORDS = [
    "How much tax on €1.2M of revenue?",
    "<script>alert('x')</script> & \"quoted\" <b>bold</b>",
    "line one\n\nline two\n",
    "{{ message.pk }} {% now 'Y' %} %s {0}",  # template syntax in the words is only text
    "ما هي الضريبة على ٣ ملايين؟",
    "970001001 2003-01-03T05:07:11",  # looks like the stand-ins
    "\ue000stand-in-1\ue001",
    "word " * 1500,
]
TIMES = [
    datetime(2026, 11, 25, 23, 59, 59, 999_999, tzinfo=UTC),  # another day in Europe/Paris
    datetime(2026, 3, 29, 1, 0, 0, 1, tzinfo=UTC),  # Paris moves its clocks
    datetime(2027, 1, 1, 0, 0, 0, tzinfo=UTC),
]
_serial = itertools.count(1)


def _turn(
    owner: User, words: str, when: datetime, *, title: str
) -> tuple[Conversation, Message, Message]:
    conversation = Conversation.objects.create(owner=owner, title=title)
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=when)
    conversation.refresh_from_db()
    question = Message.objects.create(conversation=conversation, role="user", text=words)
    answer = Message.objects.create(
        conversation=conversation, role="assistant", status="streaming", turn_owner="proc-1"
    )
    Message.objects.filter(pk__in=[question.pk, answer.pk]).update(created_at=when)
    question.refresh_from_db()
    answer.refresh_from_db()
    return conversation, question, answer


def _in_full(
    conversation: Conversation,
    question: Message,
    answer: Message,
    *,
    titled: bool,
    was_listed: bool,
) -> str:
    html = fragments.messages_appended([(question, []), (answer, [])])
    if titled:
        html += fragments.conversation_titled(conversation, was_listed=was_listed)
    return html


def _filled(
    conversation: Conversation,
    question: Message,
    answer: Message,
    *,
    titled: bool,
    was_listed: bool,
) -> str:
    return fragments.turn_started(
        question, answer, conversation if titled else None, was_listed=was_listed
    )


@pytest.fixture
def templates_rendered() -> Iterator[list[str]]:
    names: list[str] = []

    def record(sender: Any, template: Any, **kwargs: Any) -> None:
        names.append(template.name)

    template_rendered.connect(record)
    yield names
    template_rendered.disconnect(record)


@pytest.mark.parametrize("language", ["en", "fr", "ko"])
@pytest.mark.parametrize("zone", ["Europe/Paris", "Asia/Kathmandu", "America/St_Johns"])
def test_a_started_turn_is_sent_exactly_as_the_templates_render_it(
    alice: User, language: str, zone: str
) -> None:
    with translation.override(language), timezone.override(zone):
        for words, when, (titled, was_listed) in zip(
            WORDS,
            itertools.cycle(TIMES),
            itertools.cycle([(True, False), (False, False), (True, True)]),
            strict=False,
        ):
            title = f"{words[:100]} #{next(_serial)}"
            turn = _turn(alice, words, when, title=title)
            assert _filled(*turn, titled=titled, was_listed=was_listed) == _in_full(
                *turn, titled=titled, was_listed=was_listed
            )


def test_after_the_first_turn_the_frame_is_filled_without_the_template_engine(
    alice: User, templates_rendered: list[str]
) -> None:
    first = _turn(alice, "first", TIMES[0], title="First")
    _filled(*first, titled=True, was_listed=False)
    second = _turn(alice, "second <question>", TIMES[1], title="Second & last")
    templates_rendered.clear()

    html = _filled(*second, titled=True, was_listed=False)

    assert templates_rendered == []
    assert html == _in_full(*second, titled=True, was_listed=False)
    assert "second &lt;question&gt;" in html
    assert "Second &amp; last" in html
    assert f'id="message-{second[1].pk}"' in html
    assert f'id="message-{second[2].pk}"' in html


def _one(name: str, source: str, message: Message) -> str:
    template = Template(source)

    def render(objects: Mapping[str, Any]) -> str:
        return template.render(Context({"m": objects["m"]}))

    return skeletons.render(name, render, {"m": message}, {"m": fragments._MESSAGE_HOLES})


@pytest.mark.parametrize(
    ("case", "source"),
    [
        ("transforms its words", "<p>{{ m.text|upper }}</p>{{ m.pk }}"),
        ("cuts its words", "<p>{{ m.text|truncatechars:12 }}</p>"),
        ("does arithmetic on an id", "{{ m.pk|add:1 }}"),
        ("prints its words unescaped", "{% autoescape off %}{{ m.text }}{% endautoescape %}"),
        ("reads a related object", "{{ m.conversation.title }} {{ m.text }}"),
        ("calls a method", "{{ m.get_role_display }} {{ m.text }}"),
        ("uses a date format it does not know", "{{ m.created_at|date:'D jS' }}"),
        ("counts its words", "{{ m.text|length }} {{ m.text }}"),
    ],
)
def test_a_template_the_skeleton_cannot_follow_is_rendered_in_full(
    alice: User, caplog: pytest.LogCaptureFixture, case: str, source: str
) -> None:
    # The first words are as long as a stand-in and plain: only the check with awkward values
    # can tell (the second words then would come out wrong from a skeleton).
    _conversation, first, _ = _turn(alice, "twelve chars", TIMES[0], title="t")
    _conversation, second, _ = _turn(alice, "a <b>longer</b> question", TIMES[1], title="t")
    name = f"test {case}"

    for message in (first, second, first):
        assert _one(name, source, message) == Template(source).render(Context({"m": message}))
    assert f"Fragment {name} is rendered in full" in caplog.text


def test_messages_the_templates_treat_differently_get_their_own_skeleton(alice: User) -> None:
    source = (
        "{% if m.status == 'streaming' %}<i>typing</i>{% else %}{{ m.text }}{% endif %}"
        " {{ m.pk }} {{ m.created_at|time:'H:i' }} {{ m.status_notice|default:'-' }}"
    )
    _c, question, answer = _turn(alice, "a question", TIMES[0], title="t")
    _c, other_question, other_answer = _turn(alice, "other", TIMES[1], title="t")
    Message.objects.filter(pk=other_answer.pk).update(status="error", status_notice="Timed out")
    other_answer.refresh_from_db()

    for message in (question, answer, other_question, other_answer, answer):
        expected = Template(source).render(Context({"m": message}))
        assert _one("test shapes", source, message) == expected


def test_a_skeleton_follows_the_url_prefix_and_changed_settings(alice: User, settings: Any) -> None:
    first = _turn(alice, "first", TIMES[0], title="First")
    assert _filled(*first, titled=True, was_listed=False) == _in_full(
        *first, titled=True, was_listed=False
    )
    second = _turn(alice, "second", TIMES[1], title="Second")
    try:
        set_script_prefix("/taxes/")  # served under a path prefix: every link moves
        html = _filled(*second, titled=True, was_listed=False)
        assert html == _in_full(*second, titled=True, was_listed=False)
        assert 'href="/taxes/' in html
    finally:
        set_script_prefix("/")
    # A setting that changes how ids print (in tests, override_settings): no stale skeleton.
    settings.USE_THOUSAND_SEPARATOR = True
    third = _turn(alice, "third", TIMES[2], title="Third")
    Message.objects.filter(pk=third[1].pk).update(id=1_234_567)
    question = Message.objects.get(pk=1_234_567)
    assert _filled(third[0], question, third[2], titled=False, was_listed=False) == _in_full(
        third[0], question, third[2], titled=False, was_listed=False
    )


def test_a_method_read_inside_an_if_is_rendered_in_full(
    alice: User, caplog: pytest.LogCaptureFixture
) -> None:
    """`{% if %}` swallows its operands' errors: the refusal must not be lost with them."""
    source = "{% if m.get_status_display == 'Complete' %}done{% else %}busy{% endif %} {{ m.pk }}"
    _c, question, answer = _turn(alice, "a question", TIMES[0], title="t")
    answer.text = "first words"  # both with words: the same holes, the same skeleton key

    for message in (answer, question):  # streaming first: its branch is the one an error takes
        assert _one("test method in if", source, message) == Template(source).render(
            Context({"m": message})
        )
    assert "Fragment test method in if is rendered in full" in caplog.text


def test_a_shape_that_cannot_have_a_skeleton_leaves_the_others_theirs(
    alice: User, caplog: pytest.LogCaptureFixture, templates_rendered: list[str]
) -> None:
    source = (
        "{% if m.status == 'streaming' %}{{ m.text }}{% else %}{{ m.text|upper }}{% endif %}"
        " {{ m.pk }}"
    )
    _c, question, answer = _turn(alice, "a question", TIMES[0], title="t")
    answer.text = "first words"  # both with words: the same holes, the same skeleton key

    for message in (answer, question, answer):  # the question's branch cannot be followed
        assert _one("test one shape fails", source, message) == Template(source).render(
            Context({"m": message})
        )
    assert "Fragment test one shape fails is rendered in full" in caplog.text
    templates_rendered.clear()
    assert _one("test one shape fails", source, answer) == f"first words {answer.pk}"
    assert templates_rendered == []  # the streaming answer's skeleton still serves it
