"""Pages: the conversation page, starting a new conversation, and signing up."""

import math

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.addresses import client_address
from accounts.throttle import throttle_hit, throttle_peek, wait_phrase
from chat import selectors, services
from chat.engines import get_engine
from chat.forms import SignupForm


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
    return render(
        request,
        "chat/conversation.html",
        {
            "conversation": conversation,
            "conversations": selectors.conversation_list(user=request.user),
            "transcript": selectors.message_list(conversation=conversation),
            "current": conversation,
            "engine_label": engine.label
            if engine.name == "offline"
            else f"{engine.label} · {engine.model_name}",
            "max_message_chars": settings.CHAT_MAX_MESSAGE_CHARS,
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
            form.add_error(None, f"Too many new accounts from your address. {wait_phrase(wait)}")
            response = render(request, "registration/signup.html", {"form": form}, status=429)
            response["Retry-After"] = str(math.ceil(wait))
            return response
    return render(request, "registration/signup.html", {"form": form})
