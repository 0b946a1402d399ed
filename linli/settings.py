"""Settings, all overridable from the environment (twelve-factor)."""

import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("LINLI_VAR_DIR", BASE_DIR.parent / "var"))

# `make demo` writes var/local.env (a random SECRET_KEY, DEBUG=1) so that `linli` commands in any
# shell find the demo's settings. Only NAME=value lines, as make writes them; the environment
# wins over the file, and a deployment has no such file.
LOCAL_ENV = VAR_DIR / "local.env"
if LOCAL_ENV.is_file():
    for line in LOCAL_ENV.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not name.startswith("#"):
            os.environ.setdefault(name.strip(), value.strip())


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and os.environ.get("LINLI_ALLOW_INSECURE_KEY") != "1":
        raise RuntimeError("SECRET_KEY must be set (or DEBUG=1 for local use).")
    SECRET_KEY = "insecure-local-development-key-do-not-deploy"
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Its static files: the API's Swagger UI is served from here, never from a CDN.
    "ninja",
    "django_tasks",
    "django_tasks_db",
    "csp",
    "axes",
    "linli.core",
    "linli.places",
    "linli.people",
    "linli.cases",
    "linli.assistance",
    "linli.monitoring",
    "linli.demo",
    "linli.workbench",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "linli.core.context.RequestSourceMiddleware",
    "linli.core.middleware.ApplicationErrorMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a login refused for too many failures into a 429.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "linli.urls"
WSGI_APPLICATION = "linli.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "linli.core.context.ui",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'linli.sqlite3'}"),
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets the web server read while the worker writes; the timeout waits out a writer.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
elif env_bool("DATABASE_SERVER_SIDE_BINDING", True):
    # Parameters sent apart from the SQL, and a statement a connection has run five times is
    # prepared, so PostgreSQL parses and plans it once (Django turns preparing off unless told;
    # intake: the database's CPU per report 2.2 → 1.4 ms, bench/README.md). Turn both off
    # behind pgbouncer in transaction mode.
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options.update(server_side_binding=True, prepare_threshold=5)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "core.User"
# SQLite ignores INCLUDE on covering indexes (they serve PostgreSQL); no need to say so each run.
SILENCED_SYSTEM_CHECKS = ["models.W040"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Login throttling (django-axes, linli/core/logins.py): an account locks after this many wrong
# passwords, an address (a whole office behind NAT) after more, each failure counting for this
# many minutes. The axes backend must come first: it refuses a locked login before any other.
LINLI_LOGIN_FAILURES_PER_ACCOUNT = int(os.environ.get("LINLI_LOGIN_FAILURES_PER_ACCOUNT", "5"))
LINLI_LOGIN_FAILURES_PER_ADDRESS = int(os.environ.get("LINLI_LOGIN_FAILURES_PER_ADDRESS", "30"))
LINLI_LOGIN_LOCK_MINUTES = int(os.environ.get("LINLI_LOGIN_LOCK_MINUTES", "15"))
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "linli.core.logins.LoginThrottle"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each alone; LoginThrottle reads this order
AXES_FAILURE_LIMIT = LINLI_LOGIN_FAILURES_PER_ACCOUNT
AXES_COOLOFF_TIME = "linli.core.logins.cool_off"
# The time the login page gives is the time it ends: retrying while locked does not extend it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "linli.core.logins.lockout_response"
AXES_CLIENT_IP_CALLABLE = "linli.core.context.client_address"  # as the audit log records it
AXES_DISABLE_ACCESS_LOG = True  # successful logins: last_login is enough
AXES_ENABLE_ADMIN = False  # core/admin.py lists the failures with an audited "unlock" action
AXES_VERBOSE = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR.parent / "staticfiles"))
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True

# Uploads: Excel imports are capped here and checked again, with a readable message, in the form.
LINLI_MAX_UPLOAD_BYTES = int(os.environ.get("LINLI_MAX_UPLOAD_BYTES", str(20 * 1024 * 1024)))
LINLI_EXPORT_MAX_ROWS = int(os.environ.get("LINLI_EXPORT_MAX_ROWS", "100000"))
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_HANDLERS = [
    "linli.core.uploads.SizeLimitUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

TASKS = {
    "default": {
        "BACKEND": os.environ.get("TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}

SESSION_COOKIE_HTTPONLY = True
# A sign-in lasts a working day, not Django's two weeks: staff screens show personal data, and a
# shared office computer left signed in should not stay so overnight.
try:
    SESSION_COOKIE_AGE = round(float(os.environ.get("LINLI_SESSION_HOURS", "8")) * 3600)
except ValueError:
    SESSION_COOKIE_AGE = 0
if SESSION_COOKIE_AGE <= 0:
    raise ImproperlyConfigured("LINLI_SESSION_HOURS must be a positive number of hours, e.g. 8.")
# Served over HTTPS (behind the TLS proxy): cookies only over HTTPS, plain HTTP redirected, and
# browsers told to use nothing but HTTPS for a year (HSTS).
SECURE_COOKIES = env_bool("SECURE_COOKIES", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT = SECURE_COOKIES
SECURE_HSTS_SECONDS = 365 * 24 * 3600 if SECURE_COOKIES else 0
# The proxy terminates TLS, so Django sees plain HTTP: trust the proxy's X-Forwarded-Proto (only
# behind a proxy that sets it, overwriting what clients send), or the redirect would loop.
if env_bool("LINLI_TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Only behind a proxy that sets X-Forwarded-For; otherwise clients could forge their address.
LINLI_TRUST_X_FORWARDED_FOR = env_bool("LINLI_TRUST_X_FORWARDED_FOR", False)

# Reports of one category this near and this recent are offered for merging.
LINLI_DUPLICATE_METRES = int(os.environ.get("LINLI_DUPLICATE_METRES", "50"))
LINLI_DUPLICATE_HOURS = int(os.environ.get("LINLI_DUPLICATE_HOURS", "72"))

# Optional map tiles; with none, maps draw only GeoJSON boundaries (closed networks).
LINLI_MAP_TILE_URL = os.environ.get("LINLI_MAP_TILE_URL", "")


def tile_image_source(url: str) -> list[str]:
    """The CSP img-src entry that lets the browser load tiles from a tile URL template: its
    scheme and host, with a subdomain label such as `t{s}` widened to `*`."""
    if not url:
        return []
    parts = urlsplit(url)
    labels = parts.netloc.split(".")
    if labels and "{" in labels[0]:
        labels[0] = "*"
    if parts.scheme not in ("http", "https") or any("{" in label for label in labels):
        raise ImproperlyConfigured(
            f"LINLI_MAP_TILE_URL must be an http(s) URL template, a placeholder such as {{s}} "
            f"only in the first label of the host name; got {parts.scheme}://{parts.netloc}/…"
        )
    return [f"{parts.scheme}://{'.'.join(labels)}"]


# Content-Security-Policy (django-csp) on every response: scripts, styles, fonts and requests
# from this site only, no inline script, style attribute or eval, no framing. Leaflet and
# ECharts style elements through the CSSOM, which CSP allows. Images may also be data: URIs
# (the favicon, Leaflet's and ECharts' icons) and map tiles from LINLI_MAP_TILE_URL's host.
# A view that needs more (the API's Swagger page) widens it with csp.decorators.csp_update.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", *tile_image_source(LINLI_MAP_TILE_URL)],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"personal_data": {"()": "linli.core.masking.PersonalDataLogFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["personal_data"]},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},  # a line per login otherwise; lockouts still show
    },
}
