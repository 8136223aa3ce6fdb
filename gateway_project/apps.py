from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class GatewayProjectConfig(AppConfig):
    """The project as an app: it wires what belongs to no single app (the schedule table)."""

    name = "gateway_project"
    verbose_name = "Gateway"

    def ready(self):
        from gateway_project import schedules

        # Once per migrate: post_migrate is sent for each app with models, and django_q owns Schedule.
        post_migrate.connect(schedules.apply, sender=apps.get_app_config("django_q"),
                             dispatch_uid="gateway-schedules")
