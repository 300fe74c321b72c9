"""Production settings that `manage.py check` (and so `migrate` and the systemd units) refuses.

These only apply with DEBUG off: a mistake here shows up as a broken page or a Stop that does
nothing only once several processes serve real people, so it is cheaper to refuse to start.
"""

from typing import Any

from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import ManifestStaticFilesStorage, staticfiles_storage
from django.core.checks import CheckMessage, Error, register

# collectstatic's default ignore patterns: the finder files it would have collected.
_COLLECTSTATIC_IGNORED = ["CVS", ".*", "*~"]
_IN_MEMORY_LAYER = "channels.layers.InMemoryChannelLayer"


@register("deploy")
def production_processes_check(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Several processes must share everything a turn needs: channel layer and database."""
    if settings.DEBUG or settings.SERVER_PROCESSES <= 1:
        return []
    errors: list[CheckMessage] = []
    layer = settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", "")
    if layer == _IN_MEMORY_LAYER:
        errors.append(
            Error(
                f"SERVER_PROCESSES={settings.SERVER_PROCESSES} but the channel layer is in "
                "memory: live answers, Stop and logout would not reach the other processes.",
                hint="Set REDIS_URL (e.g. redis://127.0.0.1:6379/0), the same for every process.",
                id="deploy.E001",
            )
        )
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        errors.append(
            Error(
                f"SERVER_PROCESSES={settings.SERVER_PROCESSES} on SQLite: processes on other "
                "machines cannot share it, and its one writer stalls concurrent answers.",
                hint="Set DATABASE_URL to PostgreSQL, the same for every process.",
                id="deploy.E002",
            )
        )
    return errors


@register("deploy")
def static_collected_check(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Hashed static names come from collectstatic's manifest; without it every page fails."""
    if settings.DEBUG or not isinstance(staticfiles_storage, ManifestStaticFilesStorage):
        return []
    storage = staticfiles_storage
    if not (storage.manifest_storage or storage).exists(storage.manifest_name):
        return [
            Error(
                f"Static files are not collected: no {storage.manifest_name} in "
                f"{settings.STATIC_ROOT}.",
                hint="Run `manage.py collectstatic --noinput` (make serve does) before serving.",
                id="deploy.E003",
            )
        ]
    # A manifest from an older release: new files would answer 404 and their pages 500.
    collected = set(storage.hashed_files)
    missing = sorted(
        path
        for finder in finders.get_finders()
        for path, _storage in finder.list(_COLLECTSTATIC_IGNORED)
        if path.replace("\\", "/") not in collected
    )
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        return [
            Error(
                f"Static files changed since the last collectstatic ({len(missing)} missing: "
                f"{shown}).",
                hint="Run `manage.py collectstatic --noinput` for this release.",
                id="deploy.E004",
            )
        ]
    return []


@register("deploy")
def wildcard_hosts_check(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """ALLOWED_HOSTS is also the list of accepted WebSocket origins: a wildcard accepts any
    site's page opening a socket with the visitor's cookies."""
    if settings.DEBUG or "*" not in settings.ALLOWED_HOSTS:
        return []
    return [
        Error(
            "ALLOWED_HOSTS contains '*': any web page could open a chat socket as the visitor.",
            hint="List the exact host names the site is served under.",
            id="deploy.E005",
        )
    ]
