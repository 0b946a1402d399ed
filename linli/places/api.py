"""Places API: the administrative tree, scoped to the caller's jurisdiction."""

from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from linli.core.api import ERRORS, Id, Page, actor_of, changes_of

from . import selectors, services
from .models import Place, PlaceLevel

router = Router(tags=["places"])


class PlaceOut(Schema):
    id: int
    code: str
    name: str
    level: int
    level_name: str = Field(alias="get_level_display")
    parent_id: int | None
    path: str
    is_rural: bool
    lat: float | None
    lng: float | None


class PlaceDetailOut(PlaceOut):
    boundary: dict | None


class PlaceIn(Schema):
    code: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=100)
    level: PlaceLevel
    parent_id: Id | None = None
    is_rural: bool = False
    boundary: dict | None = None
    lat: float | None = None
    lng: float | None = None


class PlacePatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    is_rural: bool | None = None
    boundary: dict | None = None
    lat: float | None = None
    lng: float | None = None


class PlaceFilter(Schema):
    parent_id: Id | None = None
    level: PlaceLevel | None = None
    q: str = Field("", max_length=100, description="Code or name prefix")


class LocateOut(Schema):
    grid: PlaceOut | None


@router.get("/places", response={200: list[PlaceOut], **ERRORS})
@paginate(Page)
def place_list(request, filters: Query[PlaceFilter]):
    qs = Place.objects.restrict(actor_of(request))
    if filters.parent_id is not None:
        qs = qs.filter(parent_id=filters.parent_id)
    if filters.level is not None:
        qs = qs.filter(level=filters.level)
    if filters.q:
        qs = qs.filter(code__startswith=filters.q) | qs.filter(name__startswith=filters.q)
    return qs.order_by("path")


@router.get("/places/locate", response={200: LocateOut, **ERRORS})
def place_locate(
    request, lat: float = Query(..., ge=-90, le=90), lng: float = Query(..., ge=-180, le=180)
):
    """The grid containing a point (within the caller's jurisdiction), or null."""
    grid = selectors.grid_containing(lat, lng)
    if (
        grid is not None
        and not Place.objects.restrict(actor_of(request)).filter(pk=grid.pk).exists()
    ):
        grid = None
    return {"grid": grid}


@router.get("/places/{place_id}", response={200: PlaceDetailOut, **ERRORS})
def place_detail(request, place_id: Id):
    return selectors.place_get_for(actor_of(request), place_id)


@router.get("/places/{place_id}/children", response={200: list[PlaceOut], **ERRORS})
@paginate(Page)
def place_children(request, place_id: Id):
    actor = actor_of(request)
    return selectors.place_children(actor, selectors.place_get_for(actor, place_id))


@router.post("/places", response={201: PlaceDetailOut, **ERRORS})
def place_create(request, payload: PlaceIn):
    place = services.place_create(actor=actor_of(request), **payload.dict())
    return Status(201, place)


@router.patch("/places/{place_id}", response={200: PlaceDetailOut, **ERRORS})
def place_update(request, place_id: Id, payload: PlacePatch):
    return services.place_update(actor=actor_of(request), place_id=place_id, **changes_of(payload))
