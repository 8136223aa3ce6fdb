"""Third-party admins (django-q2's task lists, django-axes' attempts) with actions that ask for a permission.

Django admin offers an action to everyone who may open the list unless the action names the
permissions it needs. django-q2's "Resubmit selected tasks" names none, so an auditor, who holds
only view permissions, could re-run any stored task and (from Failed tasks) delete the failure
record; axes' "Clean up expired attempts" deletes rows the same way. Re-registered here, each
action requires the permission that matches what it writes. The views themselves already follow
the model permissions (view only: a read-only form).
"""
from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin
from django_q import admin as q_admin
from django_q.models import Failure, Success


@admin.action(description="Resubmit selected tasks to queue", permissions=["resubmit"])
def resubmit_selected(model_admin, request, queryset):
    q_admin.resubmit_task(model_admin, request, queryset)


class _Resubmit:
    """Resubmitting enqueues a task again (an add); from Failed tasks it also deletes the failure."""

    actions = [resubmit_selected]
    deletes_on_resubmit = False

    def has_resubmit_permission(self, request):
        opts = self.opts
        allowed = request.user.has_perm(f"{opts.app_label}.add_{opts.model_name}")
        if self.deletes_on_resubmit:
            allowed = allowed and request.user.has_perm(f"{opts.app_label}.delete_{opts.model_name}")
        return allowed


class SuccessAdmin(_Resubmit, q_admin.TaskAdmin):
    pass


class FailureAdmin(_Resubmit, q_admin.FailAdmin):
    deletes_on_resubmit = True


class AttemptAdmin(AccessAttemptAdmin):
    actions = ["cleanup_expired_attempts"]

    @admin.action(description="Clean up expired attempts", permissions=["delete"])
    def cleanup_expired_attempts(self, request, queryset):
        super().cleanup_expired_attempts(request, queryset)


for model, model_admin in ((Success, SuccessAdmin), (Failure, FailureAdmin), (AccessAttempt, AttemptAdmin)):
    if admin.site.is_registered(model):  # as their apps registered them (axes: AXES_ENABLE_ADMIN)
        admin.site.unregister(model)
        admin.site.register(model, model_admin)
