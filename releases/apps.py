from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    name = "releases"
    verbose_name = "Releases"

    def ready(self):
        from releases.evidence import checks  # noqa: F401  (registers the signing-key system check)
