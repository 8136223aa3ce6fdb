"""Release requests, their environments, fetched files and audit trail."""
import json

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from releases import audit_hash
from releases.statuses import Status, Step

SYSTEM_ACTOR = "system"


class Environment(models.Model):
    name = models.SlugField(max_length=64, unique=True)
    order = models.PositiveSmallIntegerField(help_text="Position in the promotion chain.")
    requires_success_in = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="A release here needs a SUCCEEDED release of the same model version there first.",
    )
    description = models.CharField(max_length=255, blank=True)
    min_soak_minutes = models.PositiveIntegerField(
        default=0, help_text="How long the predecessor release must have been SUCCEEDED before promotion here.")
    allow_self_approval = models.BooleanField(
        default=False, help_text="Let the requester or the MLflow run's author approve (audited).")
    approval_ttl_hours = models.PositiveIntegerField(
        default=72, help_text="A release waiting for approval longer than this is rejected.")
    mlflow_alias_on_success = models.CharField(
        max_length=255, blank=True, help_text="Set this alias on the model version once released here (e.g. "
        "'production'), so MLflow shows what is deployed. Failing to set it is an event, not a failure.")

    class Meta:
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return self.name


class Release(models.Model):
    model_name = models.CharField(max_length=256, db_index=True)
    # As requested: "3" for a version, "@champion" for an alias.
    requested_ref = models.CharField(max_length=256)
    model_version = models.CharField(max_length=32, blank=True, help_text="Resolved registry version.")
    mlflow_run_id = models.CharField(max_length=64, blank=True)
    mlflow_source = models.CharField(max_length=1024, blank=True)
    mlflow_download_uri = models.CharField(max_length=1024, blank=True)
    # The MLflow run's metrics and tags at fetch time: the input of the quality gates.
    mlflow_run_metrics = models.JSONField(default=dict, blank=True)
    mlflow_run_tags = models.JSONField(default=dict, blank=True)
    mlflow_run_author = models.CharField(max_length=256, blank=True, help_text="The MLflow run's user_id.")
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="releases")

    # Written only by releases.lifecycle.transition (compare-and-set).
    status = models.CharField(max_length=32, choices=Status.choices, default=Status.PENDING, db_index=True)
    status_message = models.TextField(blank=True)
    failed_step = models.CharField(max_length=16, choices=Step.choices, blank=True)

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="releases")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    image_reference = models.CharField(max_length=512, blank=True)
    image_digest = models.CharField(max_length=71, blank=True)

    # A worker claims the release for one step; a killed worker's claim expires,
    # so the redelivered task can take over (see releases.leases).
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["environment", "status"])]
        permissions = [("manage_any_release", "Can cancel or retry any release")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.model_name}:{self.requested_ref} → {self.environment_id and self.environment.name}"

    @property
    def model_alias(self) -> str:
        return self.requested_ref[1:] if self.requested_ref.startswith("@") else ""


class ReleaseFile(models.Model):
    """An environment file fetched from MLflow, stored verbatim with its hash."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    content = models.TextField()
    fetched_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["release", "name"], name="release_file_unique_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.sha256[:12]})"


class AppendOnlyError(Exception):
    pass


APPEND_ONLY = "Release events are append-only."


class AppendOnlyQuerySet(models.QuerySet):
    """Rows that are evidence: no query changes or removes one. `refusal` says why, in the model's words."""

    refusal = "These rows are append-only."

    def update(self, **kwargs):
        raise AppendOnlyError(self.refusal)

    def delete(self):
        raise AppendOnlyError(self.refusal)

    def bulk_update(self, objs, fields, batch_size=None):
        raise AppendOnlyError(self.refusal)


class EventQuerySet(AppendOnlyQuerySet):
    """Events are only ever added. No query changes or removes one (nor, on PostgreSQL, any SQL:
    migration 0020's trigger); every insert goes through link_to_chain."""

    refusal = APPEND_ONLY

    def bulk_create(self, objs, batch_size=None, **options):
        if options:  # ignore_conflicts would drop links silently, update_conflicts would rewrite events
            raise AppendOnlyError(f"{APPEND_ONLY} bulk_create takes no {', '.join(options)}.")
        objs = list(objs)
        for obj in objs:
            audit_hash.canonical_data(_as_stored(obj.data))
        with transaction.atomic(using=self.db, savepoint=False):
            link_to_chain(objs)
            return super().bulk_create(objs, batch_size=batch_size)


