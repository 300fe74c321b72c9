"""Pages: the conversation page, starting a new conversation, and signing up."""

import contextlib
import logging
import math

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.addresses import client_address
from accounts.throttle import throttle_hit, throttle_peek, wait_phrase
from chat import exports, selectors, services
from chat.consumers import CLOSE_CODES_SHOWN
from chat.engines import get_engine
from chat.forms import SignupForm
from chat.groups import conversation_group
from chat.http import HtmxHttpRequest
from chat.models import Conversation
from chat.routing import conversation_socket_path

logger = logging.getLogger(__name__)


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The newest conversation, or a fresh one for a person who has none."""
    latest = selectors.conversation_list(user=request.user).first()
    if latest is None:
        latest = services.conversation_get_or_create_empty(owner=request.user)  # type: ignore[arg-type]
    return redirect("chat:conversation", pk=latest.pk)


@require_POST
@login_required
def conversation_new(request: HttpRequest) -> HttpResponse:
    conversation = services.conversation_get_or_create_empty(owner=request.user)  # type: ignore[arg-type]
    return redirect("chat:conversation", pk=conversation.pk)


@require_GET
@login_required
def conversation_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The transcript from the database; the socket then streams what comes next."""
    conversation = selectors.conversation_get(user=request.user, conversation_id=pk)
    if conversation is None:
        raise Http404("No such conversation.")
    engine = get_engine()
    at = request.GET.get("at", "")
    page = selectors.message_page(
        conversation=conversation, at_id=int(at) if at.isdigit() else None
    )
    return render(
        request,
        "chat/conversation.html",
        {
            "conversation": conversation,
            "sidebar": selectors.conversation_sidebar(user=request.user, current=conversation),
            "transcript": page.messages,
            "has_earlier": page.has_earlier,
            "current": conversation,
            "engine_label": _(engine.label)
            if engine.name == "offline"
            else f"{engine.label} · {engine.model_name}",
            "max_message_chars": settings.CHAT_MAX_MESSAGE_CHARS,
            "socket_path": conversation_socket_path(conversation.pk),
            "socket_close_codes": {
                name: " ".join(map(str, codes)) for name, codes in CLOSE_CODES_SHOWN.items()
            },
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Sign up and sign in; accounts per address are throttled (settings.AUTH_THROTTLES)."""
    if request.user.is_authenticated:
        return redirect("chat:home")
    form = SignupForm(request.POST or None)
    if request.method == "POST":
        address = client_address(request)
        wait = throttle_peek(scope="signup-address", key=address)
        if not wait and form.is_valid():
            wait = throttle_hit(scope="signup-address", key=address)
            if not wait:
                user = form.save()
                login(request, user, backend="accounts.backends.ThrottledModelBackend")
                return redirect("chat:home")
        if wait:
            refusal = _("Too many new accounts from your address. {wait}")
            form.add_error(None, refusal.format(wait=wait_phrase(wait)))
            response = render(request, "registration/signup.html", {"form": form}, status=429)
            response["Retry-After"] = str(math.ceil(wait))
            return response
    return render(request, "registration/signup.html", {"form": form})


# --- Conversation features: rename, delete, search, export, paging, versions --------------------


def _owned_or_404(request: HttpRequest, pk: int) -> Conversation:
    conversation = selectors.conversation_get(user=request.user, conversation_id=pk)
    if conversation is None:
        raise Http404("No such conversation.")
    return conversation


def _sidebar_response(request: HttpRequest, current_pk: int | None) -> HttpResponse:
    current = selectors.conversation_get(user=request.user, conversation_id=current_pk or 0)
    return render(
        request,
        "chat/_sidebar_and_title.html",
        {
            "sidebar": selectors.conversation_sidebar(user=request.user, current=current),
            "current": current,
        },
    )


@require_POST
@login_required
def conversation_rename(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Rename from the sidebar: htmx gets the list (and the page title) back, a form a redirect."""
    conversation = _owned_or_404(request, pk)
    # An empty title keeps the old one, as Escape would.
    with contextlib.suppress(services.ConversationRefused):
        services.conversation_rename(conversation=conversation, title=request.POST.get("title", ""))
    if request.htmx:
        current = request.POST.get("current", "")
        return _sidebar_response(request, int(current) if current.isdigit() else None)
    return redirect("chat:conversation", pk=pk)


@require_http_methods(["GET", "POST"])
@login_required
def conversation_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks to confirm (the page works without script too); POST deletes."""
    conversation = _owned_or_404(request, pk)
    if request.method == "GET":
        return render(request, "chat/delete_confirm.html", {"conversation": conversation})
    services.conversation_delete(conversation=conversation)
    # Open sockets on it close (they answer "not found" from now on).
    try:
        async_to_sync(get_channel_layer().group_send)(
            conversation_group(pk), {"type": "conversation.deleted"}
        )
    except Exception:  # the channel layer is down: the next frame is refused anyway
        logger.exception("Could not close the sockets of deleted conversation %s", pk)
    return redirect("chat:home")


@require_GET
@login_required
def conversation_search(request: HtmxHttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")
    hits = selectors.conversation_search(user=request.user, query=query)
    template = "chat/_search_results.html" if request.htmx else "chat/search.html"
    return render(request, template, {"query": query.strip(), "hits": hits})


@require_GET
@login_required
def conversation_index(request: HttpRequest) -> HttpResponse:
    """Every conversation of the person, newest first, a page at a time (the sidebar shows only
    the newest)."""
    pages = Paginator(
        selectors.conversation_list(user=request.user), selectors.INDEX_PAGE_CONVERSATIONS
    )
    return render(
        request, "chat/conversation_index.html", {"page": pages.get_page(request.GET.get("page"))}
    )


@require_GET
@login_required
def conversation_export(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    conversation = _owned_or_404(request, pk)
    if kind not in exports.FORMATS:
        raise Http404("No such export.")
    response = HttpResponse(
        exports.conversation_export(conversation, kind), content_type=exports.FORMATS[kind][0]
    )
    filename = exports.export_filename(conversation, kind)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
@login_required
def message_page(request: HttpRequest, pk: int) -> HttpResponse:
    """ "Load earlier": the page of messages before `before`, with its own "Load earlier"."""
    conversation = _owned_or_404(request, pk)
    before = request.GET.get("before", "")
    if not before.isdigit():
        raise Http404("No such page.")
    page = selectors.message_page(conversation=conversation, before_id=int(before))
    return render(request, "chat/_message_page.html", {"conversation": conversation, "page": page})


@require_GET
@login_required
def message_version(request: HttpRequest, message_id: int, number: int) -> HttpResponse:
    """One version of a message (and, for a question, its answer), to page between versions."""
    version = selectors.message_version(user=request.user, message_id=message_id, number=number)
    if version is None:
        raise Http404("No such version.")
    return render(request, "chat/_message_version.html", {"version": version})


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    return redirect(static("chat/favicon.svg"), permanent=True)
