from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from shapely.geometry import shape

from linli.core.audit import Audited
from linli.core.scoping import PATH_SEPARATOR, ScopedQuerySet


class PlaceLevel(models.IntegerChoices):
    CITY = 1, _("City")  # 市
    DISTRICT = 2, _("District / county")  # 区/县
    STREET = 3, _("Street / township")  # 街道/乡镇
    COMMUNITY = 4, _("Community / village")  # 社区/村
    GRID = 5, _("Grid")  # 网格
    COMPOUND = 6, _("Compound")  # 小区
    BUILDING = 7, _("Building")  # 楼栋


ALLOWED_PARENT: dict[int, tuple[int, ...]] = {
    PlaceLevel.CITY: (),
    PlaceLevel.DISTRICT: (PlaceLevel.CITY,),
    PlaceLevel.STREET: (PlaceLevel.DISTRICT,),
    PlaceLevel.COMMUNITY: (PlaceLevel.STREET,),
    PlaceLevel.GRID: (PlaceLevel.COMMUNITY,),
    PlaceLevel.COMPOUND: (PlaceLevel.GRID,),
    PlaceLevel.BUILDING: (PlaceLevel.GRID, PlaceLevel.COMPOUND),
}

_DIGITS = re.compile(r"^\d+$")


class PlaceQuerySet(ScopedQuerySet):
    permission_prefix = "places"
    scope_field = "path"

    def under(self, place: Place) -> PlaceQuerySet:
        return self.filter(path__under=place.path)


class Place(Audited):
    """A node of the one administrative tree (行政区划与网格), city down to building."""

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    level = models.PositiveSmallIntegerField(_("level"), choices=PlaceLevel.choices)
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent"),
    )
    path = models.CharField(max_length=255, unique=True, editable=False)
    is_rural = models.BooleanField(_("rural"), default=False)
    boundary = models.JSONField(_("boundary (GeoJSON)"), null=True, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lng = models.FloatField(_("longitude"), null=True, blank=True)
    # Bounding box of the boundary: an indexed pre-filter before the exact polygon test.
    min_lat = models.FloatField(null=True, blank=True, editable=False)
    min_lng = models.FloatField(null=True, blank=True, editable=False)
    max_lat = models.FloatField(null=True, blank=True, editable=False)
    max_lng = models.FloatField(null=True, blank=True, editable=False)

    objects = PlaceQuerySet.as_manager()

    audit_fields = ("code", "name", "level", "parent", "is_rural", "lat", "lng", "boundary")

    class Meta:
        verbose_name = _("place")
        verbose_name_plural = _("places")
        ordering = ["path"]
        indexes = [
            models.Index(
                fields=["path"], name="place_path_like_idx", opclasses=["varchar_pattern_ops"]
            ),
            models.Index(fields=["level", "min_lng", "max_lng"], name="place_bbox_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(lat__isnull=True) | models.Q(lat__gte=-90, lat__lte=90),
                name="place_lat_range",
            ),
            models.CheckConstraint(
                condition=models.Q(lng__isnull=True) | models.Q(lng__gte=-180, lng__lte=180),
                name="place_lng_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def full_name(self) -> str:
        return self.name

    def compute_path(self) -> str:
        prefix = self.parent.path if self.parent_id else ""
        return f"{prefix}{self.code}{PATH_SEPARATOR}"

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        code = self.code or ""
        parent = self.parent if self.parent_id else None
        if not _DIGITS.match(code):
            errors.setdefault("code", []).append(_("A place code is made of digits only."))
        allowed = ALLOWED_PARENT.get(self.level, ())
        if self.level and (parent is None) != (not allowed):
            errors.setdefault("parent", []).append(
                _("A place of this level needs a parent of level: %(levels)s.")
                % {"levels": ", ".join(str(PlaceLevel(x).label) for x in allowed) or "-"}
            )
        elif parent is not None and parent.level not in allowed:
            errors.setdefault("parent", []).append(
                _("A %(level)s cannot sit under a %(parent)s.")
                % {"level": PlaceLevel(self.level).label, "parent": PlaceLevel(parent.level).label}
            )
        if _DIGITS.match(code) and self.level:
            message = self._code_rule_violation(code, parent)
            if message:
                errors.setdefault("code", []).append(message)
        if self.boundary is not None:
            message = self._set_bbox_from_boundary()
            if message:
                errors.setdefault("boundary", []).append(message)
        else:
            self.min_lat = self.min_lng = self.max_lat = self.max_lng = None
        if (self.lat is None) != (self.lng is None):
            errors.setdefault("lat", []).append(_("Give both latitude and longitude, or neither."))
        if errors:
            raise ValidationError(errors)

    def _code_rule_violation(self, code: str, parent: Place | None) -> str | None:
        level = self.level
        if level in (PlaceLevel.CITY, PlaceLevel.DISTRICT):
            if len(code) != 6:
                return _("City and district codes have 6 digits (GB/T 2260).")
            if parent is not None and code[:4] != parent.code[:4]:
                return _("A district code starts with its city's first 4 digits.")
        elif level in (PlaceLevel.STREET, PlaceLevel.COMMUNITY):
            if len(code) != 12:
                return _("Street and community codes have 12 digits (statistical division code).")
            if parent is not None and level == PlaceLevel.STREET and code[:6] != parent.code[:6]:
                return _("A street code starts with its district's 6 digits.")
            if parent is not None and level == PlaceLevel.COMMUNITY and code[:9] != parent.code[:9]:
                return _("A community code starts with its street's first 9 digits.")
        elif parent is not None and (
            not code.startswith(parent.code) or len(code) <= len(parent.code)
        ):
            return _("A grid, compound or building code extends its parent's code (%(code)s…).") % {
                "code": parent.code
            }
        return None

    def _set_bbox_from_boundary(self) -> str | None:
        try:
            geometry = shape(self.boundary)
        except Exception:
            return _("The boundary is not valid GeoJSON geometry.")
        if geometry.geom_type not in ("Polygon", "MultiPolygon"):
            return _("The boundary must be a Polygon or MultiPolygon.")
        if geometry.is_empty or not geometry.is_valid:
            return _("The boundary polygon is empty or crosses itself.")
        min_lng, min_lat, max_lng, max_lat = geometry.bounds
        if not (-180 <= min_lng <= max_lng <= 180 and -90 <= min_lat <= max_lat <= 90):
            return _("Boundary coordinates must be longitude, latitude in degrees.")
        self.min_lng, self.min_lat, self.max_lng, self.max_lat = min_lng, min_lat, max_lng, max_lat
        return None

    def save(self, *args, **kwargs) -> None:
        self.path = self.compute_path()
        super().save(*args, **kwargs)
        if self.level == PlaceLevel.GRID:
            from .selectors import grid_index  # the selectors import this module

            grid_index.changed()

    def ancestors(self) -> list[Place]:
        """Root first; one query by the codes in the path."""
        codes = [c for c in self.path.split(PATH_SEPARATOR) if c][:-1]
        by_code = {p.code: p for p in Place.objects.filter(code__in=codes)}
        return [by_code[c] for c in codes if c in by_code]
