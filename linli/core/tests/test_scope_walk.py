"""Jurisdiction is enforced everywhere: walk every registered page URL and API route.

A grid worker of one grid tries every route that takes an id with the neighbour's records:
each answer must be the same 404 a missing record gets (405 for a wrong method is fine), and
nothing of the neighbour's may change. Lists must not show the neighbour's records. A new
route with a new id parameter fails here until it is registered in `targets` below.
"""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from linli.api import api
from linli.core.models import AuditEntry
from linli.core.services import api_token_issue
from linli.people import services as people_services
from linli.people.models import FinancialRecord, Household, ImportJob, Person, TransferRequest

# Open311 is a public standard API with string ids and its own key and scope tests
# (cases/tests/test_open311.py); jurisdiction rules for staff pages are walked here.
SKIP_PREFIXES = ("admin/", "api/v1/", "i18n/", "static/", "open311/")


@pytest.fixture
def targets(town, people, admin, neighbour):
    record = people_services.financial_record_create(
        actor=admin,
        person_id=people.other_head.id,
        category="income",
        kind="wage",
        amount=Decimal("1800.00"),
        valid_from=dt.date(2026, 1, 1),
    )
    job = ImportJob.objects.create(created_by=admin, original_name="x.xlsx", mode="good_rows")
    case = _neighbours_case(town, neighbour)
    # Asked from this grid for the neighbour's person: only the neighbour's office answers it.
    transfer = TransferRequest.objects.create(
        person=people.other_head,
        household=people.household,
        requested_by=admin,
        place_path=people.other_head.place_path,
        requester_path=people.household.place_path,
    )
    return {
        "case_id": case.id,
        "photo_id": _neighbours_photo(case, neighbour).id,
        "place_id": town.other_grid.id,
        "household_id": people.other_household.id,
        "person_id": people.other_head.id,
        "record_id": record.id,
        "job_id": job.id,
        "transfer_id": transfer.id,
    }


def _neighbours_case(town, neighbour):
    """A case reported by the neighbour (a grid worker on patrol) inside the neighbour's grid."""
    from linli.cases.models import Category
    from linli.cases.seeding import load_reference_data
    from linli.cases.services import case_report

    load_reference_data()
    category = Category.objects.filter(parent__isnull=False).order_by("code").first()
    return case_report(
        actor=neighbour,
        category_id=category.pk,
        description="井盖缺失",
        grid_id=town.other_grid.id,
    )


def _neighbours_photo(case, neighbour):
    """A photo on the neighbour's case, through the real upload checks."""
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    from linli.cases.photos import case_photo_add

    png = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(png, "PNG")
    upload = SimpleUploadedFile("p.png", png.getvalue())
    return case_photo_add(actor=neighbour, case_id=case.id, upload=upload)


def _walk(resolvers, prefix=""):
    for entry in resolvers:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def _page_routes():
    for route, _pattern in _walk(get_resolver().url_patterns):
        if route.startswith(SKIP_PREFIXES):
            continue
        yield route


def _fill(route: str, targets: dict) -> str:
    names = re.findall(r"<(?:\w+:)?(\w+)>", route)
    unknown = [n for n in names if n not in targets]
    assert not unknown, f"register URL parameter(s) {unknown} of {route!r} in the scope walk"
    url = route
    for name in names:
        url = re.sub(rf"<(?:\w+:)?{name}>", str(targets[name]), url)
    return "/" + url.lstrip("^").rstrip("$")


def _neighbour_state(people):
    return (
        list(Person.objects.filter(household=people.other_household).values()),
        list(Household.objects.filter(pk=people.other_household.pk).values()),
        list(FinancialRecord.objects.filter(person=people.other_head).values()),
        AuditEntry.objects.filter(place_path__startswith=people.other_household.place_path).count(),
    )


def test_every_page_route_hides_the_neighbours_records(client, grid_worker, people, targets):
    client.force_login(grid_worker)
    before = _neighbour_state(people)
    checked = 0
    for route in _page_routes():
        if not re.search(r"<(?:\w+:)?\w+>", route):
            continue
        url = _fill(route, targets)
        for method in (client.get, client.post):
            status = method(url).status_code
            assert status in (404, 405), f"{method.__name__.upper()} {url} answered {status}"
        checked += 1
    assert _neighbour_state(people) == before
    assert checked >= 1, "no page route with an id was walked"


def test_no_route_carries_anything_but_numeric_ids():
    """Personal data never travels in a URL: the only path parameters are integer ids."""
    for route in _page_routes():
        for converter, name in re.findall(r"<(?:(\w+):)?(\w+)>", route):
            assert converter == "int" and name.endswith("_id"), f"{route}: <{converter}:{name}>"
    for path, _method, _operation in _api_operations():
        for name in re.findall(r"{(\w+)}", path):
            assert name.endswith("_id"), path


