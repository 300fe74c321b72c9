"""The person's side of review: a vote (and comment) on one of their own answers."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from chat.http import HtmxHttpRequest
from chat.models import Message
from review import services


@require_POST
@login_required
def feedback(request: HtmxHttpRequest, message_id: int) -> HttpResponse:
    """Record Good/Bad answer (and an optional comment); answers the htmx form with itself."""
    try:
        saved = services.feedback_set(
            user=request.user,  # type: ignore[arg-type]
            message_id=message_id,
            vote=request.POST.get("vote", ""),
            comment=request.POST.get("comment", ""),
        )
    except Message.DoesNotExist as missing:
        raise Http404("No such answer.") from missing
    except (ValueError, services.FeedbackRefused) as refused:
        return HttpResponseBadRequest(str(refused))
    if not request.htmx:
        return redirect("chat:conversation", pk=saved.message.conversation_id)
    return render(
        request,
        "review/_feedback.html",
        {"message": saved.message, "feedback": saved, "just_saved": True},
    )
