"""GET /api/me/: who the caller is and what they may do, so the portal shows only what will work.

The answers come from the same functions the actions check (permissions.py, waivers.py); showing a
button is a courtesy, and every action is still refused by its own endpoint when not allowed.
"""
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from releases import permissions, waivers


class MeView(APIView):
    permission_classes = [IsAuthenticated]  # an account without a role learns that it has none

    @extend_schema(responses={200: None})
    def get(self, request):
        user = request.user
        return Response({
            "username": user.get_username(),
            "name": user.get_full_name() or user.get_username(),
            "groups": sorted(user.groups.values_list("name", flat=True)),
            "can_read": permissions.can_read(user),
            "can_request": user.has_perm(permissions.REQUEST),
            "can_manage_any": user.has_perm(permissions.MANAGE_ANY),
            "is_security_officer": waivers.is_security_officer(user),
            "is_staff": user.is_staff,
        })
