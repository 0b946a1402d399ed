"""Place tree browser (地区树), place detail with its map, and the place edit form."""

from __future__ import annotations

import json

from django import forms
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from linli.core.errors import ValidationFailed
from linli.core.models import AuditEntry
from linli.core.pages import add_service_errors, redirect_after_save, requires
from linli.core.roles import Perm
from linli.core.scoping import PATH_SEPARATOR
from linli.people.models import Household, Person

from .models import Place
from .selectors import place_children, place_get_for, place_roots_for
from .services import place_update


@requires(Perm.PLACES_VIEW)
def tree(request: HttpRequest) -> HttpResponse:
    roots = place_roots_for(request.user).annotate(child_count=Count("children")).order_by("path")
    return render(request, "places/tree.html", {"nodes": roots})


@requires(Perm.PLACES_VIEW)
def children(request: HttpRequest, place_id: int) -> HttpResponse:
    """One level of the tree, fetched by htmx when a node is opened."""
    place = place_get_for(request.user, place_id)
    return render(request, "places/_nodes.html", {"nodes": place_children(request.user, place)})


def _ancestors(place: Place, actor) -> list[tuple[Place, bool]]:
    """The chain above a place; only those inside the jurisdiction are links."""
    parts = place.path.split(PATH_SEPARATOR)[:-2]
    prefixes = [PATH_SEPARATOR.join(parts[: i + 1]) + PATH_SEPARATOR for i in range(len(parts))]
    chain = list(Place.objects.filter(path__in=prefixes).order_by("level"))
    visible = set(
        Place.objects.restrict(actor).filter(path__in=prefixes).values_list("pk", flat=True)
    )
    return [(p, p.pk in visible) for p in chain]


@requires(Perm.PLACES_VIEW)
def detail(request: HttpRequest, place_id: int) -> HttpResponse:
    user = request.user
    place = place_get_for(user, place_id)
    kids = list(place_children(user, place))
    shapes = [
        {"name": p.name, "url": reverse("places:detail", args=[p.pk]), "boundary": p.boundary}
        for p in kids
        if p.boundary
    ]
    counts = None
    if user.has_perm_code(Perm.PEOPLE_VIEW):
        counts = {
            "households": Household.objects.filter(
                place_path__under=place.path, status="active"
            ).count(),
            "persons": Person.objects.filter(place_path__under=place.path, status="active").count(),
        }
    context = {
        "place": place,
        "ancestors": _ancestors(place, user),
        "children": kids,
        "counts": counts,
        "can_change": user.has_perm_code(Perm.PLACES_CHANGE),
        "history": AuditEntry.objects.for_object(place).select_related("actor")[:50],
        "map_data": (
            {"boundary": place.boundary, "point": [place.lat, place.lng], "children": shapes}
            if place.boundary or shapes or place.lat is not None
            else None
        ),
    }
    return render(request, "places/detail.html", context)


class PlaceForm(forms.Form):
    name = forms.CharField(label=_("name"), max_length=100)
    is_rural = forms.BooleanField(label=_("rural"), required=False)
    lat = forms.FloatField(label=_("latitude"), required=False, min_value=-90, max_value=90)
    lng = forms.FloatField(label=_("longitude"), required=False, min_value=-180, max_value=180)
    boundary = forms.CharField(
        label=_("boundary (GeoJSON)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("A GeoJSON Polygon or MultiPolygon in longitude, latitude order."),
    )

    def clean_boundary(self):
        text = self.cleaned_data["boundary"].strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise forms.ValidationError(_("This is not valid JSON.")) from None


@requires(Perm.PLACES_VIEW)
def edit(request: HttpRequest, place_id: int) -> HttpResponse:
    # Without the right to change places this is the same 404 as a place outside the scope.
    place = Place.objects.get_for(request.user, place_id, "change")
    if request.method == "POST":
        form = PlaceForm(request.POST)
        if form.is_valid():
            try:
                place_update(actor=request.user, place_id=place.pk, **form.cleaned_data)
            except ValidationFailed as exc:
                add_service_errors(form, exc)
            else:
                return redirect_after_save(request, reverse("places:detail", args=[place.pk]))
    else:
        form = PlaceForm(
            initial={
                "name": place.name,
                "is_rural": place.is_rural,
                "lat": place.lat,
                "lng": place.lng,
                "boundary": (
                    json.dumps(place.boundary, ensure_ascii=False) if place.boundary else ""
                ),
            }
        )
    return render(request, "places/edit.html", {"place": place, "form": form})
