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
    CASES_REPORT = "cases.report"  # file a report (residents too; staff for callers, patrols)
    CASES_REGISTER = "cases.register"  # register, reject, merge duplicates
    CASES_DISPATCH = "cases.dispatch"
    CASES_HANDLE = "cases.handle"  # take on, report handled, report in to a whistle
    CASES_VERIFY = "cases.verify"
    CASES_CLOSE = "cases.close"
    CASES_ESCALATE = "cases.escalate"
    CASES_WHISTLE = "cases.whistle"  # district command centre: summon departments
    ASSISTANCE_VIEW = "assistance.view"
    ASSISTANCE_APPLY = "assistance.apply"  # file an application (residents for themselves)
    ASSISTANCE_INVESTIGATE = "assistance.investigate"  # household investigation (入户调查)
    ASSISTANCE_ACCEPT = "assistance.accept"  # acceptance by the street (受理)
    ASSISTANCE_DECIDE = "assistance.decide"  # decide at the actor's tier (审核/审批)
    ASSISTANCE_PAY = "assistance.pay"  # prepare payment cycles, import bank returns
    ASSISTANCE_APPROVE_PAYMENT = "assistance.approve_payment"  # the checker of a cycle
    ASSISTANCE_POLICY = "assistance.policy"  # edit policy sets
    ASSISTANCE_SUPERVISE = "assistance.supervise"  # fund supervision findings (阳光监管)
    ASSISTANCE_SIMULATE = "assistance.simulate"  # policy simulation
    MONITORING_VIEW = "monitoring.view"
    MONITORING_VISIT = "monitoring.visit"  # record home visits and key-household follow-ups
    MONITORING_SCREEN = "monitoring.screen"  # start screening rounds (排查)
    MONITORING_IMPORT = "monitoring.import"  # import external signal files
    MONITORING_RULES = "monitoring.rules"  # edit risk rules
    MONITORING_KEY = "monitoring.key"  # list and release key households (重点户)


_FIELD_STAFF = {
    Perm.CASES_VIEW,
    Perm.PLACES_VIEW,
    Perm.PEOPLE_VIEW,
    Perm.PEOPLE_CHANGE,
    Perm.PEOPLE_REVEAL,
    Perm.PEOPLE_EXPORT,
}

# The case loop at the tier a field worker holds (小事不出网格): register, dispatch, handle, close.
_CASE_LOOP = {
    Perm.CASES_REPORT,
    Perm.CASES_REGISTER,
    Perm.CASES_DISPATCH,
    Perm.CASES_HANDLE,
    Perm.CASES_VERIFY,
    Perm.CASES_CLOSE,
    Perm.CASES_ESCALATE,
}

# Assistance at the community: applications for residents and household investigations.
_ASSISTANCE_FIELD = {
    Perm.ASSISTANCE_VIEW,
    Perm.ASSISTANCE_APPLY,
    Perm.ASSISTANCE_INVESTIGATE,
    Perm.MONITORING_VIEW,
    Perm.MONITORING_VISIT,
}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.RESIDENT: frozenset({Perm.CASES_REPORT, Perm.ASSISTANCE_APPLY}),
    Role.GRID_WORKER: frozenset(_FIELD_STAFF | _CASE_LOOP | _ASSISTANCE_FIELD),
    Role.COMMUNITY_WORKER: frozenset(
        _FIELD_STAFF | _CASE_LOOP | _ASSISTANCE_FIELD | {Perm.PEOPLE_IMPORT, Perm.MONITORING_KEY}
    ),
    Role.STREET_OFFICER: frozenset(
        _FIELD_STAFF
        | _CASE_LOOP
        | _ASSISTANCE_FIELD
        | {
            Perm.PEOPLE_IMPORT,
            Perm.PLACES_CHANGE,
            Perm.ASSISTANCE_ACCEPT,
            Perm.ASSISTANCE_DECIDE,
            Perm.ASSISTANCE_PAY,
            Perm.MONITORING_SCREEN,
            Perm.MONITORING_KEY,
            Perm.MONITORING_IMPORT,
        }
    ),
    Role.DEPARTMENT_HANDLER: frozenset(
        {Perm.PLACES_VIEW, Perm.CASES_VIEW, Perm.CASES_HANDLE, Perm.CASES_ESCALATE}
    ),
    Role.CIVIL_AFFAIRS: frozenset(
        _FIELD_STAFF
        | {Perm.PEOPLE_IMPORT, Perm.PEOPLE_EXPORT_FULL, Perm.PLACES_CHANGE, Perm.CASES_REPORT}
        | {
            Perm.ASSISTANCE_VIEW,
            Perm.ASSISTANCE_APPLY,
            Perm.ASSISTANCE_ACCEPT,
            Perm.ASSISTANCE_DECIDE,
            Perm.ASSISTANCE_PAY,
            Perm.ASSISTANCE_APPROVE_PAYMENT,
            Perm.ASSISTANCE_POLICY,
            Perm.ASSISTANCE_SUPERVISE,
            Perm.ASSISTANCE_SIMULATE,
            Perm.MONITORING_VIEW,
            Perm.MONITORING_SCREEN,
            Perm.MONITORING_IMPORT,
            Perm.MONITORING_RULES,
            Perm.MONITORING_KEY,
        }
    ),
    Role.COMMAND_OPERATOR: frozenset(
        {
            Perm.CASES_VIEW,
            Perm.CASES_REPORT,
            Perm.CASES_REGISTER,
            Perm.CASES_DISPATCH,
            Perm.CASES_VERIFY,
            Perm.CASES_CLOSE,
            Perm.CASES_WHISTLE,
            Perm.PLACES_VIEW,
            Perm.PEOPLE_VIEW,
            Perm.PEOPLE_REVEAL,
            Perm.PEOPLE_EXPORT,
        }
    ),
    Role.AUDITOR: frozenset(
        {
            Perm.CASES_VIEW,
            Perm.PLACES_VIEW,
            Perm.PEOPLE_VIEW,
            Perm.PEOPLE_EXPORT,
            Perm.AUDIT_VIEW,
            Perm.ASSISTANCE_VIEW,
            Perm.ASSISTANCE_SUPERVISE,
            Perm.MONITORING_VIEW,
        }
    ),
    Role.ADMIN: frozenset({v for k, v in vars(Perm).items() if k.isupper() and isinstance(v, str)}),
}

STAFF_ROLES = frozenset(set(Role) - {Role.RESIDENT})
