"""Writes to the place tree. Each is atomic, re-checks jurisdiction and writes audit."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from linli.core.audit import save_audited
from linli.core.errors import PermissionDenied, ValidationFailed
from linli.core.models import User
from linli.core.roles import Perm

from .boundaries import boundary_conflicts
from .models import Place

EDITABLE_FIELDS = ("name", "is_rural", "boundary", "lat", "lng")


@transaction.atomic
def place_create(
    *,
    actor: User,
    code: str,
    name: str,
    level: int,
    parent_id: int | None,
    is_rural: bool = False,
    boundary: dict | None = None,
    lat: float | None = None,
    lng: float | None = None,
) -> Place:
    parent = None
    if parent_id is not None:
        # A new place must sit inside the actor's jurisdiction: its parent must be changeable.
        parent = Place.objects.get_for(actor, parent_id, action="change")
    elif not actor.sees_everything or not actor.has_perm_code(Perm.PLACES_CHANGE):
        raise PermissionDenied(_("Only an administrator can create a top-level place."))
    place = Place(
        code=(code or "").strip(),
        name=(name or "").strip(),
        level=level,
        parent=parent,
        is_rural=is_rural,
        boundary=boundary,
        lat=lat,
        lng=lng,
    )
    _refuse_boundary_conflicts(place)
    save_audited(actor=actor, instance=place, before=None)
    return place


@transaction.atomic
def place_update(*, actor: User, place_id: int, **changes: Any) -> Place:
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed(
            _(
                "These fields cannot be changed here: %(fields)s. Codes and parents are fixed once "
                "records hang on a place."
            )
            % {"fields": ", ".join(sorted(unknown))},
            details={f: [_("Cannot be changed.")] for f in sorted(unknown)},
        )
    place = Place.objects.select_for_update().get_for(actor, place_id, action="change")
    before = place.audit_snapshot()
    for name, value in changes.items():
        setattr(place, name, value)
    if "boundary" in changes:
        _refuse_boundary_conflicts(place)
    save_audited(actor=actor, instance=place, before=before)
    return place


def _refuse_boundary_conflicts(place: Place) -> None:
    """A boundary must lie within the one above it and clear of its neighbours' (boundaries.py).

    The parent's row is locked first, so two siblings redrawn at once are checked one after the
    other; places under different parents rely on their parents' boundaries keeping them apart.
    """
    if place.parent_id is not None:
        Place.objects.select_for_update().filter(pk=place.parent_id).exists()
    problems = boundary_conflicts(place)
    if problems:
        raise ValidationFailed(problems[0], details={"boundary": problems})
