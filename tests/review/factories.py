"""Conversations with answers and receipts, written straight through the ORM."""

from typing import Any

from django.contrib.auth.models import Group, User

from chat.models import Conversation, Message, ToolCall


def conversation_with(
    owner: User,
    turns: list[tuple[str, str]],
    *,
    title: str = "",
    revenue: str | None = None,
    table_version: str | None = None,
    **answer_fields: Any,
) -> Conversation:
    """A conversation of (question, answer) turns; with `revenue`, each answer has a receipt."""
    conversation = Conversation.objects.create(
        owner=owner, title=title or turns[0][0][:60], thread_scope="offline"
    )
    for question, answer in turns:
        Message.objects.create(conversation=conversation, role="user", text=question)
        message = Message.objects.create(
            conversation=conversation,
            role="assistant",
            text=answer,
            engine="offline",
            model_name="offline",
            **answer_fields,
        )
        if revenue is not None:
            result = receipt_result(revenue)
            if table_version:
                result["table_version"] = table_version
            ToolCall.objects.create(
                message=message,
                call_id=f"call-{message.pk}",
                name="calculate_tax",
                raw_arguments=f'{{"revenue": "{revenue}"}}',
                parsed_input={"revenue": revenue},
                output="...",
                result=result,
                duration_ms=1.25,
            )
    return conversation


def answers(conversation: Conversation) -> list[Message]:
    return list(conversation.messages.filter(role="assistant").order_by("pk"))


def staff_user(username: str, *, group: str | None = None, perms: tuple[str, ...] = ()) -> User:
    from django.contrib.auth.models import Permission

    user = User.objects.create_user(username, password="staff pass 123", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


def receipt_error(message: Message, raw: str = '{"revenue": "-5"}') -> ToolCall:
    return ToolCall.objects.create(
        message=message,
        call_id=f"bad-{message.pk}",
        name="calculate_tax",
        raw_arguments=raw,
        error="Revenue must not be negative.",
        output='{"error": "Revenue must not be negative."}',
        duration_ms=0.5,
    )


def receipt_result(revenue: str) -> dict[str, Any]:
    """A receipt's result as the tax tool writes it (figures for 85,000 from tax_cases.json)."""
    assert revenue == "85000", "the factory only knows the figures for 85,000"
    return {
        "revenue": "85000.00",
        "tax": "14500.00",
        "effective_rate_percent": "17.06",
        "currency": "EUR",
        "breakdown": [],
    }
