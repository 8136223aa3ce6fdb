"""The per-user API rate limit (API_THROTTLE_USER), counted in the "requests" cache.

Not the database cache: counting there cost 5 of the 8 queries of a polled release and most of
a list request's. Without REDIS_URL the count is per process (each gunicorn worker allows the
rate; the limit is a brake on runaway scripts, not a quota). With REDIS_URL it is shared.
"""
from django.core.cache import caches
from rest_framework import throttling


class UserRateThrottle(throttling.UserRateThrottle):
    cache = caches["requests"]
