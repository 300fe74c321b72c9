"""The person's side: Good/Bad answer with a comment, and the "Viewed by staff" notice."""

import asyncio

import pytest
from django.contrib.auth.models import User
from django.test import Client

from chat import fragments
from chat.models import Conversation, Message
from review.models import Feedback
from tests.helpers.clients import client_for
from tests.review.factories import answers, conversation_with, staff_user

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def feedback_url(message: Message) -> str:
    return f"/review/answers/{message.pk}/feedback/"


def test_person_votes_changes_the_vote_and_comments(
    alice: User, conversation: Conversation
) -> None:
    client = client_for(alice)
    answer = answers(conversation)[0]
    response = client.post(feedback_url(answer), {"vote": "bad"}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'value="bad" class="feedback-vote feedback-vote--bad" aria-pressed="true"' in html
    assert "Thanks: recorded as “Bad answer”" in html
    assert "Add a comment (optional)" in html

    client.post(feedback_url(answer), {"vote": "bad", "comment": "  Wrong bracket. "}, **HTMX)
    client.post(feedback_url(answer), {"vote": "good", "comment": "Wrong bracket."}, **HTMX)
    feedback = Feedback.objects.get(message=answer)
    assert (feedback.vote, feedback.comment, feedback.author) == ("good", "Wrong bracket.", alice)
    assert Feedback.objects.count() == 1  # one vote per answer

    page = client.get(f"/c/{conversation.pk}/").content.decode()
    bubble = page[page.index(f'id="feedback-{answer.pk}"') :]
    bubble = bubble[: bubble.index("</form>")]
    assert 'value="good" class="feedback-vote feedback-vote--good" aria-pressed="true"' in bubble
    assert "Wrong bracket." in bubble


def test_comment_is_bounded_and_nul_free(alice: User, conversation: Conversation) -> None:
    first, second = answers(conversation)
    client_for(alice).post(feedback_url(first), {"vote": "bad", "comment": "x" * 5000})
    assert len(Feedback.objects.get(message=first).comment) == 1000
    response = client_for(alice).post(feedback_url(second), {"vote": "bad", "comment": "a\x00b"})
    assert response.status_code == 302
    assert Feedback.objects.get(message=second).comment == "ab"


def test_a_person_cannot_vote_on_someone_elses_answer(
    bob: User, conversation: Conversation
) -> None:
    response = client_for(bob).post(feedback_url(answers(conversation)[0]), {"vote": "bad"})
    assert response.status_code == 404
    assert not Feedback.objects.exists()


def test_questions_streaming_answers_and_bad_votes_are_refused(
    alice: User, conversation: Conversation
) -> None:
    client = client_for(alice)
    question = conversation.messages.filter(role="user").first()
    assert question is not None
    assert client.post(feedback_url(question), {"vote": "bad"}).status_code == 404
    answer = answers(conversation)[1]
    assert client.post(feedback_url(answer), {"vote": "meh"}).status_code == 400
    answer.status = Message.Status.STREAMING
    answer.save()
    assert client.post(feedback_url(answer), {"vote": "good"}).status_code == 400
    assert client.get(feedback_url(answer)).status_code == 405
    assert not Feedback.objects.exists()


def test_feedback_needs_login_and_a_csrf_token(alice: User, conversation: Conversation) -> None:
    answer = answers(conversation)[0]
    anonymous = Client().post(feedback_url(answer), {"vote": "bad"})
    assert anonymous.status_code == 302
    assert "/accounts/login/" in anonymous["Location"]
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(feedback_url(answer), {"vote": "bad"}).status_code == 403
    assert not Feedback.objects.exists()
    # The page carries the token the forms include (bubbles from the socket have no request).
    page = strict.get(f"/c/{conversation.pk}/").content.decode()
    token = page.split('id="review-csrf" name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    ok = strict.post(feedback_url(answer), {"vote": "bad", "csrfmiddlewaretoken": token})
    assert ok.status_code == 302
    assert Feedback.objects.get().vote == "bad"


def test_socket_bubbles_offer_feedback_that_posts_with_the_page_token(
    conversation: Conversation,
) -> None:
    answer = answers(conversation)[0]
    html = fragments.message_bubble(answer, list(answer.tool_calls.all()))
    assert f'hx-post="/review/answers/{answer.pk}/feedback/"' in html
    assert 'hx-include="#review-csrf"' in html
    answer.status = Message.Status.STREAMING
    assert "feedback" not in fragments.message_bubble(answer, [])


def test_person_sees_viewed_by_staff_with_the_date_but_no_name(
    alice: User, conversation: Conversation
) -> None:
    person = client_for(alice)
    assert "Viewed by staff" not in person.get(f"/c/{conversation.pk}/").content.decode()
    reviewer = staff_user("rita", group="Reviewers")
    client_for(reviewer).get(f"/admin/chat/conversation/{conversation.pk}/change/")
    page = person.get(f"/c/{conversation.pk}/").content.decode()
    assert "Viewed by staff on" in page
    notice = page[page.index("Viewed by staff on") :].split("</p>")[0]
    assert "rita" not in notice


def test_staff_opening_their_own_conversation_is_not_a_staff_view(
    django_user_model: type[User],
) -> None:
    own = django_user_model.objects.create_superuser("sam", "s@example.com", "pw-sam-123")
    conversation = conversation_with(own, [("q", "a")])
    client = client_for(own)
    client.get(f"/admin/chat/conversation/{conversation.pk}/change/")
    assert "Viewed by staff" not in client.get(f"/c/{conversation.pk}/").content.decode()


def test_another_persons_notice_is_never_shown(
    alice: User, bob: User, conversation: Conversation
) -> None:
    client_for(staff_user("rita", group="Reviewers")).get(
        f"/admin/chat/conversation/{conversation.pk}/change/"
    )
    bobs = conversation_with(bob, [("q", "a")])
    assert "Viewed by staff" not in client_for(bob).get(f"/c/{bobs.pk}/").content.decode()


def test_a_hostile_comment_is_inert_in_the_page(alice: User, conversation: Conversation) -> None:
    from tests.helpers.htmlcheck import active_parts

    answer = answers(conversation)[0]
    client = client_for(alice)
    client.post(
        feedback_url(answer), {"vote": "bad", "comment": "</textarea><img src=x onerror=alert(1)>"}
    )
    page = client.get(f"/c/{conversation.pk}/").content.decode()
    form = page[page.index(f'id="feedback-{answer.pk}"') :].split("</form>")[0]
    assert "&lt;/textarea&gt;&lt;img src=x onerror=alert(1)&gt;" in form
    assert active_parts(form.split("<textarea")[1], allowed_tags=frozenset({"input"})) == []


def test_the_sockets_catch_up_transcript_shows_the_vote(
    alice: User, conversation: Conversation
) -> None:
    from chat import selectors

    answer = answers(conversation)[0]
    client_for(alice).post(feedback_url(answer), {"vote": "good"})
    transcript = list(selectors.message_list(conversation=conversation))

    async def render_in_the_event_loop() -> str:  # as the consumer's catch-up does
        return fragments.messages_replaced(transcript)

    html = asyncio.run(render_in_the_event_loop())
    form = html[html.index(f'id="feedback-{answer.pk}"') :].split("</form>")[0]
    assert 'value="good" class="feedback-vote feedback-vote--good" aria-pressed="true"' in form
