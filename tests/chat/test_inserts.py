"""Rows inserted together with their shared values sent once are the rows `save()` would write
(on PostgreSQL, one INSERT ... SELECT FROM unnest; elsewhere bulk_create)."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from chat.inserts import insert_alike
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
