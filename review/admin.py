"""The review surface, built on Django's admin: the queue (conversation list), a review page per
conversation (transcript once, receipts beside each answer, status, assignee, notes, flags), the
receipts list, feedback, flags and the access log. Every page honours Django's model
permissions: `chat.view_conversation` to read, `review.review_conversation` to act and export.
Transcripts are read-only for everybody, superusers included."""

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.dateformat import format as date_format
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from django.views.decorators.http import require_GET, require_POST

from chat.models import Conversation, Message, ToolCall
from review import export, selectors, services
from review.forms import FlagForm, NoteForm, ReviewStateForm
from review.models import AnswerFlag, ConversationReview, Feedback, StaffAccess
from review.receipts import receipt_figures

REVIEW_PERMISSION = "review.review_conversation"

admin.site.site_header = "taxsite review"
admin.site.site_title = "taxsite review"
admin.site.index_title = "Review"
ACCESS_LOG_ON_PAGE = 25


def has_review_permission(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.has_perm(REVIEW_PERMISSION))


def conversation_label(conversation: Conversation) -> str:
    """A deleted conversation is named by number only: its title was the person's words."""
    if conversation.deleted_at:
        return f"Conversation {conversation.pk} (deleted by the person)"
    return str(conversation)


def review_url(conversation_id: int, anchor: str = "") -> str:
    url = reverse("admin:chat_conversation_change", args=[conversation_id])
    return f"{url}#{anchor}" if anchor else url


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Nobody adds, edits or deletes the record of what was said; viewing follows the model's
    view permission (Django's default has_view_permission)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # Nothing here is ever changed through the admin: no "change history" page to show.
        raise Http404("These records have no change history.")


# --- The queue's filters -------------------------------------------------------------------------


class NeedsAttentionFilter(admin.SimpleListFilter):
    title = "needs attention"
    parameter_name = "needs"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(selectors.QUEUE_REASONS.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        if self.value() in selectors.QUEUE_REASONS:
            return selectors.queue_filter(queryset=queryset, reason=str(self.value()))
        return None


class StatusFilter(admin.SimpleListFilter):
    title = "review status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(value), str(label)) for value, label in ConversationReview.Status.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        value = self.value()
        if value == ConversationReview.Status.NEW:
            return queryset.filter(Q(review__isnull=True) | Q(review__status=value))
        if value in ConversationReview.Status.values:
            return queryset.filter(review__status=value)
        return None


class AssigneeFilter(admin.SimpleListFilter):
    title = "assignee"
    parameter_name = "assignee"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("me", "Assigned to me"), ("nobody", "Unassigned")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        if self.value() == "me":
            return queryset.filter(review__assignee=request.user.pk)
        if self.value() == "nobody":
            return queryset.filter(Q(review__isnull=True) | Q(review__assignee__isnull=True))
        return None


class DeletedFilter(admin.SimpleListFilter):
    title = "deleted by the person"
    parameter_name = "deleted"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", "Not deleted"), ("yes", "Deleted (tombstone)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        if self.value() in ("yes", "no"):
            return queryset.filter(deleted_at__isnull=self.value() == "no")
        return None


# --- Conversations: the queue and the review page ------------------------------------------------


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = (
        "title_column",
        "person_column",
        "status_column",
        "assignee_column",
        "attention_column",
        "activity_column",
    )
    list_filter = (
        NeedsAttentionFilter,
        StatusFilter,
        AssigneeFilter,
        DeletedFilter,
        "thread_scope",
        "created_at",
    )
    show_facets = admin.ShowFacets.ALWAYS
    search_fields = ("title", "messages__text", "owner__username")
    ordering = ("-updated_at", "-pk")
    date_hierarchy = "created_at"
    list_per_page = 50
    actions = ["export_csv", "export_json"]
    change_list_template = "admin/review/queue.html"

    class Media:
        css = {"all": ["review/admin.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        return selectors.queue_annotate(queryset=super().get_queryset(request))

    def has_review_permission(self, request: HttpRequest) -> bool:
        return has_review_permission(request)

    # Columns
    @admin.display(description="Conversation", ordering="title")
    def title_column(self, obj: Conversation) -> str:
        return conversation_label(obj)

    @admin.display(description="Person", ordering="owner__username")
    def person_column(self, obj: Conversation) -> str:
        return obj.owner.get_username()

    @admin.display(description="Last activity", ordering="updated_at")
    def activity_column(self, obj: Conversation) -> str:
        return date_format(localtime(obj.updated_at), "Y-m-d H:i")

    @admin.display(description="Status", ordering="review__status")
    def status_column(self, obj: Conversation) -> str:
        review = getattr(obj, "review", None)
        status = review.status if review else ConversationReview.Status.NEW
        return format_html(
            '<span class="rv-status rv-status--{}">{}</span>',
            status,
            ConversationReview.Status(status).label,
        )

    @admin.display(description="Assignee", ordering="review__assignee__username")
    def assignee_column(self, obj: Conversation) -> str:
        review = getattr(obj, "review", None)
        return review.assignee.get_username() if review and review.assignee else "-"

    @admin.display(description="Needs attention", ordering="-bad_feedback_count")
    def attention_column(self, obj: Any) -> str:
        """Answers, then what needs a look: bad votes, unverified figures, errors."""
        badges = [
            format_html('<span class="rv-attention rv-attention--{}">{} {}</span>', kind, n, label)
            for kind, n, label in (
                ("bad", obj.bad_feedback_count, "bad vote"),
                ("unverified", obj.unverified_count, "unverified"),
                ("error", obj.error_count, "error"),
            )
            if n
        ]
        answers = f"{obj.answer_count} answer{'s' if obj.answer_count != 1 else ''}"
        return format_html("{} {}", answers, format_html_join("", "{}", ((b,) for b in badges)))

    # The queue page
    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {
            "title": "Review queue",
            **(extra_context or {}),
            "queue_reasons": [
                (key, label, count)
                for (key, label), count in zip(
                    selectors.QUEUE_REASONS.items(),
                    selectors.queue_counts().values(),
                    strict=True,
                )
            ],
        }
        return super().changelist_view(request, extra_context=context)

    # Export actions
    @admin.action(description="Export selected as CSV (one row per answer)", permissions=["review"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> HttpResponse:
        return self._export(request, list(queryset), "csv")

    @admin.action(description="Export selected as JSON", permissions=["review"])
    def export_json(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> HttpResponse:
        return self._export(request, list(queryset), "json")

    def _export(
        self, request: HttpRequest, conversations: list[Conversation], fmt: str
    ) -> HttpResponse:
        ids = [conversation.pk for conversation in conversations]
        services.staff_access_record(
            conversations=conversations,
            viewer=request.user,  # type: ignore[arg-type]
            what=StaffAccess.What.EXPORT_CSV if fmt == "csv" else StaffAccess.What.EXPORT_JSON,
        )
        if fmt == "csv":
            body = export.conversations_csv(conversation_ids=ids)
            content_type = "text/csv; charset=utf-8"
        else:
            body = export.conversations_json(conversation_ids=ids)
            content_type = "application/json"
        name = f"conversation-{ids[0]}" if len(ids) == 1 else f"conversations-{len(ids)}"
        response = HttpResponse(body, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
        return response

    # URLs of the review page's forms
    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/review/", wrap(self.state_view), name="review_state"),
            path("<path:object_id>/notes/", wrap(self.note_view), name="review_note"),
            path(
                "<path:object_id>/answers/<int:message_id>/flag/",
                wrap(self.flag_view),
                name="review_flag",
            ),
            path(
                "<path:object_id>/export/<str:fmt>/",
                wrap(self.export_view),
                name="review_export",
            ),
            *super().get_urls(),
        ]

    def _conversation(self, request: HttpRequest, object_id: str, *, act: bool) -> Conversation:
        """The conversation, or 403 without view (and, to act, review) permission."""
        if not self.has_view_permission(request) or (act and not has_review_permission(request)):
            raise PermissionDenied
        conversation: Conversation | None = self.get_object(request, unquote(object_id))
        if conversation is None:
            raise Http404("No such conversation.")
        return conversation

    @staticmethod
    def _back(conversation: Conversation, anchor: str = "") -> HttpResponseRedirect:
        return HttpResponseRedirect(review_url(conversation.pk, anchor))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The review page. Opening it is recorded in the access log."""
        if request.method != "GET":
            raise PermissionDenied  # transcripts are read-only; forms post to their own URLs
        conversation = self._conversation(request, object_id, act=False)
        services.staff_access_record(
            conversations=[conversation],
            viewer=request.user,  # type: ignore[arg-type]
            what=StaffAccess.What.VIEWED,
        )
        return self._render_review(request, conversation)

    def _render_review(
        self,
        request: HttpRequest,
        conversation: Conversation,
        state_form: ReviewStateForm | None = None,
        note_form: NoteForm | None = None,
    ) -> HttpResponse:
        review = services.review_get_or_create(conversation=conversation)
        transcript = [
            (message, [(call, receipt_figures(call)) for call in message.tool_calls.all()])
            for message in selectors.review_transcript(conversation=conversation)
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Review: {conversation_label(conversation)}",
            "label": conversation_label(conversation),
            "subtitle": None,
            "conversation": conversation,
            "review": review,
            "transcript": transcript,
            "can_review": has_review_permission(request),
            "state_form": state_form
            or ReviewStateForm(initial={"status": review.status, "assignee": review.assignee_id}),
            "note_form": note_form or NoteForm(),
            "flag_form": FlagForm(),
            "notes": conversation.review_notes.select_related("author"),
            "accesses": conversation.staff_accesses.select_related("viewer")[:ACCESS_LOG_ON_PAGE],
            "access_count": conversation.staff_accesses.count(),
            "events": conversation.review_events.select_related("actor")[:10],
        }
        return TemplateResponse(request, "admin/review/conversation_review.html", context)

    @staticmethod
    def _user(request: HttpRequest) -> Any:
        return request.user

    @method_decorator(require_POST)
    def state_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        conversation = self._conversation(request, object_id, act=True)
        form = ReviewStateForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose a status and a reviewer from the lists.")
            return self._back(conversation, "review-state")
        services.review_update(
            conversation=conversation,
            actor=self._user(request),
            status=form.cleaned_data["status"],
            assignee=form.cleaned_data["assignee"],
        )
        messages.success(request, "Review status saved.")
        return self._back(conversation, "review-state")

    @method_decorator(require_POST)
    def note_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        conversation = self._conversation(request, object_id, act=True)
        form = NoteForm(request.POST)
        if not form.is_valid():
            messages.error(request, "A note needs some text (at most 4,000 characters).")
            return self._back(conversation, "notes")
        services.review_note_add(
            conversation=conversation, author=self._user(request), text=form.cleaned_data["text"]
        )
        messages.success(request, "Note added.")
        return self._back(conversation, "notes")

    @method_decorator(require_POST)
    def flag_view(self, request: HttpRequest, object_id: str, message_id: int) -> HttpResponse:
        conversation = self._conversation(request, object_id, act=True)
        message = conversation.messages.filter(pk=message_id, role=Message.Role.ASSISTANT).first()
        if message is None:
            raise Http404("No such answer in this conversation.")
        form = FlagForm(request.POST)
        if not form.is_valid():
            messages.error(request, "A flag needs a kind and a reason.")
            return self._back(conversation, f"message-{message.pk}")
        services.answer_flag_add(
            message=message,
            author=self._user(request),
            kind=form.cleaned_data["kind"],
            reason=form.cleaned_data["reason"],
        )
        messages.success(request, "Answer flagged.")
        return self._back(conversation, f"message-{message.pk}")

    @method_decorator(require_GET)
    def export_view(self, request: HttpRequest, object_id: str, fmt: str) -> HttpResponse:
        conversation = self._conversation(request, object_id, act=True)
        if fmt not in ("csv", "json"):
            raise Http404("Unknown export format.")
        return self._export(request, [conversation], fmt)

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The conversation's review history and full access log (who did and saw what)."""
        conversation = self._conversation(request, object_id, act=False)
        services.staff_access_record(
            conversations=[conversation],
            viewer=request.user,  # type: ignore[arg-type]
            what=StaffAccess.What.HISTORY,
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Review history: {conversation_label(conversation)}",
            "label": conversation_label(conversation),
            "subtitle": None,
            "conversation": conversation,
            "events": conversation.review_events.select_related("actor"),
            "accesses": conversation.staff_accesses.select_related("viewer"),
        }
        return TemplateResponse(request, "admin/review/history.html", context)


def _conversation_link(conversation: Conversation, anchor: str = "") -> str:
    return format_html(
        '<a href="{}">{}</a>', review_url(conversation.pk, anchor), conversation_label(conversation)
    )


# --- Receipts as data ----------------------------------------------------------------------------


class OutcomeFilter(admin.SimpleListFilter):
    title = "outcome"
    parameter_name = "outcome"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("ok", "Calculated"), ("error", "Rejected or failed")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        if self.value() == "ok":
            return queryset.filter(error="")
        if self.value() == "error":
            return queryset.exclude(error="")
        return None


class TableVersionFilter(admin.SimpleListFilter):
    title = "tax table version"
    parameter_name = "table_version"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        versions = (
            ToolCall.objects.filter(result__has_key="table_version")
            .values_list("result__table_version", flat=True)
            .distinct()
        )
        return [(str(v), str(v)) for v in sorted({str(v) for v in versions})]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        if self.value():
            return queryset.filter(result__table_version=self.value())
        return None


@admin.register(ToolCall)
class ReceiptAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "conversation_column",
        "owner_column",
        "name",
        "revenue",
        "tax",
        "effective_rate",
        "table_version",
        "duration",
        "error_column",
    )
    list_display_links = None
    list_filter = ("name", OutcomeFilter, TableVersionFilter, "created_at")
    search_fields = ("call_id", "raw_arguments", "error", "message__conversation__owner__username")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-pk")
    list_per_page = 100

    class Media:
        css = {"all": ["review/admin.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[ToolCall]:
        return super().get_queryset(request).select_related("message__conversation__owner")

    @admin.display(description="Conversation")
    def conversation_column(self, obj: ToolCall) -> str:
        return _conversation_link(obj.message.conversation, f"message-{obj.message_id}")

    @admin.display(description="Person", ordering="message__conversation__owner__username")
    def owner_column(self, obj: ToolCall) -> str:
        return obj.message.conversation.owner.get_username()

    @admin.display(description="Revenue (€)")
    def revenue(self, obj: ToolCall) -> str:
        return receipt_figures(obj).revenue or "-"

    @admin.display(description="Tax (€)")
    def tax(self, obj: ToolCall) -> str:
        return receipt_figures(obj).tax or "-"

    @admin.display(description="Effective rate (%)")
    def effective_rate(self, obj: ToolCall) -> str:
        return receipt_figures(obj).effective_rate_percent or "-"

    @admin.display(description="Table version")
    def table_version(self, obj: ToolCall) -> str:
        return receipt_figures(obj).table_version or "-"

    @admin.display(description="Duration (ms)", ordering="duration_ms")
    def duration(self, obj: ToolCall) -> str:
        return f"{obj.duration_ms:.2f}"

    @admin.display(description="Error")
    def error_column(self, obj: ToolCall) -> str:
        return obj.error or "-"

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """A receipt is read beside its answer, on the conversation's review page."""
        call = self.get_object(request, unquote(object_id))
        if call is None or not self.has_view_permission(request, call):
            raise PermissionDenied
        return HttpResponseRedirect(
            review_url(call.message.conversation_id, f"message-{call.message_id}")
        )


# --- What people and reviewers said about answers; who looked ----------------------------------


class AboutAnAnswerAdmin(ReadOnlyAdmin):
    """Records about one answer (a vote, a flag): listed with a link to the answer in review."""

    list_display_links = None
    list_select_related = ("message__conversation", "author")

    @admin.display(description="Conversation")
    def conversation_column(self, obj: Feedback | AnswerFlag) -> str:
        return _conversation_link(obj.message.conversation, f"message-{obj.message_id}")


@admin.register(Feedback)
class FeedbackAdmin(AboutAnAnswerAdmin):
    list_display = ("updated_at", "vote", "comment", "conversation_column", "author")
    list_filter = ("vote", "updated_at")
    search_fields = ("comment", "author__username")


@admin.register(AnswerFlag)
class AnswerFlagAdmin(AboutAnAnswerAdmin):
    list_display = ("created_at", "kind", "reason", "author", "conversation_column")
    list_filter = ("kind", "created_at")
    search_fields = ("reason", "author__username")


@admin.register(StaffAccess)
class StaffAccessAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "viewer", "what", "conversation_column", "owner_column")
    list_display_links = None
    list_filter = ("what", "viewer", "created_at")
    search_fields = ("viewer__username", "conversation__owner__username")
    list_select_related = ("conversation__owner", "viewer")
    date_hierarchy = "created_at"

    @admin.display(description="Conversation")
    def conversation_column(self, obj: StaffAccess) -> str:
        return _conversation_link(obj.conversation)

    @admin.display(description="Person", ordering="conversation__owner__username")
    def owner_column(self, obj: StaffAccess) -> str:
        return obj.conversation.owner.get_username()
