"""Reads behind the eligibility check (资格测算), for the API and the page: which policy, which
household, and the checks a hand-written household must pass before the engine sees it.
Nothing here writes: an assessment is stored only by an application's decision."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from linli.core.api import MAX_ID
from linli.core.errors import NotFound, PermissionDenied, ValidationFailed
from linli.core.models import User
from linli.core.roles import Perm
from linli.core.scoping import under_any
from linli.people.models import Household

from . import engine, policies
from .models import PolicyVersion
from .policy import PolicyParameters
from .snapshot import household_snapshot, snapshot_from_payload

__all__ = [
    "assessable_households",
    "check_household",
    "household_assessment",
    "household_for_assessment",
    "options_of",
    "policy_of",
    "snapshot_from_payload",
]


def _require_view(actor: User) -> None:
    if not actor.has_perm_code(Perm.ASSISTANCE_VIEW):
        raise PermissionDenied()


def assessable_households(actor: User) -> QuerySet[Household]:
    """Households of the actor's jurisdiction (assistance staff, whatever their people rights)."""
    _require_view(actor)
    households = Household.objects.all()
    if actor.is_resident:
        return households.none()
    if actor.sees_everything:
        return households
    return households.filter(under_any(actor.scope_paths))


def household_for_assessment(actor: User, household_id: Any) -> Household:
    """The household by id within the jurisdiction; outside it the same 404 as missing."""
    try:
        pk = int(household_id)
        if not 1 <= pk <= MAX_ID:
            raise NotFound()
        return assessable_households(actor).get(pk=pk)
    except (Household.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None


def household_assessment(
    *,
    actor: User,
    household_id: Any,
    on: dt.date | None = None,
    programs: Iterable[str] | None = None,
    **options: Any,
) -> tuple[engine.Assessment, PolicyVersion]:
    """A registered household assessed from the registry on the date (default today) under the
    policy version in force for its place and registration (`policies.NoPolicy` otherwise)."""
    household = household_for_assessment(actor, household_id)
    on = on or timezone.localdate()
    version = policies.version_for(
        place_path=household.place_path, registration=household.registration, on=on
    )
    assessment = engine.assess(
        household_snapshot(household, on), version.params, on, programs=programs, **options
    )
    return assessment, version


def _rekeyed(exc: ValidationFailed, prefix: str) -> ValidationFailed:
    details = {f"{prefix}.{field}": messages for field, messages in exc.details.items()}
    return ValidationFailed(exc.message, details=details)


def policy_of(
    *,
    actor: User,
    version_id: int | None,
    parameters: Mapping[str, Any] | None,
    changes: Mapping[str, Any] | None,
    on: dt.date,
) -> tuple[PolicyParameters, PolicyVersion | None]:
    """The parameters to assess under: a stored version the actor may read (its period must
    hold the date), that version with some figures changed, or a whole inline policy. Errors
    name the field: `on`, `policy.policy_version_id`, `policy.changes.standard`, …"""
    _require_view(actor)
    if version_id is None:
        try:
            return policies.validate_parameters(dict(parameters or {})), None
        except ValidationFailed as exc:
            raise _rekeyed(exc, "policy.parameters") from None
    version = (
        PolicyVersion.objects.select_related("policy_set")
        .restrict(actor, "view")
        .filter(pk=version_id)
        .first()
    )
    if version is None:
        message = _("There is no policy version with this id that you may read.")
        raise ValidationFailed(message, details={"policy.policy_version_id": [message]})
    if on < version.valid_from or (version.valid_to is not None and on > version.valid_to):
        message = _(
            "This policy version holds from %(start)s to %(end)s; assess a date in that period "
            "or choose the version in force on %(on)s."
        ) % {
            "start": version.valid_from.isoformat(),
            "end": version.valid_to.isoformat() if version.valid_to else _("now"),
            "on": on.isoformat(),
        }
        raise ValidationFailed(message, details={"on": [message]})
    if not changes:
        return version.params, version
    try:
        return policies.validate_parameters({**version.parameters, **changes}), version
    except ValidationFailed as exc:
        raise _rekeyed(exc, "policy.changes") from None


def _period_problem(
    record: Mapping[str, Any], start: str, end: str, where: str, problems: dict[str, list[str]]
) -> None:
    if record.get(start) and record.get(end) and record[end] < record[start]:
        problems[f"{where}.{end}"] = [_("The end date cannot be before the start date.")]


def check_household(data: Mapping[str, Any]) -> None:
    """What the schema cannot say of a household written by hand: no member listed twice
    (the same key, or the same name and birth date), periods that end after they start, no
    death before birth. Every problem at once, each naming its field."""
    problems: dict[str, list[str]] = {}
    keys: dict[str, int] = {}
    persons: dict[tuple[str, dt.date], int] = {}
    for index, member in enumerate(data["members"]):
        where = f"household.members.{index}"
        key = member.get("key") or ""
        identity = (member["name"], member["birth_date"])
        if key and key in keys:
            problems[f"{where}.key"] = [
                _("This member is listed twice (as member %(n)s); list each person once.")
                % {"n": keys[key] + 1}
            ]
        elif identity in persons:
            problems[where] = [
                _("This member is listed twice (as member %(n)s); list each person once.")
                % {"n": persons[identity] + 1}
            ]
        if key:
            keys.setdefault(key, index)
        persons.setdefault(identity, index)
        if member.get("died_on") and member["died_on"] < member["birth_date"]:
            problems[f"{where}.died_on"] = [_("The date of death cannot be before the birth.")]
        for group in ("incomes", "assets", "expenditures"):
            for i, record in enumerate(member.get(group) or ()):
                _period_problem(record, "valid_from", "valid_to", f"{where}.{group}.{i}", problems)
        for i, illness in enumerate(member.get("illnesses") or ()):
            _period_problem(illness, "diagnosed_on", "ended_on", f"{where}.illnesses.{i}", problems)
    if problems:
        field, messages = next(iter(problems.items()))
        raise ValidationFailed(f"{field}: {messages[0]}", details=problems)


def options_of(data: Mapping[str, Any]) -> dict[str, Any]:
    """The engine's options from the API's, leaving out what was not given."""
    return {key: value for key, value in data.items() if value is not None}
