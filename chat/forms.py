from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User
from django.utils.translation import gettext as _

from accounts.usernames import username_lookalike_exists


class SignupForm(UserCreationForm[User]):
    """Usernames are NFKC-normalized (Django's UsernameField) and refused when they look like an
    existing one (`d\u0435mo`, with a Cyrillic e, when `demo` exists; `Demo` too)."""

    class Meta:
        model = User
        fields = ("username",)

    def clean_username(self) -> str:
        # Django's check for a taken name (ignoring case) records its error and returns None.
        username: str = super().clean_username()
        if username and username_lookalike_exists(username=username):
            raise forms.ValidationError(
                _("This username looks like an existing one. Please choose another."),
                code="lookalike",
            )
        return username
