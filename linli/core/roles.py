"""Roles (角色) and what each may do. Jurisdiction is separate: see scoping.py."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    RESIDENT = "resident", _("Resident")
    GRID_WORKER = "grid_worker", _("Grid worker")
    COMMUNITY_WORKER = "community_worker", _("Community worker")
    STREET_OFFICER = "street_officer", _("Street officer")
    DEPARTMENT_HANDLER = "department_handler", _("Department handler")
    CIVIL_AFFAIRS = "civil_affairs", _("Civil-affairs officer")
    COMMAND_OPERATOR = "command_operator", _("Command-centre operator")
    AUDITOR = "auditor", _("Auditor")
    ADMIN = "admin", _("Administrator")


class Perm:
    """Permission codes; scoping still limits every one of them to the actor's places."""

    PLACES_VIEW = "places.view"
    PLACES_CHANGE = "places.change"
    PEOPLE_VIEW = "people.view"
    PEOPLE_CHANGE = "people.change"
    PEOPLE_REVEAL = "people.reveal"  # see a full ID number / phone, logged each time
    PEOPLE_IMPORT = "people.import"
    PEOPLE_EXPORT = "people.export"
    PEOPLE_EXPORT_FULL = "people.export_full"  # unmasked export, logged
    AUDIT_VIEW = "audit.view"  # search the whole audit log of the jurisdiction
    CASES_VIEW = "cases.view"


_FIELD_STAFF = {
    Perm.CASES_VIEW,
    Perm.PLACES_VIEW,
    Perm.PEOPLE_VIEW,
    Perm.PEOPLE_CHANGE,
    Perm.PEOPLE_REVEAL,
    Perm.PEOPLE_EXPORT,
}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.RESIDENT: frozenset(),
    Role.GRID_WORKER: frozenset(_FIELD_STAFF),
    Role.COMMUNITY_WORKER: frozenset(_FIELD_STAFF | {Perm.PEOPLE_IMPORT}),
    Role.STREET_OFFICER: frozenset(_FIELD_STAFF | {Perm.PEOPLE_IMPORT, Perm.PLACES_CHANGE}),
    Role.DEPARTMENT_HANDLER: frozenset({Perm.PLACES_VIEW}),
    Role.CIVIL_AFFAIRS: frozenset(
        _FIELD_STAFF | {Perm.PEOPLE_IMPORT, Perm.PEOPLE_EXPORT_FULL, Perm.PLACES_CHANGE}
    ),
    Role.COMMAND_OPERATOR: frozenset(
        {
            Perm.CASES_VIEW,
            Perm.PLACES_VIEW,
            Perm.PEOPLE_VIEW,
            Perm.PEOPLE_REVEAL,
            Perm.PEOPLE_EXPORT,
        }
    ),
    Role.AUDITOR: frozenset(
        {Perm.CASES_VIEW, Perm.PLACES_VIEW, Perm.PEOPLE_VIEW, Perm.PEOPLE_EXPORT, Perm.AUDIT_VIEW}
    ),
    Role.ADMIN: frozenset({v for k, v in vars(Perm).items() if k.isupper() and isinstance(v, str)}),
}

STAFF_ROLES = frozenset(set(Role) - {Role.RESIDENT})
