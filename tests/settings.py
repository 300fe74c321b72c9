"""Test settings: the embedded defaults, never a real provider, no delays."""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-not-secret")
os.environ["OFFLINE_TOKEN_DELAY"] = "0"
# A developer's own key or Redis must not leak into the suite; tests opt in explicitly.
for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ASSISTANT_ENGINE", "REDIS_URL", "DATABASE_URL"):
    os.environ.pop(name, None)

from taxsite.settings import *  # noqa: E402, F403

# `make test-postgres` runs the suite against PostgreSQL instead of SQLite.
if os.environ.get("TEST_DATABASE_URL"):
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(os.environ["TEST_DATABASE_URL"])}

# The test client speaks plain HTTP; production's HTTPS redirect is checked by check --deploy.
SECURE_SSL_REDIRECT = False

# Tests hop between threads (asyncio.to_thread, the ORM thread); a connection kept open by a
# finished thread would outlive its test. The real servers of the multi-process and deployment
# tests run with the production setting.
DATABASES["default"]["CONN_MAX_AGE"] = 0

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests

# Pages render without `collectstatic` in tests: plain static names (production hashes them), and
# ServeStatic does not scan a STATIC_ROOT that is not there. tests/test_deploy_static.py collects.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
SERVESTATIC_USE_STATIC_ROOT = False

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, as in production (WAL, a busy timeout): Django's default in-memory test database
    # shares one cache that locks whole tables and fails at once where a file waits its turn
    # (a sweep in one thread while the checkpoints of another are written).
    _TEST_DB_DIR = BASE_DIR / "test-artifacts"  # noqa: F405
    _TEST_DB_DIR.mkdir(exist_ok=True)
    DATABASES["default"]["TEST"] = {"NAME": str(_TEST_DB_DIR / f"test-db-{os.getpid()}.sqlite3")}
