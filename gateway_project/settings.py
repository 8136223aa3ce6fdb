"""Settings for the Model Release Gateway.

Everything that differs between machines comes from the environment (see the
configuration table in README.md). Defaults are the embedded, single-machine
setup: an SQLite file under var/, a local MLflow server, the ORM task broker.
"""
import re
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from gateway_project import defaults
from gateway_project.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = defaults.BASE_DIR
VAR_DIR = defaults.var_dir()

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-development-only-key-" + "x" * 40
elif not DEBUG and (len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure")):
    raise ImproperlyConfigured("SECRET_KEY is too short or a placeholder; use 50+ random characters.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "django_vite",
    "axes",
    "releases",
    "approvals",
    "gateway_project.apps.GatewayProjectConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outermost after it, so every answer gets the policy: pages, static files, errors.
    "gateway_project.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "gateway_project.errors.RejectNulMiddleware",
    "gateway_project.errors.RejectRepeatedParametersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

# django-axes first: it refuses a locked-out account or address before a password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "gateway_project.urls"
WSGI_APPLICATION = "gateway_project.wsgi.application"

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

# --- Database -----------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        defaults.database_url(),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # The worker is a separate process: tests need a file, not ":memory:".
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-gateway.sqlite3")}
    # WAL lets the web server read while the worker writes. IMMEDIATE takes the write lock when a
    # transaction begins, so a writer that must wait does so there, for up to `timeout` seconds; a
    # deferred transaction that reads first and then writes fails at once with "database is locked".
    DATABASES["default"]["OPTIONS"] = {"init_command": "PRAGMA journal_mode=WAL;", "timeout": 20,
                                       "transaction_mode": "IMMEDIATE"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis (optional: a shared cache, and the task broker when TASK_BROKER=redis) ---------
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL and not re.fullmatch(r"(redis|rediss|unix)://\S+", REDIS_URL):
    raise ImproperlyConfigured("REDIS_URL must look like redis://host:6379/0 (or rediss://, unix://).")
TASK_BROKER = env_str("TASK_BROKER", "orm")
if TASK_BROKER not in ("orm", "redis"):
    raise ImproperlyConfigured("TASK_BROKER must be 'orm' or 'redis'.")
if TASK_BROKER == "redis" and not REDIS_URL:
    raise ImproperlyConfigured("TASK_BROKER=redis needs REDIS_URL.")

# "default" is shared by every process (web, worker): /readyz reads the worker heartbeat that
# django-q2's ORM broker keeps there. The database unless Redis is configured.
# "requests" holds what each API request looks up and may be a little stale: the throttle's
# counts (releases/api/throttling.py) and, for READ_ACCESS_CACHE_SECONDS, whether a user may
# read (releases/permissions.py). Per process without Redis, so neither costs a query.
_REDIS_CACHE = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2}}
CACHES = {
    "default": {**_REDIS_CACHE, "KEY_PREFIX": "gateway"} if REDIS_URL else {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "gateway_cache"},
    "requests": {**_REDIS_CACHE, "KEY_PREFIX": "gateway-requests"} if REDIS_URL else {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "requests",
        "OPTIONS": {"MAX_ENTRIES": 10_000}},
    # A release's detail, scan report and findings pages, under its ETag (releases/api/answer_cache.py).
    "answers": {**_REDIS_CACHE, "KEY_PREFIX": "gateway-answers"} if REDIS_URL else {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "answers",
        "OPTIONS": {"MAX_ENTRIES": env_int("ANSWER_CACHE_ENTRIES", 256, minimum=1)}},
}
# At most ANSWER_CACHE_ENTRIES x ANSWER_CACHE_MAX_BYTES per web process (32 MiB by default); 0 seconds: off.
ANSWER_CACHE_SECONDS = env_int("ANSWER_CACHE_SECONDS", 300, minimum=0)
ANSWER_CACHE_MAX_BYTES = env_int("ANSWER_CACHE_MAX_BYTES", 128 * 1024, minimum=0)

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
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# The portal's own login, for every user (admin keeps /admin/login/, for staff).
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

# --- Login rate limit (django-axes: portal and admin logins) -------------------------
# LOGIN_FAILURE_LIMIT wrong passwords lock that account, and separately that client
# address, for LOGIN_LOCKOUT_MINUTES. A success resets the count.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "gateway_project.login.locked_out"
AXES_VERBOSE = False
# Behind the TLS proxy every client would share the proxy's address: count the one it forwards.
AXES_CLIENT_IP_CALLABLE = "gateway_project.login.client_address"

# --- Portal (frontend/, built by Vite, served by django-vite + whitenoise) --------------
PORTAL_DIST = BASE_DIR / "frontend" / "dist"
STATICFILES_DIRS = [PORTAL_DIST] if PORTAL_DIST.is_dir() else []
DJANGO_VITE = {
    "default": {
        "dev_mode": env_bool("VITE_DEV_MODE", False),
        "manifest_path": PORTAL_DIST / ".vite" / "manifest.json",
    }
}
# Origins of IDP pages allowed to frame the portal's ?embed=1 route (CSP frame-ancestors).
# Empty: no page may frame it (frame-ancestors 'none', X-Frame-Options DENY, like every other page).
PORTAL_EMBED_ORIGINS = env_list("PORTAL_EMBED_ORIGINS", [])
for _origin in PORTAL_EMBED_ORIGINS:  # written into a CSP header: nothing but an origin
    if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", _origin):
        raise ImproperlyConfigured(f"PORTAL_EMBED_ORIGINS: {_origin!r} is not an origin like https://idp.example.com.")
# A cross-site iframe only gets the session if the cookies are SameSite=None (and Secure).
SESSION_COOKIE_SAMESITE = env_str("SESSION_COOKIE_SAMESITE", "Lax")
CSRF_COOKIE_SAMESITE = env_str("CSRF_COOKIE_SAMESITE", "Lax")
if {SESSION_COOKIE_SAMESITE, CSRF_COOKIE_SAMESITE} - {"Lax", "Strict", "None"}:
    raise ImproperlyConfigured("SESSION_COOKIE_SAMESITE and CSRF_COOKIE_SAMESITE must be Lax, Strict or None.")
# How often an open release page asks whether the release changed (If-None-Match, mostly 304).
PORTAL_POLL_SECONDS = env_float("PORTAL_POLL_SECONDS", 2.0, minimum=0.5)

# --- Security (production defaults; DEBUG relaxes the HTTPS-only ones) -----------
BEHIND_TLS_PROXY = env_bool("BEHIND_TLS_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_TLS_PROXY else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Probes are plain HTTP from the orchestrator, never redirected to HTTPS.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

# --- API -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "gateway_project.tokens.TokenAuthentication",  # hashed, expiring, revocable (GET /api/tokens/)
        "rest_framework.authentication.SessionAuthentication",  # enforces CSRF
    ],
    # Signed in and holding a role (releases/permissions.py READ); stricter views add their own.
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated",
                                   "releases.permissions.CanReadGateway"],
    # JSON only, depth-bounded (releases/api/parsers.py); the size is bounded by DATA_UPLOAD_MAX_MEMORY_SIZE.
    "DEFAULT_PARSER_CLASSES": ["releases.api.parsers.BoundedJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "releases.api.pagination.StandardPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_FILTER_BACKENDS": [
        "releases.api.filters.FilterBackend",  # django-filter's, not building a FilterSet that filters nothing
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {"user": env_str("API_THROTTLE_USER", "600/minute")},
    "DEFAULT_THROTTLE_CLASSES": ["releases.api.throttling.UserRateThrottle"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Model Release Gateway API",
    "DESCRIPTION": "Release models from the MLflow Model Registry to production images, "
    "gated by dependency scans, policy and approvals.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # One enum for every status field (status, from_status, to_status).
    "ENUM_NAME_OVERRIDES": {"ReleaseStatusEnum": "releases.statuses.Status"},
    # The errors every operation can answer, in one place (releases/api/schema.py).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "releases.api.schema.add_error_responses"],
    # /api/docs/ loads Swagger UI from our own static files (drf-spectacular-sidecar), not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# How long "may this user read?" is remembered (it costs two queries): a role taken away stops
# reading within this many seconds. Tokens are checked on every request (revocation is immediate).
READ_ACCESS_CACHE_SECONDS = env_int("READ_ACCESS_CACHE_SECONDS", 10, minimum=0)

# API tokens: how long a new one lasts unless its owner asks for less, and the most they may ask for.
API_TOKEN_DAYS = env_int("API_TOKEN_DAYS", 90, minimum=1)
API_TOKEN_MAX_DAYS = env_int("API_TOKEN_MAX_DAYS", 365, minimum=1)
if API_TOKEN_DAYS > API_TOKEN_MAX_DAYS:
    raise ImproperlyConfigured("API_TOKEN_DAYS must not exceed API_TOKEN_MAX_DAYS.")

# --- Task queue (django-q2, ORM broker) -----------------------------------------------
# A task may be delivered again after `retry` seconds if it was not acknowledged
# (worker killed). `timeout` < `retry` means a live task is never delivered twice
# while still running. A dead worker is not waited for until `retry`, though: a step
# holds its release with a short lease that a heartbeat renews (releases/leases.py);
# once it expires, releases.jobs.resume_stalled (every ~30 s, gateway_project/schedules.py) queues the
# step again. A duplicate that django-q2 redelivers later finds nothing to do.
TASK_TIMEOUT_SECONDS = env_int("TASK_TIMEOUT_SECONDS", 120, minimum=10)
TASK_RETRY_SECONDS = env_int("TASK_RETRY_SECONDS", TASK_TIMEOUT_SECONDS + 60, minimum=11)
if TASK_RETRY_SECONDS <= TASK_TIMEOUT_SECONDS:
    raise ImproperlyConfigured("TASK_RETRY_SECONDS must be greater than TASK_TIMEOUT_SECONDS.")
RELEASE_LEASE_SECONDS = env_int("RELEASE_LEASE_SECONDS", 20, minimum=3)
LEASE_RENEW_SECONDS = RELEASE_LEASE_SECONDS / 4  # three beats may be missed before the lease expires
Q_CLUSTER = {
    # The queue's name, and the salt its tasks are signed with: the same in every process of one
    # gateway; different for two gateways that share one broker.
    "name": env_str("TASK_QUEUE_NAME", "gateway"),
    "orm": "default",
    "workers": env_int("WORKER_PROCESSES", 2, minimum=1),
    "timeout": TASK_TIMEOUT_SECONDS,
    "retry": TASK_RETRY_SECONDS,
    "max_attempts": env_int("TASK_MAX_ATTEMPTS", 3, minimum=1),
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "poll": env_float("TASK_POLL_SECONDS", 0.5, minimum=0.05),
    "sync": env_bool("TASKS_RUN_INLINE", False),
}
if TASK_BROKER == "redis":
    # Several clusters on several machines share one queue. Redis pops a task once and never
    # redelivers it: a release whose worker died is found by its expired lease (releases.jobs).
    Q_CLUSTER.pop("orm")
    Q_CLUSTER["redis"] = REDIS_URL
# /readyz reports not ready when no cluster heartbeat is younger than this.
WORKER_HEARTBEAT_MAX_AGE_SECONDS = env_int("WORKER_HEARTBEAT_MAX_AGE_SECONDS", 60, minimum=5)

# --- MLflow ----------------------------------------------------------------------
MLFLOW_TRACKING_URI = env_str("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
# Bounds on every MLflow call: per-request timeout, retries and backoff, and a
# deadline on the whole fetch step (so a dead server fails the step in ~30 s,
# not MLflow's default ~4 minutes).
MLFLOW_REQUEST_TIMEOUT_SECONDS = env_int("MLFLOW_REQUEST_TIMEOUT_SECONDS", 5, minimum=1)
MLFLOW_MAX_RETRIES = env_int("MLFLOW_MAX_RETRIES", 2, minimum=0)
MLFLOW_BACKOFF_FACTOR = env_int("MLFLOW_BACKOFF_FACTOR", 1, minimum=0)
MLFLOW_STEP_DEADLINE_SECONDS = env_int("MLFLOW_STEP_DEADLINE_SECONDS", 30, minimum=1)
MLFLOW_MAX_FILE_BYTES = env_int("MLFLOW_MAX_FILE_BYTES", 1024 * 1024, minimum=1)
# The model's own files (releases/model_files.py): every artifact of the version is listed, refused
# before any download when a file or the total is over these, then downloaded streamed and scanned,
# all within MODEL_FILES_DEADLINE_SECONDS: by default two thirds of the task's time (80 s of 120), so the
# step ends before its task is killed, with the rest for the environment files and recording.
MODEL_MAX_FILE_BYTES = env_int("MODEL_MAX_FILE_BYTES", 2 * 1024**3, minimum=1)
MODEL_MAX_TOTAL_BYTES = env_int("MODEL_MAX_TOTAL_BYTES", 2 * 1024**3, minimum=1)
MODEL_MAX_FILES = env_int("MODEL_MAX_FILES", 10_000, minimum=1)
MODEL_FILES_DEADLINE_SECONDS = env_int("MODEL_FILES_DEADLINE_SECONDS", TASK_TIMEOUT_SECONDS * 2 // 3, minimum=1)
# The dry run downloads and scans in the web request: a tighter bound (gunicorn kills a worker after 30 s).
DRY_RUN_MODEL_FILES_DEADLINE_SECONDS = env_int("DRY_RUN_MODEL_FILES_DEADLINE_SECONDS", 20, minimum=1)
if MODEL_FILES_DEADLINE_SECONDS >= TASK_TIMEOUT_SECONDS:
    raise ImproperlyConfigured("MODEL_FILES_DEADLINE_SECONDS must be less than TASK_TIMEOUT_SECONDS (the fetch "
                               "step must end before its task is killed).")

# --- Dependency scanning ------------------------------------------------------------------
DEPENDENCY_SCANNER = env_str("DEPENDENCY_SCANNER", "builtin")
if DEPENDENCY_SCANNER not in ("builtin", "trivy"):
    raise ImproperlyConfigured("DEPENDENCY_SCANNER must be 'builtin' or 'trivy'.")
TRIVY_PATH = env_str("TRIVY_PATH", "trivy")
TRIVY_TIMEOUT_SECONDS = env_int("TRIVY_TIMEOUT_SECONDS", 60, minimum=1)
TRIVY_EXTRA_ARGS = env_list("TRIVY_EXTRA_ARGS", [])  # e.g. --skip-db-update,--offline-scan
# A directory or OSV export zip synced on a schedule (empty: sync only by command).
ADVISORY_SYNC_SOURCE = env_str("ADVISORY_SYNC_SOURCE", "")
ADVISORY_SYNC_INTERVAL_HOURS = env_int("ADVISORY_SYNC_INTERVAL_HOURS", 6, minimum=1)

# --- Dependency lock (releases/locking) ----------------------------------------------------------
# The fetch step resolves a model's pip requirements into a hashed lock with uv, from this index only
# (normally the company's mirror; credentials in the URL are never stored or shown). Empty: nothing is
# resolved (an environment whose policy requires a lock then fails its fetch step, configuration error).
PACKAGE_INDEX_URL = env_str("PACKAGE_INDEX_URL", "")
UV_PATH = env_str("UV_PATH", str(Path(sys.executable).with_name("uv")))  # the venv's, by absolute path
DEPENDENCY_LOCK_PLATFORM = env_str("DEPENDENCY_LOCK_PLATFORM", "x86_64-manylinux_2_28")  # uv's target name
# uv's whole run; with MLFLOW_STEP_DEADLINE_SECONDS it should stay under TASK_TIMEOUT_SECONDS (one task does both).
DEPENDENCY_LOCK_TIMEOUT_SECONDS = env_int("DEPENDENCY_LOCK_TIMEOUT_SECONDS", 60, minimum=1)
DEPENDENCY_LOCK_MAX_BYTES = env_int("DEPENDENCY_LOCK_MAX_BYTES", 4 * 1024 * 1024, minimum=1024)
DEPENDENCY_LOCK_MAX_PACKAGES = env_int("DEPENDENCY_LOCK_MAX_PACKAGES", 1000, minimum=1)
DEPENDENCY_LOCK_CACHE_DIR = Path(env_str("DEPENDENCY_LOCK_CACHE_DIR", str(VAR_DIR / "uv-cache")))  # uv's, its own

# --- Builds ----------------------------------------------------------------------------------
# Secrets that sign build callbacks (comma-separated: the first signs outbound requests,
# all are accepted inbound, so a secret can be rotated). Empty: callbacks are refused.
BUILD_CALLBACK_SECRETS = env_list("BUILD_CALLBACK_SECRETS", [])
# Which backend builds approved releases: "webhook" or "gitlab"; empty = releases rest at
# APPROVED.
BUILD_BACKEND = env_str("BUILD_BACKEND", "")
if BUILD_BACKEND not in ("", "local", "webhook", "gitlab"):
    raise ImproperlyConfigured("BUILD_BACKEND must be empty, 'local', 'webhook' or 'gitlab'.")
# local backend: buildah (vfs storage) pushing to BUILD_REGISTRY (host:port/namespace).
BUILD_REGISTRY = env_str("BUILD_REGISTRY", "")
BUILD_REGISTRY_TLS_VERIFY = env_bool("BUILD_REGISTRY_TLS_VERIFY", True)
# The gateway's own calls to BUILD_REGISTRY (releases.registry: promotion by digest, attestations).
# Credentials are sent only to BUILD_REGISTRY's host (and the token service it names); empty = anonymous.
BUILD_REGISTRY_USERNAME = env_str("BUILD_REGISTRY_USERNAME", "")
BUILD_REGISTRY_PASSWORD = env_str("BUILD_REGISTRY_PASSWORD", "")  # or a token; also from _FILE
BUILD_REGISTRY_TIMEOUT_SECONDS = env_int("BUILD_REGISTRY_TIMEOUT_SECONDS", 15, minimum=1)
# The base of every locally built image, by digest (a tag can move): `manage.py build_base_image` makes the
# default one here (Debian 12 minbase with Python) and prints its reference. "scratch" is the one exception:
# a files-only image with no Python and no server, which is never smoke-tested, so an environment whose
# policy requires a smoke test refuses it. Empty: the local backend refuses to build.
BUILD_BASE_IMAGE = env_str("BUILD_BASE_IMAGE", "")
if BUILD_BASE_IMAGE not in ("", "scratch") and not re.fullmatch(r"[a-z0-9][^@\s]*@sha256:[0-9a-f]{64}",
                                                                  BUILD_BASE_IMAGE):
    raise ImproperlyConfigured(
        f"BUILD_BASE_IMAGE must name an image by digest (name@sha256:<64 hex>), not {BUILD_BASE_IMAGE[:200]!r}: "
        "a tag can be moved to another image after it was scanned. `manage.py build_base_image` makes a local "
        "base and prints its reference; 'scratch' builds a files-only image that cannot serve.")
# Where build_base_image keeps its root file system tarball (outside the checkout, so fresh clones on the same
# machine reuse it) and where it records the base it pushed.
CACHE_HOME = Path(env_str("GATEWAY_CACHE_DIR", str(Path.home() / ".cache" / "model-release-gateway")))
BUILD_BASE_CACHE_DIR = CACHE_HOME / "base"
BUILD_BASE_RECORD = Path(env_str("BUILD_BASE_RECORD", str(VAR_DIR / "base-image.json")))
# Wheels of locked packages, downloaded once (checked against the lock's hashes on every install).
BUILD_WHEEL_CACHE_DIR = CACHE_HOME / "wheels"
# The OS packages read from each base image, by its digest (releases/scanning/os_inventory.py).
OS_INVENTORY_CACHE_DIR = CACHE_HOME / "os-inventory"
# Dependency images (base + a lock's venv, a few hundred MB each) kept in buildah's storage for reuse.
BUILD_DEPENDENCY_IMAGES_KEPT = env_int("BUILD_DEPENDENCY_IMAGES_KEPT", 4, minimum=1)
# The serving image: MLflow's scoring server on this port (ExposedPorts), as this user (never root).
SERVING_PORT = env_int("SERVING_PORT", 8080, minimum=1)
# The scoring server of a model that declares neither mlflow nor mlflow-skinny (releases.locking.runtime).
SERVING_MLFLOW_VERSION = env_str("SERVING_MLFLOW_VERSION", "3.17.2")
# The smoke test of every locally built image (releases.builds.smoke): from start to a prediction, and memory.
SMOKE_TEST_TIMEOUT_SECONDS = env_int("SMOKE_TEST_TIMEOUT_SECONDS", 120, minimum=5)
SMOKE_TEST_MEMORY_MB = env_int("SMOKE_TEST_MEMORY_MB", 4096, minimum=256)
BUILDAH_ROOT = Path(env_str("BUILDAH_ROOT", str(VAR_DIR / "buildah")))
# overlay: a container costs no copy of its image (vfs copies all of it: 29 s for a 700 MB image, measured).
BUILDAH_STORAGE_DRIVER = env_str("BUILDAH_STORAGE_DRIVER", "overlay")
if BUILDAH_STORAGE_DRIVER not in ("overlay", "vfs"):
    raise ImproperlyConfigured("BUILDAH_STORAGE_DRIVER must be 'overlay' or 'vfs'.")
BUILD_MAX_MODEL_BYTES = env_int("BUILD_MAX_MODEL_BYTES", 2 * 1024**3, minimum=1)
BUILD_STEP_TIMEOUT_SECONDS = env_int("BUILD_STEP_TIMEOUT_SECONDS", 60, minimum=1)
BUILD_CALLBACK_URL = env_str("BUILD_CALLBACK_URL", "")  # our public /api/builds/callback/ URL, sent to CI
BUILD_WEBHOOK_URL = env_str("BUILD_WEBHOOK_URL", "")
GITLAB_URL = env_str("GITLAB_URL", "")
GITLAB_PROJECT_ID = env_str("GITLAB_PROJECT_ID", "")
GITLAB_TRIGGER_TOKEN = env_str("GITLAB_TRIGGER_TOKEN", "")
GITLAB_REF = env_str("GITLAB_REF", "main")
BUILD_TRIGGER_TIMEOUT_SECONDS = env_int("BUILD_TRIGGER_TIMEOUT_SECONDS", 10, minimum=1)
BUILD_TRIGGER_RETRIES = env_int("BUILD_TRIGGER_RETRIES", 2, minimum=0)
BUILD_TIMEOUT_MINUTES = env_int("BUILD_TIMEOUT_MINUTES", 60, minimum=1)
# local backend: a builder that stops its heartbeat (RELEASE_LEASE_SECONDS) is interrupted and its
# build started again; after this many interrupted attempts in a row the release fails (step build).
BUILD_MAX_INTERRUPTIONS = env_int("BUILD_MAX_INTERRUPTIONS", 3, minimum=1)

# --- Release attestations ---------------------------------------------------------------------
# The Ed25519 private key (PEM, PKCS#8, no password) that signs every release attestation: in the
# variable, or in the file ATTESTATION_SIGNING_KEY_FILE names. Never in the database. Empty with a
# build backend and DEBUG off is a start-up error (releases.evidence.checks); with DEBUG on a
# development key is made under var/.
ATTESTATION_SIGNING_KEY = env_str("ATTESTATION_SIGNING_KEY", "")

# --- Policy -------------------------------------------------------------------------------
WAIVER_MAX_DAYS = env_int("WAIVER_MAX_DAYS", 90, minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"quiet_outage": {"()": "gateway_project.errors.QuietOutageFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"filters": ["quiet_outage"]}},
}
