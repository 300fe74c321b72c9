from django.apps import AppConfig


class ChatConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chat"

    def ready(self) -> None:
        from chat import (  # noqa: F401 - registers checks and the logout handler
            checks,
            checks_deploy,
            signals,
        )
