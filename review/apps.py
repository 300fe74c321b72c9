from django.apps import AppConfig


class ReviewConfig(AppConfig):
    """Staff review of conversations: feedback, the queue, notes, flags, exports, access log."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "review"
    verbose_name = "Review"
