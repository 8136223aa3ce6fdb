"""POST /api/builds/callback/: a build backend reports completion, signed (see releases.signing)."""
import re
import time

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from releases import signing
from releases.api import parsers
from releases.builds.completion import UNNAMED, Outcome, named_build, record_completion

MAX_BODY_BYTES = 64 * 1024
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
SMOKE_FIELDS = ("passed", "pinged", "endpoint", "status", "latency_ms", "ready_seconds", "input_sha256",
                "answer_sha256", "message", "log_tail", "image")


class CallbackSerializer(serializers.Serializer):
    build_id = serializers.IntegerField(required=False, min_value=1)
    release_id = serializers.IntegerField(required=False, min_value=1)
    attempt = serializers.IntegerField(required=False, min_value=1, max_value=32767,
                                       help_text="The build attempt (from the build request); with release_id.")
    status = serializers.ChoiceField(choices=["succeeded", "failed"])
    image_reference = serializers.CharField(required=False, allow_blank=True, max_length=512)
    digest = serializers.CharField(required=False, allow_blank=True, max_length=71)
    log_url = serializers.URLField(required=False, allow_blank=True, max_length=1024)
    message = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    dependency_lock_sha256 = serializers.RegexField(
        r"^[0-9a-f]{64}$", required=False, allow_blank=True,
        help_text="The SHA-256 of the dependency lock the build installed; another than the one sent fails the build.")

    base_image = serializers.RegexField(
        r"^[^@\s]+@sha256:[0-9a-f]{64}$", required=False, allow_blank=True, max_length=512,
        help_text="The base image the build started from, by digest.")
    smoke_test = serializers.DictField(
        required=False, help_text='The smoke test of the pushed digest: {"passed": bool, "endpoint", "status", '
        '"latency_ms", "ready_seconds", "input_sha256", "message"}. Required where the environment\'s policy has '
        'require_smoke_test; one that did not pass fails the build.')

    def validate_smoke_test(self, value: dict) -> dict:
        if not isinstance(value.get("passed"), bool):
            raise serializers.ValidationError('A smoke test says whether it passed: "passed": true or false.')
        kept = {key: value[key] for key in SMOKE_FIELDS if key in value}
        if any(not isinstance(v, (str, int, float, bool)) or (isinstance(v, str) and len(v) > 2000)
               for v in kept.values()):
            raise serializers.ValidationError("Smoke test fields are numbers, booleans or strings of at most "
                                              "2000 characters.")
        return kept

    def validate_digest(self, value: str) -> str:
        if value and not DIGEST_RE.fullmatch(value):
            raise serializers.ValidationError("A digest is 'sha256:' followed by 64 lowercase hex characters.")
        return value

    def validate(self, attrs):
        if named_build(attrs) is None:  # a release id alone would match whichever attempt runs now
            raise serializers.ValidationError({"non_field_errors": [UNNAMED]})
        if attrs["status"] == "succeeded" and not (attrs.get("image_reference") and attrs.get("digest")):
            raise serializers.ValidationError({"digest": ["A succeeded build reports image_reference and digest."]})
        return attrs


class BuildCallbackView(APIView):
    """Authenticated by its HMAC signature, not by a user: no session, so no CSRF either."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    @extend_schema(request=CallbackSerializer, responses={200: None, 400: None, 401: None, 404: None, 409: None})
    def post(self, request):
        raw = request.body
        if len(raw) > MAX_BODY_BYTES:
            return Response({"detail": "Body too large."}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        delivery = request.headers.get("X-Gateway-Delivery")
        try:
            signing.verify(delivery, request.headers.get("X-Gateway-Timestamp"),
                           request.headers.get("X-Gateway-Signature"), raw, settings.BUILD_CALLBACK_SECRETS,
                           now=time.time())
        except signing.SignatureError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_401_UNAUTHORIZED)
        try:
            data = parsers.loads(raw)
        except parsers.JSONBodyError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        body = CallbackSerializer(data=data if isinstance(data, dict) else {})
        body.is_valid(raise_exception=True)
        return completion_response(record_completion(delivery, body.validated_data))


STATUS_CODES = {Outcome.RECORDED: status.HTTP_200_OK, Outcome.REPLAYED: status.HTTP_200_OK,
                Outcome.NO_SUCH_BUILD: status.HTTP_404_NOT_FOUND, Outcome.NOT_RUNNING: status.HTTP_409_CONFLICT}


def completion_response(completion) -> Response:
    body = {"detail": completion.detail}
    if completion.outcome == Outcome.REPLAYED:
        body["replayed"] = True
    elif completion.outcome == Outcome.RECORDED:
        body.update(build=completion.build.pk, state=completion.build.state)
    return Response(body, status=STATUS_CODES[completion.outcome])
