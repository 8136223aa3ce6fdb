"""The generated packages the dependency-lock tests resolve, and the advisory one of them carries."""
import hashlib

from releases.locking import service, shipping
from releases.models import DependencyLock, ReleaseEvent
from releases.statuses import Status
from tests.factories import release_with_files
from tests.osv_records import CRITICAL_V3, record
from tests.package_index import Package

PYTHON_ENV = "python: 3.10.12\nbuild_dependencies: []\ndependencies: [-r requirements.txt]\n"
# The serving runtime every lock gets (releases.locking.runtime), as stand-ins with no dependencies.
RUNTIME = {"mlflow-skinny": "3.17.2", "pandas": "2.2.2"}
RUNTIME_PACKAGES = [Package(name, version) for name, version in RUNTIME.items()]
# toplib -> midlib -> leaflib: three levels, and leaflib 2.5 has a CRITICAL advisory.
PACKAGES = [
    Package("toplib", "1.0", ["midlib>=1.1"]),
    Package("midlib", "1.1", ["leaflib"]),
    Package("midlib", "1.2", ["leaflib<3", "winlib ; sys_platform == 'win32'"]),
    Package("leaflib", "2.0"),
    Package("leaflib", "2.5"),
    Package("winlib", "1.0"),
    Package("Other_Lib", "0.9"),
    Package("needs-old-leaf", "1.0", ["leaflib<2"]),
    Package("buildme", "1.0", wheel=False),  # an sdist only: its setup.py would run if anything built it
    Package("pyonly312", "1.0", requires_python=">=3.12"),
    Package("yamluser", "1.0", ["PyYAML>=5"]),
    Package("PyYAML", "5.3.1"),
    *RUNTIME_PACKAGES,
]
LEAF_ADVISORY = record("GHSA-leaf-0001", "leaflib", [{"introduced": "2.1"}, {"fixed": "2.6"}], vector=CRITICAL_V3,
                       summary="leaflib runs what it reads")
LEAF_LATER = record("GHSA-leaf-0002", "leaflib", [{"introduced": "2.5"}, {"fixed": "2.7"}], vector=CRITICAL_V3,
                    modified="2026-11-01T00:00:00Z")
OTHER_LATER = record("GHSA-mid-0003", "midlib", [{"introduced": "1.2"}, {"fixed": "1.3"}], vector=CRITICAL_V3,
                     modified="2026-11-01T00:00:00Z")


def model_files(requirements: str, python_env: str = PYTHON_ENV) -> dict[str, str]:
    files = {"MLmodel": "flavors:\n  python_function: {}\n", "requirements.txt": requirements}
    if python_env:
        files["python_env.yaml"] = python_env
    return files


def locked_release(owner, requirements: str, knob: str = "warn", python_env: str = PYTHON_ENV):
    """A release in SCANNING_DEPENDENCIES with its files and the lock the fetch step would have stored."""
    files = model_files(requirements, python_env)
    release = release_with_files(owner, **{name.replace(".", "_"): text for name, text in files.items()})
    lock = service.store(release.pk, service.make_lock(files, knob))
    record_fetched_lock(release, lock)
    return release, lock


def record_fetched_lock(release, lock) -> ReleaseEvent:
    """The fetch step's event recording the lock (releases.steps._fetch): every use of the lock is checked
    against it (releases.locking.shipping)."""
    return ReleaseEvent.objects.create(release=release, from_status=Status.PENDING,
                                       to_status=Status.SCANNING_DEPENDENCIES, message="Fetched (test).",
                                       data={shipping.EVENT_KEY: shipping.fetch_record(lock)})


# A lock as uv writes it, for releases made in the test rather than fetched (what canary and production require).
SMALL_LOCK = ("requests==2.32.3 \\\n    --hash=sha256:" + "7" * 64 + "\n    # via -r requirements.in\n")


def with_lock(release, content: str = SMALL_LOCK) -> DependencyLock:
    """The resolved lock the fetch step would have stored for `release`, and its fetch record."""
    lock = service.store(release.pk, DependencyLock(outcome=DependencyLock.Outcome.RESOLVED, content=content,
                                                     package_count=1, python_version="3.10.12",
                                                     platform="x86_64-manylinux_2_28"))
    record_fetched_lock(release, lock)
    return lock


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
