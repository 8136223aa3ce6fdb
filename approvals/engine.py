"""Where a release stands in its approval chain: which stages are satisfied, who may decide now.

A stage is satisfied when every rule has its count of approvals from members of its
group, with each person counting once (a person in two groups fills one slot): that is
a bipartite matching of approvers to rule slots. Only decisions bound to the release's
latest scan report count.
"""
from collections import defaultdict
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


def group_ids(user) -> set[int]:
    return set(user.groups.values_list("pk", flat=True))


def approval_state(release: Release) -> ApprovalState:
    return approval_states([release])[release.pk]


def approval_states(releases: list[Release]) -> dict[int, ApprovalState]:
    """The state of each release, in six queries however many releases (the pending list needs that)."""
    reports = {r.release_id: r for r in ScanReport.objects.latest_per_release()
               .filter(release_id__in=[r.pk for r in releases]).only("id", "release_id", "created_at")}
    stages: dict[int, list[ApprovalStage]] = defaultdict(list)
    for stage in (ApprovalStage.objects.filter(environment_id__in={r.environment_id for r in releases})
                  .prefetch_related("rules__group").order_by("order")):
        stages[stage.environment_id].append(stage)
    decisions: dict[int, list[ApprovalDecision]] = defaultdict(list)
    for decision in (ApprovalDecision.objects.filter(scan_report_id__in=[r.pk for r in reports.values()])
                     .select_related("user", "stage")):
        decisions[decision.release_id].append(decision)
    approvers = {d.user_id for ds in decisions.values() for d in ds if d.approved}
    groups_of: dict[int, set[int]] = defaultdict(set)
    for user_id, group_id in (get_user_model().groups.through.objects.filter(user_id__in=approvers)
                              .values_list("user_id", "group_id")):
        groups_of[user_id].add(group_id)
    return {r.pk: _state(reports.get(r.pk), stages[r.environment_id], decisions[r.pk], groups_of) for r in releases}


def _state(report: ScanReport | None, stages: list[ApprovalStage], decisions: list[ApprovalDecision],
           groups_of: dict[int, set[int]]) -> ApprovalState:
    names = {d.user_id: d.user.get_username() for d in decisions}
    states = []
    for stage in stages:
        rules = list(stage.rules.all())
        approvers = {d.user_id: groups_of.get(d.user_id, set()) for d in decisions
                     if d.approved and d.stage_id == stage.pk}
        slots = [({rule.group_id}, rule) for rule in rules for _ in range(rule.required_count)]
        filled = _match([s[0] for s in slots], approvers)
        per_rule = [(rule, rule.group.name, rule.required_count,
                     sum(1 for (g, r), user in zip(slots, filled, strict=True) if r.pk == rule.pk and user is not None))
                    for rule in rules]
        states.append(StageState(stage=stage, rules=per_rule, approvers=sorted(names[u] for u in approvers),
                                 satisfied=all(user is not None for user in filled)))
    return ApprovalState(report=report, stages=states, decisions=decisions)


def is_self(release: Release, user) -> bool:
    """The requester and the MLflow run's author may not approve their own release."""
    return user.pk == release.requested_by_id or (
        bool(release.mlflow_run_author) and user.get_username() == release.mlflow_run_author)


def refusal(release: Release, state: ApprovalState, user, groups: set[int] | None = None) -> str | None:
    """Why `user` (a member of `groups`, looked up when not given) may not decide on `release` now (None: they may)."""
    stage = state.open_stage
    if stage is None:
        return "No approval stage is open."
    eligible = {rule.group_id for rule, *_ in stage.rules}
    if not eligible & (group_ids(user) if groups is None else groups):
        return (f"Stage '{stage.stage.name}' needs a member of "
                + " or ".join(sorted(name for _, name, *_ in stage.rules)) + ".")
    if any(d.user_id == user.pk and d.stage_id != stage.stage.pk for d in state.decisions):
        return "You already decided at an earlier stage: one person counts once per release."
    if is_self(release, user) and not release.environment.allow_self_approval:
        return (f"You requested this release or authored its MLflow run; {release.environment.name} "
                "does not allow self-approval.")
    return None
