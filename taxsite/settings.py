"""Settings for taxsite, read from the environment (see README, "Configuration")."""

from pathlib import Path

import dj_database_url
import django_stubs_ext
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from taxsite.env import env_bool, env_float, env_int, env_list, env_str

# Lets generic classes such as ModelAdmin[Conversation] be subscripted at run time.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", default=False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set SECRET_KEY, or DEBUG=1 for local development.")
    SECRET_KEY = "django-insecure-local-development-only"  # noqa: S105 - DEBUG only

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "servestatic",
    "channels",
    "django_htmx",
    "csp",
    "accounts",
    "chat",
    "review",  # staff review: feedback, queue, notes, flags, export, access log
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files from the ASGI app itself, before sessions and CSP touch the response.
    "servestatic.middleware.ServeStaticMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",  # i18n: the language from the switch/browser
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.PrivatePagesNoStoreMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "chat.middleware.time_zone_middleware",  # features: times in the browser's time zone
]

ROOT_URLCONF = "taxsite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "taxsite.wsgi.application"
ASGI_APPLICATION = "taxsite.asgi.application"

# Development (make run, DEBUG=1) has its own default database, so that its demo account and
# experiments never become production's data.
SQLITE_DEFAULT = BASE_DIR / ("db.dev.sqlite3" if DEBUG else "db.sqlite3")
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{SQLITE_DEFAULT}"),
        # Persistent connections: every ORM call from async code goes through one thread per
        # process, and opening a PostgreSQL connection per call starved hundreds of streams.
        conn_max_age=env_int("DB_CONN_MAX_AGE", 300),
        # Off by default: Channels resets connections around every database call from async
        # code, so a health check ran a `SELECT 1` before each of them, doubling the queries on
        # the one database thread. A connection that broke fails one call and is then replaced.
        conn_health_checks=env_bool("DB_CONN_HEALTH_CHECKS", default=False),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the page read while a turn writes; IMMEDIATE avoids lock upgrades mid-transaction.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # Explicit timeouts: the socket timeout must outlast channels-redis's 5 s
                # blocking read, or idle sockets are closed with 1011 every few seconds.
                # redis-py's pool fails at once when all its connections are busy (100 by
                # default): hundreds of concurrent pushes need more.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": 30,
                        "socket_connect_timeout": 5,
                        "max_connections": 1000,
                    }
                ],
                "prefix": env_str("CHANNEL_LAYER_PREFIX", "taxsite"),
                "capacity": 500,
                # All sockets of a process share one Redis list ("specific.<process>!"): sized
                # for hundreds of streaming answers at once, so no frame is dropped for room.
                "channel_capacity": {"specific.*": 20_000},
                "expiry": 30,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 500}}
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    # OWASP ASVS 2.1.1: at least 12 characters (Django's default is 8).
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Accounts: sign-in throttling, client addresses (the accounts app; README "Security") -------
# Every password check through authenticate() (our login page, the admin's) is throttled.
AUTHENTICATION_BACKENDS = ["accounts.backends.ThrottledModelBackend"]
# Proxies in front of the app that append the client's address to X-Forwarded-For (nginx:
# proxy_add_x_forwarded_for). 0: clients connect directly and REMOTE_ADDR is theirs.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
# Growing delays, never a lockout: `free` attempts at once, then a wait of `delay` seconds that
# doubles with each further attempt, up to `max_delay`. Counted in the database (all processes).
AUTH_THROTTLES: dict[str, dict[str, float]] = {
    # Guesses at one account from browsers that never signed in to it.
    "login-account": {"free": 5, "delay": 60, "max_delay": 15 * 60},
    # Guesses from a browser that signed in to that account before (its own counter).
    "login-device": {"free": 5, "delay": 60, "max_delay": 15 * 60},
    # Failed logins from one address across accounts (password spraying).
    "login-address": {"free": 20, "delay": 60, "max_delay": 60 * 60},
    # Accounts created from one address (AUTH_SIGNUPS_PER_ADDRESS before the first wait).
    "signup-address": {
        "free": env_int("AUTH_SIGNUPS_PER_ADDRESS", 3),
        "delay": 10 * 60,
        "max_delay": 24 * 60 * 60,
    },
    # Old-password checks on the password-change form, per account.
    "password-change": {"free": 5, "delay": 60, "max_delay": 15 * 60},
}
AUTH_THROTTLE_FORGET_SECONDS = 24 * 60 * 60  # a counter with no attempt for a day starts over
AUTH_DEVICE_COOKIE_NAME = "taxsite_device"
AUTH_DEVICE_COOKIE_AGE = 365 * 24 * 60 * 60

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat:home"
LOGOUT_REDIRECT_URL = "login"

TIME_ZONE = env_str("TIME_ZONE", "Europe/Paris")
USE_TZ = True

