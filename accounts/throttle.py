"""Growing delays instead of lockouts, counted in the database so all processes share them.

Each throttle (settings.AUTH_THROTTLES) lets `free` attempts through at once; after that each
attempt must wait `delay` seconds, doubling per attempt up to `max_delay`. Nothing is ever locked
for good: the wait always ends, and a counter is forgotten after FORGET_SECONDS without attempts.
An attempt is counted when it starts (so a burst of parallel guesses is counted too) and
forgiven or reset when it turns out to be legitimate.
"""

import math
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from accounts.models import AuthThrottle


def _rule(scope: str) -> tuple[int, float, float]:
    rule = settings.AUTH_THROTTLES[scope]
    return int(rule["free"]), float(rule["delay"]), float(rule["max_delay"])


def throttle_delay(*, scope: str, hits: int) -> float:
    """Seconds to wait after the `hits`-th attempt (0 while attempts are free)."""
    free, delay, max_delay = _rule(scope)
    if hits < free:
        return 0.0
    return min(delay * 2.0 ** min(hits - free, 32), max_delay)


def _wait(row: AuthThrottle, now: datetime) -> float:
    if row.blocked_until is None or row.blocked_until <= now:
        return 0.0
    return (row.blocked_until - now).total_seconds()


def throttle_peek(*, scope: str, key: str) -> float:
    """Seconds until the next attempt is let through; 0 if now. Counts nothing."""
    row = AuthThrottle.objects.filter(scope=scope, key=key[:200]).first()
    return 0.0 if row is None else _wait(row, timezone.now())


def throttle_hit(*, scope: str, key: str) -> float:
    """Count one attempt and return 0, or return the seconds to wait (the attempt not made)."""
    now = timezone.now()
    forget = timedelta(seconds=settings.AUTH_THROTTLE_FORGET_SECONDS)
    with transaction.atomic():
        row, _ = AuthThrottle.objects.select_for_update().get_or_create(
            scope=scope, key=key[:200], defaults={"last_hit": now}
        )
        wait = _wait(row, now)
        if wait:
            return wait
        if row.last_hit < now - forget:
            row.hits = 0
        row.hits += 1
        row.last_hit = now
        delay = throttle_delay(scope=scope, hits=row.hits)
        row.blocked_until = now + timedelta(seconds=delay) if delay else None
        row.save()
    # Forgotten counters go, so random usernames cannot grow the table without end.
    AuthThrottle.objects.filter(
        Q(blocked_until__isnull=True) | Q(blocked_until__lt=now), last_hit__lt=now - forget
    ).delete()
    return 0.0


def throttle_forgive(*, scope: str, key: str) -> None:
    """Take back one counted attempt (it was legitimate), e.g. a successful login's address."""
    rows = AuthThrottle.objects.filter(scope=scope, key=key[:200], hits__gt=0)
    rows.update(hits=F("hits") - 1)


def throttle_reset(*, scope: str, key: str) -> None:
    """Forget every attempt for this key, e.g. an account after its right password."""
    AuthThrottle.objects.filter(scope=scope, key=key[:200]).delete()


def wait_phrase(seconds: float) -> str:
    """`Try again in 2 minutes.` (rounded up); beyond a day: `Try again later.`"""
    whole = max(1, math.ceil(seconds))
    if whole > 86_400:
        return gettext("Try again later.")
    if whole < 60:
        return ngettext(
            "Try again in %(count)d second.", "Try again in %(count)d seconds.", whole
        ) % {"count": whole}
    if whole <= 3540:
        minutes = math.ceil(whole / 60)
        return ngettext(
            "Try again in %(count)d minute.", "Try again in %(count)d minutes.", minutes
        ) % {"count": minutes}
    hours = math.ceil(whole / 3600)
    return ngettext("Try again in %(count)d hour.", "Try again in %(count)d hours.", hours) % {
        "count": hours
    }
