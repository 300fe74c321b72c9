from django.contrib import admin
from django.urls import include, path
from django.views.i18n import set_language

from accounts import views as account_views
from accounts.forms import AdminLoginForm
from chat import views

# The admin's login says how long to wait when throttled, like ours.
admin.site.login_form = AdminLoginForm

urlpatterns = [
    # The admin's own password change form checks the old password unthrottled: use ours.
    path("admin/password_change/", account_views.PasswordChangeView.as_view()),
    path("admin/", admin.site.urls),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/login/", account_views.LoginView.as_view(), name="login"),
    path(
        "accounts/password_change/",
        account_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("review/", include("review.urls")),
    # i18n: the language switch (the scripts' words are embedded in the page: base.html).
    path("i18n/setlang/", set_language, name="set_language"),
    path("", include("chat.urls")),
]