# --- i18n: English and Korean (README "Languages") ------------------------------------------------
# The language comes from the switch in the top bar (a cookie), else the browser's Accept-Language.
# The compiled catalogues (.mo) are committed: nothing needs gettext at run time.
USE_I18N = True
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ko", "한국어")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 60 * 60  # remember the choice for a year
LANGUAGE_COOKIE_SAMESITE = "Lax"
# Dates per language (DATE_FORMAT, DATETIME_FORMAT...): taxsite/formats/<language>/formats.py.
FORMAT_MODULE_PATH = ["taxsite.formats"]
# No USE_THOUSAND_SEPARATOR: it would also group ids in templates (message-1,234); amounts are
# formatted by one filter (chat_tags.euros), the same in both languages.

# --- Security -------------------------------------------------------------------------------------
# Only our own scripts and styles (htmx comes from our static files); the socket is same-origin.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    # Production: HTTPS only. Behind a proxy that terminates TLS, set TRUST_X_FORWARDED_PROTO=1.
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    if env_bool("TRUST_X_FORWARDED_PROTO", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Static files and production serving ----------------------------------------------------------
# `collectstatic` writes hashed, compressed (gzip, brotli) copies to STATIC_ROOT and ServeStatic
# serves them from the ASGI app itself, hashed names cached for a year (see README, "Deployment").
# With DEBUG on, pages use the plain names and files come straight from the apps.
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT") or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "servestatic.storage.CompressedManifestStaticFilesStorage"},
}
# How many daphne processes serve this site, all machines together. More than one needs the
# Redis channel layer and PostgreSQL, which `manage.py check` enforces (chat/checks_deploy.py).
SERVER_PROCESSES = env_int("SERVER_PROCESSES", 1)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "chat": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
        # Production: Django's own console handler is DEBUG-only, so without this a 500's
        # traceback would reach no log at all (there are no ADMINS to mail).
        "django": {"handlers": ["console"], "level": "WARNING"},
    },
}

