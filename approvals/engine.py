"""Where a release stands in its approval chain: which stages are satisfied, who may decide now.

A stage is satisfied when every rule has its count of approvals from members of its
group, with each person counting once (a person in two groups fills one slot): that is
a bipartite matching of approvers to rule slots. Only decisions bound to the release's
latest scan report count.
"""
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model

from approvals.models import ApprovalDecision, ApprovalStage
from releases.models import Release, ScanReport


@dataclass
class StageState:
    stage: ApprovalStage
    rules: list  # [(rule, group_name, required, filled)]
    approvers: list[str] = field(default_factory=list)
    satisfied: bool = False


@dataclass
class ApprovalState:
    report: ScanReport | None
    stages: list[StageState]
    decisions: list[ApprovalDecision]

    @property
    def open_stage(self) -> StageState | None:
        return next((s for s in self.stages if not s.satisfied), None)

    @property
    def complete(self) -> bool:
        return self.report is not None and all(s.satisfied for s in self.stages)


def _match(slots: list[set[int]], candidates: dict[int, set[int]]) -> list[int | None]:
    """Maximum bipartite matching (Kuhn): slot i gets a user whose groups include slots[i]'s group."""
    owner: dict[int, int] = {}  # user -> slot

    def assign(slot: int, seen: set[int]) -> bool:
        for user, groups in candidates.items():
            if user in seen or not (groups & slots[slot]):
                continue
            seen.add(user)
            if user not in owner or assign(owner[user], seen):
                owner[user] = slot
                return True
        return False

    for slot in range(len(slots)):
        assign(slot, set())
    filled: list[int | None] = [None] * len(slots)
    for user, slot in owner.items():
        filled[slot] = user
    return filled


def latest_report(release: Release) -> ScanReport | None:
    return ScanReport.objects.filter(release=release).order_by("-created_at", "-id").first()


def approval_state(release: Release) -> ApprovalState:
    report = latest_report(release)
    stages = list(ApprovalStage.objects.filter(environment_id=release.environment_id)
                  .prefetch_related("rules__group").order_by("order"))
    decisions = list(ApprovalDecision.objects.filter(release=release, scan_report=report)
                     .select_related("user", "stage")) if report else []
    user_ids = {d.user_id for d in decisions if d.approved}
    groups_of = {u.pk: set(u.groups.values_list("pk", flat=True))
                 for u in get_user_model().objects.filter(pk__in=user_ids)}
    names = {d.user_id: d.user.get_username() for d in decisions}
    states = []
    for stage in stages:
        rules = list(stage.rules.all())
        approvers = {d.user_id: groups_of.get(d.user_id, set()) for d in decisions
                     if d.approved and d.stage_id == stage.pk}
        slots = [({rule.group_id}, rule) for rule in rules for _ in range(rule.required_count)]
        filled = _match([s[0] for s in slots], approvers)
        per_rule = [(rule, rule.group.name, rule.required_count,
                     sum(1 for (g, r), user in zip(slots, filled) if r.pk == rule.pk and user is not None))
                    for rule in rules]
        states.append(StageState(stage=stage, rules=per_rule, approvers=sorted(names[u] for u in approvers),
                                 satisfied=all(user is not None for user in filled)))
    return ApprovalState(report=report, stages=states, decisions=decisions)


def is_self(release: Release, user) -> bool:
    """The requester and the MLflow run's author may not approve their own release."""
    return user.pk == release.requested_by_id or (
        bool(release.mlflow_run_author) and user.get_username() == release.mlflow_run_author)


def refusal(release: Release, state: ApprovalState, user) -> str | None:
    """Why `user` may not decide on `release` now (None: they may)."""
    stage = state.open_stage
    if stage is None:
        return "No approval stage is open."
    eligible = {rule.group_id for rule, *_ in stage.rules}
    if not eligible & set(user.groups.values_list("pk", flat=True)):
        return (f"Stage '{stage.stage.name}' needs a member of "
                + " or ".join(sorted(name for _, name, *_ in stage.rules)) + ".")
    if any(d.user_id == user.pk and d.stage_id != stage.stage.pk for d in state.decisions):
        return "You already decided at an earlier stage: one person counts once per release."
    if is_self(release, user) and not release.environment.allow_self_approval:
        return f"You requested this release or authored its MLflow run; {release.environment.name} does not allow self-approval."
    return None