def test_page_lists_never_show_the_neighbours_records(client, grid_worker, people):
    client.force_login(grid_worker)
    for route in _page_routes():
        if re.search(r"<(?:\w+:)?\w+>", route):
            continue
        response = client.get("/" + route)
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        html = response.content.decode()
        for secret in (
            people.other_head.name,
            people.other_child.name,
            people.other_household.number,
        ):
            assert secret not in html, f"/{route} shows {secret!r}"


API_BODIES = {
    ("patch", "/api/v1/places/{place_id}"): {"name": "改名"},
    ("patch", "/api/v1/people/households/{household_id}"): {"address": "新地址"},
    ("patch", "/api/v1/people/persons/{person_id}"): {"phone": "13900001111"},
    ("post", "/api/v1/people/persons/{person_id}/status"): {"status": "moved_out"},
    ("post", "/api/v1/people/persons/{person_id}/finances"): {
        "category": "income",
        "kind": "wage",
        "amount": "1.00",
        "valid_from": "2026-01-01",
    },
    ("post", "/api/v1/people/finances/{record_id}/void"): {"reason": "测试"},
    ("post", "/api/v1/people/transfers/{transfer_id}/decline"): {"reason": "测试"},
    ("post", "/api/v1/cases/{case_id}/reject"): {"reason": "测试"},
    ("post", "/api/v1/cases/{case_id}/merge"): {"into_case_id": 1},
    ("post", "/api/v1/cases/{case_id}/dispatch"): {},
    ("post", "/api/v1/cases/{case_id}/handled"): {"evidence": "已处理"},
    ("post", "/api/v1/cases/{case_id}/verify"): {"passed": True},
    ("post", "/api/v1/cases/{case_id}/close"): {"reason": "fixed"},
    ("post", "/api/v1/cases/{case_id}/rate"): {"rating": 5},
    ("post", "/api/v1/cases/{case_id}/escalate"): {"reason": "测试"},
    ("post", "/api/v1/cases/{case_id}/whistle"): {"kind": "routine", "lead_department_id": 1},
    ("post", "/api/v1/cases/{case_id}/report-in"): {},
    ("post", "/api/v1/cases/{case_id}/publish"): {"public": True},
    # Multipart in real use; the JSON body of the walk must still get the 404.
    ("post", "/api/v1/cases/{case_id}/photos"): {},
}


def _api_operations():
    schema = api.get_openapi_schema()
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_every_api_route_hides_the_neighbours_records(client, grid_worker, people, targets):
    _, key = api_token_issue(actor=None, user=grid_worker, name="walk")
    headers = {"Authorization": f"Bearer {key}"}
    before = _neighbour_state(people)
    walked = 0
    for path, method, operation in _api_operations():
        names = re.findall(r"{(\w+)}", path)
        if not names:
            continue
        unknown = [n for n in names if n not in targets]
        assert not unknown, f"register API parameter(s) {unknown} of {path} in the scope walk"
        url = path
        for name in names:
            url = url.replace("{" + name + "}", str(targets[name]))
        has_body = "requestBody" in operation
        assert not has_body or (method, path) in API_BODIES, (
            f"give {method.upper()} {path} a valid example body in API_BODIES"
        )
        response = (
            getattr(client, method)(
                url,
                API_BODIES.get((method, path), {}),
                content_type="application/json",
                headers=headers,
            )
            if has_body
            else getattr(client, method)(url, headers=headers)
        )
        assert response.status_code == 404, f"{method.upper()} {url}: {response.status_code}"
        walked += 1
    assert walked >= 10
    assert _neighbour_state(people) == before


def test_api_lists_never_return_the_neighbours_records(client, grid_worker, people):
    _, key = api_token_issue(actor=None, user=grid_worker, name="walk")
    headers = {"Authorization": f"Bearer {key}"}
    hidden_by_kind = {
        "/persons": {people.other_head.id, people.other_child.id},
        "/households": {people.other_household.id},
    }
    for path, method, _operation in _api_operations():
        if "{" in path or method not in ("get", "post") or path.endswith("openapi.json"):
            continue
        if method == "post" and not path.endswith("/search"):
            continue
        if method == "get":
            response = client.get(path, headers=headers)
        else:
            response = client.post(path, {}, content_type="application/json", headers=headers)
        if response.status_code != 200:
            continue
        body = response.json()
        items = body.get("items", []) if isinstance(body, dict) else body
        ids = {item.get("id") for item in items if isinstance(item, dict)}
        for kind, hidden in hidden_by_kind.items():
            if kind in path:
                assert not ids & hidden, f"{method.upper()} {path} leaked {ids & hidden}"
