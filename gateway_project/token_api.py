"""/api/tokens/: a user's own API tokens. List and revoke with any sign-in; create only from a
signed-in portal session (a password was typed), so a leaked token cannot renew itself."""
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from gateway_project import tokens
from gateway_project.models import ApiToken


class ApiTokenSerializer(serializers.ModelSerializer):
    state = serializers.ChoiceField(choices=["active", "expired", "revoked"], read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "state", "created_at", "expires_at", "last_used_at", "revoked_at"]
        read_only_fields = fields


class NewTokenSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    expires_in_days = serializers.IntegerField(required=False, min_value=1, max_value=36500,
                                               help_text="Default API_TOKEN_DAYS; at most API_TOKEN_MAX_DAYS.")


class IssuedTokenSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The secret: shown this once, never stored.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class ApiTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ApiTokenSerializer
    queryset = ApiToken.objects.none()  # for the schema's path parameter type; get_queryset is what runs
    filter_backends: list = []
    permission_classes = [IsAuthenticated]  # one's own tokens, with or without a role

    def get_queryset(self):
        return tokens.owned_by(self.request.user)  # someone else's token is a 404, like a missing one

    @extend_schema(request=NewTokenSerializer, responses={201: IssuedTokenSerializer, 400: None, 403: None})
    def create(self, request):
        if not isinstance(request.successful_authenticator, SessionAuthentication):
            raise PermissionDenied("Tokens are made from a signed-in portal session, not with another token.")
        body = NewTokenSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            token, raw = tokens.issue(request.user, body.validated_data["name"],
                                      body.validated_data.get("expires_in_days"))
        except tokens.TokenRefused as exc:
            raise ValidationError({"detail": [str(exc)]}) from None
        token.token = raw
        return Response(IssuedTokenSerializer(token).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: ApiTokenSerializer, 404: None})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        return Response(ApiTokenSerializer(tokens.revoke(self.get_object())).data)
