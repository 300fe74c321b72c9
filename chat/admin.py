"""A read-only review of every conversation for staff."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from chat import selectors
from chat.models import Conversation, Message, ToolCall


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Staff review; nobody edits the record of what was said."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)


class MessageInline(admin.TabularInline[Message, Conversation]):
    model = Message
    fields = (
        "created_at",
        "role",
        "status",
        "engine",
        "model_name",
        "usage",
        "text",
        "error_detail",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "owner", "engine", "message_count", "created_at", "updated_at")
    list_filter = ("owner", "created_at", "engine", "messages__status")
    search_fields = ("title", "messages__text", "owner__username")
    date_hierarchy = "created_at"
    fields = (
        "owner",
        "title",
        "engine",
        "provider_thread_id",
        "created_at",
        "updated_at",
        "transcript",
    )
    readonly_fields = fields
    inlines = [MessageInline]

    class Media:
        css = {"all": ["chat/admin.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        return super().get_queryset(request).select_related("owner").distinct()

    @admin.display(description="Messages")
    def message_count(self, obj: Conversation) -> int:
        return obj.messages.count()

    @admin.display(description="Transcript")
    def transcript(self, obj: Conversation) -> SafeString:
        # Rendered with autoescaping on: model and person text is shown as text, never as HTML.
        html = render_to_string(
            "admin/chat/transcript.html",
            {"transcript": selectors.message_list(conversation=obj)},
        )
        return mark_safe(html)  # noqa: S308 - an autoescaped template


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = (
        "__str__",
        "conversation",
        "role",
        "status",
        "engine",
        "model_name",
        "created_at",
    )
    list_filter = ("role", "status", "engine", "created_at")
    search_fields = ("text", "error_detail")
    list_select_related = ("conversation",)

    @admin.display(description="Tokens in / out")
    def tokens(self, obj: Message) -> str:
        if not obj.usage:
            return "-"
        return f"{obj.usage.get('input_tokens', 0)} / {obj.usage.get('output_tokens', 0)}"


@admin.register(ToolCall)
class ToolCallAdmin(ReadOnlyAdmin):
    list_display = ("name", "call_id", "succeeded", "duration_ms", "message", "created_at")
    list_filter = ("name", "created_at")
    search_fields = ("call_id", "raw_arguments", "output", "error")
    list_select_related = ("message",)

    @admin.display(boolean=True, description="OK")
    def succeeded(self, obj: ToolCall) -> bool:
        return obj.succeeded
