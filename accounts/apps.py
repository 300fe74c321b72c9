from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Sign-in safety: throttling, client addresses, look-alike usernames, unsafe accounts."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"

    def ready(self) -> None:
        from accounts import checks, signals  # noqa: F401 - registers checks and receivers
