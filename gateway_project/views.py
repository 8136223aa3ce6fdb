from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from releases.models import Release


@login_required
def home(request):
    """Landing page: where things are, until the React portal takes over this URL."""
    recent = Release.objects.select_related("environment", "requested_by")[:20]
    return render(request, "home.html", {"recent": recent})
