from django.conf import settings
from django.db import models


class AuthThrottle(models.Model):
    """Attempts counted for one key of one throttle (an address, an account, a device), in the
    database so that every serving process shares them."""

    scope = models.CharField(max_length=32)
    """Which throttle: a key of settings.AUTH_THROTTLES."""
    key = models.CharField(max_length=200)
    """A client address (IPv6 by /64), a normalized username, a device id or a user id."""
    hits = models.PositiveIntegerField(default=0)
    """Attempts since the counter was last forgotten."""
    last_hit = models.DateTimeField()
    blocked_until = models.DateTimeField(null=True, blank=True)
    """No attempt is let through before this time."""

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="auth_throttle_scope_key")
        ]
        indexes = [models.Index(fields=["last_hit"], name="auth_throttle_last_hit")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}: {self.hits}"


class UsernameSkeleton(models.Model):
    """What a username looks like (NFKC, case-folded, look-alike letters mapped to ASCII), kept
    for every account so that a new name resembling an existing one can be refused."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True
    )
    skeleton = models.CharField(max_length=150, db_index=True)

    def __str__(self) -> str:
        return self.skeleton
