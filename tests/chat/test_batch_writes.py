"""Rows written together with their shared values sent once are the rows `save()` and
`update()` would write (on PostgreSQL, one INSERT ... SELECT FROM unnest / UPDATE ... FROM
unnest; elsewhere bulk_create / CASE WHEN)."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from chat.batch_writes import insert_alike, update_each
from chat.models import Conversation, Message

pytestmark = pytest.mark.django_db

COMPARED = [
    f.attname
    for f in Message._meta.concrete_fields
    if f.attname not in {"id", "created_at", "updated_at"}
]


def test_each_row_is_what_save_writes_with_its_own_values_in_order(alice: User) -> None:
    first, second, third, fourth = (Conversation.objects.create(owner=alice) for _ in range(4))
    lease = timezone.now() + timedelta(seconds=30)
    template = dict(role=Message.Role.ASSISTANT, status=Message.Status.STREAMING)
    before = timezone.now()

    inserted = insert_alike(
        Message(**template, lease_expires_at=lease),
        {
            "conversation_id": [second.pk, first.pk, third.pk],
            "text": ["b", "a", 'it\'s "quoted"; DROP TABLE x; -- é€'],
            "usage": [{"n": 1}, {}, {"n": 3}],
        },
    )
    saved = Message(conversation=fourth, **template, lease_expires_at=lease, text="a", usage={})
    saved.save()

    assert [m.pk for m in inserted] == sorted(m.pk for m in inserted)  # inserted in order
    stored = {m.pk: m for m in Message.objects.filter(pk__in=[m.pk for m in inserted])}
    assert [(stored[m.pk].conversation_id, stored[m.pk].text) for m in inserted] == [
        (second.pk, "b"),
        (first.pk, "a"),
        (third.pk, 'it\'s "quoted"; DROP TABLE x; -- é€'),
    ]
    assert [stored[m.pk].usage for m in inserted] == [{"n": 1}, {}, {"n": 3}]
    reference = Message.objects.get(pk=saved.pk)
    middle = stored[inserted[1].pk]
    same = [n for n in COMPARED if n != "conversation_id"]
    assert {n: getattr(middle, n) for n in same} == {n: getattr(reference, n) for n in same}
    assert before <= middle.created_at <= reference.created_at
    assert middle.updated_at >= before
    # The instances returned are the stored rows, saved, each with its own JSON values.
    for instance in inserted:
        assert instance._state.adding is False
        assert {n: getattr(instance, n) for n in COMPARED} == {
            n: getattr(stored[instance.pk], n) for n in COMPARED
        }
    inserted[1].unverified_figures.append("x")
    assert inserted[0].unverified_figures == []


def test_no_rows_inserts_nothing(alice: User) -> None:
    assert insert_alike(Message(role=Message.Role.USER), {"conversation_id": [], "text": []}) == []
    assert not Message.objects.exists()


def test_each_row_updated_with_its_own_values_and_the_shared_ones(alice: User) -> None:
    kept, titled, scoped, untouched = (
        Conversation.objects.create(owner=alice, title=f"was {i}") for i in range(4)
    )
    # Changed in the database after it was loaded: a row that leaves the title out keeps this.
    Conversation.objects.filter(pk=kept.pk).update(title="renamed meanwhile")
    moment = timezone.now() + timedelta(days=1)

    update_each(
        Conversation,
        {
            kept.pk: {"thread_scope": "responses"},
            titled.pk: {"title": 'it\'s "quoted"; DROP TABLE x; -- é€'},
            scoped.pk: {"title": "", "thread_scope": "assistants"},
        },
        {"updated_at": moment},
    )

    stored = {c.pk: c for c in Conversation.objects.all()}
    assert [
        (stored[c.pk].title, stored[c.pk].thread_scope) for c in (kept, titled, scoped, untouched)
    ] == [
        ("renamed meanwhile", "responses"),
        ('it\'s "quoted"; DROP TABLE x; -- é€', untouched.thread_scope),
        ("", "assistants"),
        ("was 3", untouched.thread_scope),
    ]
    assert [stored[c.pk].updated_at for c in (kept, titled, scoped)] == [moment] * 3
    assert stored[untouched.pk].updated_at < moment


def test_a_value_may_be_null_and_a_time_is_stored_as_given(alice: User) -> None:
    conversation = Conversation.objects.create(owner=alice)
    lease = timezone.now() + timedelta(seconds=30)
    leased, freed = (
        Message.objects.create(conversation=conversation, role=Message.Role.ASSISTANT, text=t)
        for t in ("leased", "freed")
    )
    Message.objects.filter(pk=freed.pk).update(lease_expires_at=lease)

    update_each(
        Message, {leased.pk: {"lease_expires_at": lease}, freed.pk: {"lease_expires_at": None}}
    )

    stored = {m.pk: m.lease_expires_at for m in Message.objects.all()}
    assert stored == {leased.pk: lease, freed.pk: None}


def test_no_changes_updates_nothing(alice: User) -> None:
    conversation = Conversation.objects.create(owner=alice, title="as it was")
    update_each(Conversation, {}, {"title": "not this"})
    conversation.refresh_from_db()
    assert conversation.title == "as it was"


def test_only_rows_that_match_where_are_updated_and_counted(alice: User) -> None:
    conversation = Conversation.objects.create(owner=alice)
    streaming, ended = (
        Message.objects.create(
            conversation=conversation, role=Message.Role.ASSISTANT, status=status, text="before"
        )
        for status in (Message.Status.STREAMING, Message.Status.COMPLETE)
    )

    updated = update_each(
        Message,
        {streaming.pk: {"text": "after"}, ended.pk: {"text": "after"}},
        where={"status": Message.Status.STREAMING},
    )

    assert updated == 1
    assert dict(Message.objects.values_list("pk", "text")) == {
        streaming.pk: "after",
        ended.pk: "before",
    }