# --- The assistant -------------------------------------------------------------------------------
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL")
OPENAI_MODEL = env_str("OPENAI_MODEL", "gpt-5-mini")
OPENAI_TIMEOUT = env_float("OPENAI_TIMEOUT", 60.0)
OPENAI_MAX_RETRIES = env_int("OPENAI_MAX_RETRIES", 2)
# "conversation" (OpenAI Conversations), "previous_response_id", or "stateless".
OPENAI_STATE_MODE = env_str("OPENAI_STATE_MODE", "conversation")
# Empty means: "responses" when OPENAI_API_KEY is set, else "offline".
ASSISTANT_ENGINE = env_str("ASSISTANT_ENGINE")
# The engines by name; each class owns its label (chat.engines.engine_label).
ASSISTANT_ENGINES = {
    "offline": "chat.engines.offline.OfflineEngine",
    "responses": "chat.engines.responses.ResponsesEngine",
    "chat": "chat.engines.chat_completions.ChatCompletionsEngine",
    "assistants": "chat.engines.assistants.AssistantsEngine",
}
ASSISTANT_MAX_TOOL_ROUNDS = env_int("ASSISTANT_MAX_TOOL_ROUNDS", 4)
ASSISTANT_MAX_TOOL_CALLS_PER_TURN = env_int("ASSISTANT_MAX_TOOL_CALLS_PER_TURN", 8)
ASSISTANT_INSTRUCTIONS = env_str(
    "ASSISTANT_INSTRUCTIONS",
    "You are a helpful tax assistant. When a question involves a yearly revenue figure, call "
    "calculate_tax with that revenue as a plain number string and base your answer on its "
    "output. The tax table is a demonstration, not real tax law: say so when relevant. "
    "Answer concisely in Markdown.",
)
# Seconds between offline-engine tokens: a visible stream locally, zero in tests.
OFFLINE_TOKEN_DELAY = env_float("OFFLINE_TOKEN_DELAY", 0.02)
# Longest message a person may send, in characters.
CHAT_MAX_MESSAGE_CHARS = env_int("CHAT_MAX_MESSAGE_CHARS", 4000)
# Questions a person may ask per window (all conversations and tabs together).
CHAT_RATE_LIMIT_TURNS = env_int("CHAT_RATE_LIMIT_TURNS", 10)
CHAT_RATE_LIMIT_WINDOW_SECONDS = env_int("CHAT_RATE_LIMIT_WINDOW_SECONDS", 60)
# How often streaming text is written to the database, in seconds.
CHAT_CHECKPOINT_SECONDS = env_float("CHAT_CHECKPOINT_SECONDS", 1.0)
# A streaming answer is leased to the process writing it; the lease is renewed while it runs.
# An answer whose lease lapsed (its process died) is ended by the sweep that every process runs.
CHAT_TURN_LEASE_SECONDS = env_float("CHAT_TURN_LEASE_SECONDS", 10.0)
CHAT_TURN_SWEEP_SECONDS = env_float("CHAT_TURN_SWEEP_SECONDS", CHAT_TURN_LEASE_SECONDS / 4)
# Abuse limits per socket and per person (see chat/socket_limits.py).
CHAT_MAX_SOCKETS_PER_PERSON = env_int("CHAT_MAX_SOCKETS_PER_PERSON", 10)
CHAT_FRAMES_PER_SECOND = env_float("CHAT_FRAMES_PER_SECOND", 5.0)
CHAT_FRAME_BURST = env_int("CHAT_FRAME_BURST", 20)
CHAT_FRAME_ABUSE_LIMIT = env_int("CHAT_FRAME_ABUSE_LIMIT", 100)
# Frames a socket may have waiting at the server before it counts as a flood and is closed.
CHAT_FRAME_BACKLOG = env_int("CHAT_FRAME_BACKLOG", 200)
CHAT_SOCKET_OPENS_PER_MINUTE = env_int("CHAT_SOCKET_OPENS_PER_MINUTE", 30)
CHAT_SOCKET_OPEN_BURST = env_int("CHAT_SOCKET_OPEN_BURST", 20)
# A refused open is answered after this long, so a client reconnecting at once is slowed down.
CHAT_SOCKET_REFUSAL_SECONDS = env_float("CHAT_SOCKET_REFUSAL_SECONDS", 1.0)
# A socket with over 64 KiB unsent beyond its kernel send buffer (this many bytes, which Linux
# doubles), none of it taken for CHAT_SOCKET_SEND_STALL_SECONDS, is dropped: its client does
# not read (chat/socket_gate.py).
CHAT_SOCKET_SEND_BUFFER_BYTES = env_int("CHAT_SOCKET_SEND_BUFFER_BYTES", 64 * 1024)
CHAT_SOCKET_SEND_STALL_SECONDS = env_float("CHAT_SOCKET_SEND_STALL_SECONDS", 5.0)
# How long a socket trusts its last session check (logout closes sockets at once anyway).
CHAT_SESSION_RECHECK_SECONDS = env_float("CHAT_SESSION_RECHECK_SECONDS", 5.0)
# Messages a socket catching up receives at most (older ones: "Load earlier" on the page).
CHAT_CATCH_UP_MESSAGES = env_int("CHAT_CATCH_UP_MESSAGES", 50)
# How often a streaming answer's changed Markdown blocks are re-rendered, in seconds (pushes in
# between carry the new text alone).
CHAT_RENDER_SECONDS = env_float("CHAT_RENDER_SECONDS", 0.2)
# How often coalesced deltas are pushed to the page, in seconds: ten updates a second read as
# smooth, and cost half of twenty when hundreds of answers stream at once.
CHAT_PUSH_SECONDS = env_float("CHAT_PUSH_SECONDS", 0.1)
# Once an answer's first words are out, its provider stream is read at most this often, in
# seconds: the deltas that arrived meanwhile are handled as one (the page gets them per push
# anyway), which halves the server's work per delta when hundreds of answers stream.
CHAT_PROVIDER_READ_SECONDS = env_float("CHAT_PROVIDER_READ_SECONDS", 0.05)
# How long a thread of the serving process may hold the interpreter while the event loop waits,
# in seconds (Python's default is 5 ms): rendering a finished answer or a database call in a
# thread then delays other people's frames by at most 0.2 ms each time the loop wants it back.
# At 1 ms, a frame that crosses a few such waits took 3-5 ms while answers streamed
# (benchmarks/abuse.py, phase 4c); 0.2 ms cost nothing measurable at 200 answers.
SERVER_GIL_SWITCH_SECONDS = env_float("SERVER_GIL_SWITCH_SECONDS", 0.0002)
# How many new objects the serving process allocates (net) between two passes of the cyclic
# garbage collector over its youngest objects (Python's default is 700). When 200 questions come
# at once (benchmarks/streaming.py, `gc.callbacks`), at 700: ~100 young passes, 9 middle ones and
# a full one, ~70 ms of the process's CPU before the last first words; at 2,000: ~30 young passes
# of at most 4 ms and 2-3 middle ones, no full one, ~45 ms; at 10,000: ~20 ms, but its young
# passes of 3-7 ms while answers stream showed in other people's round trips (benchmarks/abuse.py
# phase 4c: p95 1.6-2.0x quiet, against 1.2-1.6x at 700 and 2,000). Nearly every object is freed
# by reference counting anyway; only cycles wait a little longer to be collected.
SERVER_GC_YOUNG_OBJECTS = env_int("SERVER_GC_YOUNG_OBJECTS", 2_000)
# How long the garbage collector waits when a process starts many questions at once (at least
# CHAT_START_BURST in one database call), in seconds; 0: never (chat/collector.py says why).
SERVER_GC_BURST_HOLD_SECONDS = env_float("SERVER_GC_BURST_HOLD_SECONDS", 1.0)
CHAT_START_BURST = env_int("CHAT_START_BURST", 20)