class ReleaseEvent(models.Model):
    """Append-only audit record of one state change or notable fact.

    `data[STAFF_DETAIL]` holds what an operational failure's user-facing message leaves out (a
    server's address, the library's error text): shown in admin, never in the API.

    `sequence` and `chain_hash` chain each event to its release's previous one (releases.audit_hash
    says what is hashed); they, `created_at` and `actor_username` are set by link_to_chain, never by
    the caller; so are the statuses of a note created with to_status=None (the release's status then).
    releases.audit_chain verifies the chains.
    """

    STAFF_DETAIL = "staff_detail"

    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="events")
    from_status = models.CharField(max_length=32, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=32, choices=Status.choices, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The actor's username when the event was written: hashed, so a later rename (or a forged
    # one in the users table) does not change who the log says acted.
    actor_username = models.CharField(max_length=150, blank=True, editable=False)
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    # Set by link_to_chain under the release's lock (not auto_now_add, which would set it again
    # after the hash was computed).
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    sequence = models.PositiveIntegerField(editable=False, help_text="1, 2, 3… within the release.")
    chain_hash = models.CharField(max_length=64, editable=False,
                                  help_text="SHA-256 over this event and the previous event's hash.")

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # The backstop of the release lock: two writers can never both take the same place.
            models.UniqueConstraint(fields=["release", "sequence"], name="release_event_sequence_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status or '∅'} by {self.actor_name}"

    @property
    def actor_name(self) -> str:
        if not self.actor_id:
            return SYSTEM_ACTOR
        return self.actor_username or self.actor.get_username()

    def chained_fields(self) -> dict:
        """What the chain hash covers (see releases.audit_hash), as the database gives it back."""
        return {"release": self.release_id, "sequence": self.sequence, "from_status": self.from_status,
                "to_status": self.to_status, "actor": self.actor_id, "actor_username": self.actor_username,
                "message": self.message, "data": _as_stored(self.data), "created_at": self.created_at}

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnlyError(APPEND_ONLY)
        audit_hash.canonical_data(_as_stored(self.data))  # unhashable data fails here, before any query
        # savepoint=False: no savepoint round trips inside the caller's transaction; a failure
        # here fails that transaction, which is what lifecycle wants anyway.
        with transaction.atomic(using=kwargs.get("using"), savepoint=False):
            link_to_chain([self])
            super().save(*args, **kwargs)

    @classmethod
    def open_chain(cls, release: Release, **fields) -> "ReleaseEvent":
        """Insert the first event of `release`, a row the caller's transaction has just inserted.

        No other transaction can see that row yet: there is no writer to wait for and no predecessor
        to read, so the event takes sequence 1 after GENESIS without link_to_chain's lock and head
        queries (two of a create's round trips). Called on a release that already has events, the
        unique (release, sequence) refuses it and the caller's transaction fails: nothing is linked
        out of order."""
        if transaction.get_autocommit():
            raise transaction.TransactionManagementError(
                "open_chain inserts a release's first event in the transaction that inserted the release.")
        event = cls(release=release, **fields)
        audit_hash.canonical_data(_as_stored(event.data))
        _link(event, (0, audit_hash.GENESIS), _usernames_of([event]))
        super(ReleaseEvent, event).save(force_insert=True)
        return event

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(APPEND_ONLY)


def link_to_chain(events: list[ReleaseEvent]) -> None:
    """Place new events at the end of their releases' chains: the next sequence, the time, the hash.

    The one function every event insert goes through (save and bulk_create); call it inside the
    inserting transaction. Each release row is locked (FOR NO KEY UPDATE: it waits for the other
    writers of that release, lifecycle.transition's UPDATE included, but not for inserts elsewhere
    that merely refer to the release) until the transaction ends, so concurrent writers take turns
    and cannot both link to the same predecessor; the unique (release, sequence) is the backstop.
    The newest link is read in a statement of its own after the lock is granted: in READ COMMITTED
    only a new statement sees what the writer we waited for committed. On SQLite, transactions
    begin IMMEDIATE (settings), which serializes writers the same way.
    """
    releases = sorted({event.release_id for event in events})  # one order for every writer: no deadlock
    statuses = {}
    for release_id in releases:
        statuses.update(Release.objects.select_for_update(no_key=True).filter(pk=release_id).order_by()
                        .values_list("pk", "status"))
    heads = {release_id: ReleaseEvent.objects.filter(release_id=release_id).order_by("-sequence")
             .values_list("sequence", "chain_hash").first() or (0, audit_hash.GENESIS) for release_id in releases}
    usernames = _usernames_of(events)
    for event in events:
        if event.to_status is None:  # a note (lifecycle.record_event): the status as it is now, under the lock
            event.from_status = event.to_status = statuses.get(event.release_id)
        heads[event.release_id] = _link(event, heads[event.release_id], usernames)


def _link(event: ReleaseEvent, head: tuple[int, str], usernames: dict) -> tuple[int, str]:
    """Place `event` after `head` (the newest link's sequence and hash); returns the new head."""
    sequence, previous = head
    event.sequence = sequence + 1
    event.created_at = timezone.now()
    event.actor_username = usernames.get(event.actor_id, "")
    event.chain_hash = audit_hash.chain_hash(event.chained_fields(), previous)
    return event.sequence, event.chain_hash


def _usernames_of(events: list[ReleaseEvent]) -> dict:
    """Usernames now, without a query for actors the caller passed as objects (lifecycle does)."""
    known = {event.actor_id: event.actor.get_username() for event in events
             if event.actor_id and ReleaseEvent.actor.is_cached(event)}
    missing = {event.actor_id for event in events if event.actor_id and event.actor_id not in known}
    if missing:
        user_model = ReleaseEvent.actor.field.related_model
        known.update((pk, name) for pk, name in user_model._default_manager.filter(pk__in=missing)
                     .values_list("pk", user_model.USERNAME_FIELD))
    return known


def _as_stored(data):
    """The data as the database will give it back (tuples as lists, keys as strings), numbers aside:
    releases.audit_hash hashes numbers by value, which no database changes."""
    field = ReleaseEvent._meta.get_field("data")
    return json.loads(json.dumps(data, cls=field.encoder), cls=field.decoder)


class IdempotencyKey(models.Model):
    """Remembers which release a client's Idempotency-Key created."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")]
