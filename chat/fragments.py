"""HTML fragments sent over the WebSocket; each reuses the partial the page itself renders.

htmx's ws extension swaps every top-level element of a frame by its id (outerHTML) unless the
element names another swap, so the partials need no flag to be sent: only the transcript
(swapped inside, keeping its scroll listener) and an append name theirs, in their templates.
"""

import functools
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from django.conf import settings
from django.dispatch import receiver
from django.template.loader import render_to_string
from django.utils.autoreload import file_changed

from chat import skeletons
from chat.models import Conversation, Message, ToolCall
from taxsite.languages import in_every_language


def localized(render: Callable[[], str], only: Collection[str] | None = None) -> dict[str, Any]:
    """The fields of a group message carrying HTML in every language (i18n), or in those of
    `only` (the readers'): each socket sends its reader's (`localized[language]`); `html` is
    the site's default language when rendered, else any."""
    rendered = in_every_language(render, only)
    default = rendered.get(settings.LANGUAGE_CODE) or next(iter(rendered.values()), "")
    return {"html": default, "localized": rendered}


def message_bubble(message: Message, tool_calls: Sequence[ToolCall], seq: int = 0) -> str:
    """One bubble; `seq` is the number of the answer's last push it includes."""
    return render_to_string(
        "chat/_message.html", {"message": message, "tool_calls": tool_calls, "seq": seq}
    )


def messages_appended(messages: Iterable[tuple[Message, Sequence[ToolCall]]]) -> str:
    return render_to_string("chat/_messages_appended.html", {"appended": list(messages)})


def messages_replaced(messages: Iterable[Message], *, has_earlier: bool = False) -> str:
    """The transcript (or its latest page, then `has_earlier` offers "Load earlier");
    `messages` must have their tool calls prefetched."""
    return render_to_string(
        "chat/_messages.html",
        {"transcript": messages, "has_earlier": has_earlier},
    )


def alert(text: str) -> str:
    if not text:
        return _alert_cleared()
    return render_to_string("chat/_alert.html", {"alert": text})


@functools.cache
def _alert_cleared() -> str:
    """The alert area emptied: every started turn's frame carries it, and it never changes
    (the same in every language)."""
    return render_to_string("chat/_alert.html", {"alert": ""})


@receiver(file_changed)
def _forget_cleared_alert(**kwargs: Any) -> None:
    """A template edited under the development server is used without a restart."""
    _alert_cleared.cache_clear()


def composer(text: str = "") -> str:
    return render_to_string("chat/_composer_input.html", {"text": text})


def conversation_titled(conversation: Conversation, *, was_listed: bool) -> str:
    """The page title, and the conversation at the top of the list's Today (moved there if it
    was listed already): one item, however many conversations the person has."""
    return render_to_string(
        "chat/_conversation_titled.html", {"current": conversation, "was_listed": was_listed}
    )


def turn_started(
    question: Message, answer: Message, titled: Conversation | None, *, was_listed: bool
) -> str:
    """The frame of a started turn: the question's and the answer's bubbles, appended, and the
    conversation's new title when `titled` (see conversation_titled).

    Hundreds of these can be asked for within a second: each is filled into a skeleton of the
    same templates (chat/skeletons.py) rather than rendered in full."""
    objects: dict[str, Message | Conversation] = {"question": question, "answer": answer}
    holes: dict[str, skeletons.Holes] = {"question": _MESSAGE_HOLES, "answer": _MESSAGE_HOLES}
    if titled is not None:
        objects["titled"] = titled
        holes["titled"] = _CONVERSATION_HOLES

    def template(objects: Mapping[str, Any]) -> str:
        html = messages_appended([(objects["question"], []), (objects["answer"], [])])
        if "titled" in objects:
            html += conversation_titled(objects["titled"], was_listed=was_listed)
        return html

    return skeletons.render(
        "turn_started", template, objects, holes, shape=(titled is not None, was_listed)
    )


_MESSAGE_HOLES = {
    "pk": skeletons.Hole.NUMBER,
    "text": skeletons.Hole.TEXT,
    "created_at": skeletons.Hole.TIME,
}
_CONVERSATION_HOLES = {
    "pk": skeletons.Hole.NUMBER,
    "title": skeletons.Hole.TEXT,
    "updated_at": skeletons.Hole.TIME,
}


# --- features: a new version takes the place of the bubbles it replaces --------------------------


def messages_versioned(replaced_ids: Sequence[int], new_messages: Sequence[Message]) -> str:
    """The new bubbles, each swapped in for the one it replaces (the earlier version stays in
    the database; the page pages to it). New bubbles beyond the replaced ones are appended."""
    html = "".join(
        render_to_string(
            "chat/_message.html", {"message": new, "tool_calls": [], "replaces": old_id}
        )
        for old_id, new in zip(replaced_ids, new_messages, strict=False)
    )
    extra = new_messages[len(replaced_ids) :]
    if extra:
        html += messages_appended((m, []) for m in extra)
    return html
