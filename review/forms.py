"""Reviewer forms on the conversation's review page."""

from django import forms
from django.contrib.auth.models import Permission, User
from django.db.models import Q, QuerySet

from review.models import AnswerFlag, ConversationReview, ReviewNote


def reviewers() -> QuerySet[User]:
    """Active staff who hold the review permission (directly, through a group, or superusers)."""
    permission = Permission.objects.filter(
        codename="review_conversation", content_type__app_label="review"
    )
    return (
        User.objects.filter(is_active=True, is_staff=True)
        .filter(
            Q(is_superuser=True)
            | Q(groups__permissions__in=permission)
            | Q(user_permissions__in=permission)
        )
        .distinct()
        .order_by("username")
    )


class ReviewStateForm(forms.Form):
    status = forms.ChoiceField(choices=ConversationReview.Status.choices)
    assignee = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, empty_label="Nobody"
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["assignee"].queryset = reviewers()  # type: ignore[attr-defined]


class NoteForm(forms.Form):
    text = forms.CharField(
        label="Add a note",
        max_length=ReviewNote._meta.get_field("text").max_length,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Visible to reviewers only."}),
    )


class FlagForm(forms.Form):
    kind = forms.ChoiceField(label="Flag", choices=AnswerFlag.Kind.choices)
    reason = forms.CharField(
        label="Reason",
        max_length=AnswerFlag._meta.get_field("reason").max_length,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
