"""Log in and change the password: Django's views, answering throttled attempts with 429."""

import math
from typing import Any

from django.contrib.auth import views as auth_views
from django.http import HttpResponse

from accounts.devices import device_remember
from accounts.forms import THROTTLED, LoginForm, ThrottledPasswordChangeForm


def throttled_response(response: HttpResponse, form: Any) -> HttpResponse:
    """429 with Retry-After when the form was refused by a throttle."""
    for errors in form.errors.as_data().values():
        for error in errors:
            if error.code == THROTTLED:
                response.status_code = 429
                response["Retry-After"] = str(math.ceil(error.params["seconds"]))
    return response


class LoginView(auth_views.LoginView):
    form_class = LoginForm

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        device_remember(response=response, username=form.get_user().get_username())
        return response

    def form_invalid(self, form: Any) -> HttpResponse:
        return throttled_response(super().form_invalid(form), form)


class PasswordChangeView(auth_views.PasswordChangeView):
    form_class = ThrottledPasswordChangeForm

    def form_invalid(self, form: Any) -> HttpResponse:
        return throttled_response(super().form_invalid(form), form)
