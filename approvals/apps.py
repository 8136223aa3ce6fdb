from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"
    verbose_name = "Approvals"

    def ready(self):
        # approvals depends on releases, never the reverse: it plugs its step into the pipeline here.
        from approvals.evidence import approvals_for
        from releases import queue
        from releases.evidence import statement
        from releases.statuses import Status

        queue.register_step(Status.SCAN_PASSED, "approvals.tasks.request_approval")
        statement.register_approvals(approvals_for)  # the approvals a release attestation names
