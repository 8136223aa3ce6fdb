"""The OpenAPI schema tells the truth: schemathesis generates requests for every operation of the
schema the gateway serves at /api/schema/ and checks each answer against it (no 5xx; status codes,
content types, headers and bodies as documented). Bounded: EXAMPLES_PER_OPERATION examples per
operation, derandomized, so a run takes the same time and finds the same things every time.

In process (Django's WSGI app, the test database, the session's real MLflow server), as a user who
holds every role, so each operation's allowed paths are reached, not only its 403.
"""
import json
from datetime import timedelta

import pytest
import schemathesis
from django.contrib.auth.models import Group
from django.core import signals
from django.db import close_old_connections
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from gateway_project import tokens
from gateway_project.wsgi import application
from releases.statuses import Status
from tests.factories import make_release
from tests.osv_records import DEFAULT_SET, sync_records

EXAMPLES_PER_OPERATION = 25
ALL_ROLES = ["requesters", "ml-leads", "security-officers", "sre", "auditors", "platform-admins"]

# Which operations there are, from the generator at collection (no database yet); each test
# then checks its operation against the schema the running gateway serves at /api/schema/.
_GENERATED = schemathesis.openapi.from_dict(
    json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True))))
_ALL = [result.ok() for result in _GENERATED.get_all_operations()]
OPERATIONS = [(op.path, op.method.upper()) for op in _ALL]
# Negative cases need something to get wrong: a query parameter, a header or a body.
WITH_INPUT = {(op.path, op.method.upper()) for op in _ALL
              if any(p.get("in") in ("query", "header") for p in op.definition.raw.get("parameters", []))
              or "requestBody" in op.definition.raw}
CASES = [(path, method, mode) for path, method in OPERATIONS for mode in GenerationMode
         if mode == GenerationMode.POSITIVE or (path, method) in WITH_INPUT]


@pytest.fixture
def in_test_transaction():
    """Django's WSGI handler closes the database connection after each request; inside a test that
    would end the test's transaction. Django's own test client disconnects the same signals."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def auth_headers(db, in_test_transaction, use_mlflow, tmp_path, django_user_model, settings):
    settings.BUILD_CALLBACK_SECRETS = ["schemathesis-callback-secret-0123456789"]
    user = django_user_model.objects.create_user("schemathesis", password="pw-schemathesis-123")
    user.groups.add(*Group.objects.filter(name__in=ALL_ROLES))
    sync_records(tmp_path / "osv", DEFAULT_SET)
    for status in (Status.PENDING, Status.FAILED, Status.AWAITING_APPROVAL, Status.SUCCEEDED):
        make_release(user, status=status)  # ids exist for the path parameters to hit
    _token, raw = tokens.issue(user, "schemathesis")
    return {"Authorization": f"Token {raw}"}


def realistic(case):
    """Values the schema cannot state: an environment is one that exists (its names are data, not
    schema), and a waiver expires in the future. Everything else is as generated."""
    if isinstance(case.body, dict):
        for field in ("environment", "target_environment"):
            if isinstance(case.body.get(field), str):
                case.body[field] = "canary"
        if isinstance(case.body.get("expires_at"), str):
            case.body["expires_at"] = (timezone.now() + timedelta(days=7)).isoformat()
    return case


def test_the_schema_is_the_one_served(api):
    served = api.get("/api/schema/?format=json").json()
    assert sorted(served["paths"]) == sorted({path for path, _method in OPERATIONS})


@pytest.mark.parametrize("path,method,mode", CASES, ids=[f"{m} {p} {mode.value}" for p, m, mode in CASES])
def test_every_operation_answers_as_documented(path, method, mode, auth_headers):
    """Positive: schema-valid requests are accepted. Negative: schema-invalid ones are refused (4xx).
    Both: never a 5xx, and every answer is one the schema documents."""
    served = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application, headers=auth_headers)
    operation = served[path][method]

    strategy = operation.as_strategy(generation_mode=mode)
    # Only valid cases are made realistic: "fixing" a field of a negative case could make it valid.
    @given(case=strategy.map(realistic) if mode == GenerationMode.POSITIVE else strategy)
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case):
        case.call_and_validate(headers=auth_headers)

    check()
