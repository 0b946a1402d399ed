"""No server error anywhere in the demo city: a crawler logs in as every demo account and follows
what that person can reach, and calls every GET route of the API as them.

The city is made once for the module by the demo's own commands (SEED_STEPS) inside a
transaction rolled back at the end; each test then runs in a savepoint of it. Pages: from the
home page and every menu entry, every same-site link and htmx GET found in the pages, at most
PER_ROUTE addresses per URL pattern (the first items of each list) and MAX_DEPTH clicks deep.
API: every GET operation of the OpenAPI document, path ids taken from the demo rows the
person can see (PATH_IDS), required query parameters from QUERY_VALUES.

A later module extends it by adding its seed command to SEED_STEPS and the model behind each new
path parameter to PATH_IDS; a route whose parameter is not registered fails here, by name.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import traceback
import zoneinfo
from collections import Counter, deque
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import pytest
import time_machine
from django.apps import apps
from django.core.management import call_command
from django.db import transaction
from django.test import Client, override_settings
from django.urls import Resolver404, resolve

from linli.api import api
from linli.core.models import User
from linli.core.roles import Role

# Wednesday in working hours, China time: the seeded half year of cases ends here.
NOW = dt.datetime(2026, 6, 3, 10, 0, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai"))

# The demo, small: a city with a few hundred people and cases in every state, one login per role.
# (Tests build their database without migrations, so the taxonomy and calendar load here.)
SEED_STEPS: list[tuple[str, dict]] = [
    ("load_case_categories", {}),
    ("load_workday_calendar", {}),
    ("seed", {"households": 400, "seed": 1}),
    ("seed_cases", {"cases": 100, "seed": 1}),
    ("demo_accounts", {}),
    # 400 households give an assistance application in every state of every path.
    ("seed_assistance", {"seed": 1}),
    ("seed_monitoring", {"seed": 1}),
]

# Path parameter → the model whose rows give its value (the first the person can see).
PATH_IDS: dict[str, str] = {
    "case_id": "cases.Case",
    "photo_id": "cases.CasePhoto",
    "place_id": "places.Place",
    "household_id": "people.Household",
    "person_id": "people.Person",
    "record_id": "people.FinancialRecord",
    "job_id": "people.ImportJob",
    "transfer_id": "people.TransferRequest",
    "fact_id": "people.SeriousIllness",
    "illness_id": "people.SeriousIllness",
    "assessment_id": "people.SelfCareAssessment",
    "supporter_id": "people.LegalSupporter",
    "account_id": "people.BankAccount",
    "application_id": "assistance.Application",
    "visit_id": "assistance.InvestigationVisit",
    "benefit_id": "assistance.Benefit",
    "review_id": "assistance.Review",
    "recovery_id": "assistance.Recovery",
    "cycle_id": "assistance.PaymentCycle",
    "return_id": "assistance.BankReturn",
    "finding_id": "assistance.Finding",
    "run_id": "assistance.SupervisionRun",
    "relative_id": "assistance.StaffRelative",
    "policy_set_id": "assistance.PolicySet",
    "version_id": "assistance.PolicyVersion",
    "simulation_id": "assistance.Simulation",
    "community_id": "places.Place",
    "alert_id": "monitoring.Alert",
    "round_id": "monitoring.ScreeningRound",
    "key_household_id": "monitoring.KeyHousehold",
    "import_id": "monitoring.SignalImport",
    "home_visit_id": "monitoring.HomeVisit",
    "visit_record_id": "monitoring.VisitRecord",
}

# Required query parameters of API GET routes, read from the demo data where they name it.
QUERY_VALUES: dict[str, Callable[[], str]] = {
    "lat": lambda: str(_first_case_point()[0]),
    "lng": lambda: str(_first_case_point()[1]),
    "start": lambda: (NOW.date() - dt.timedelta(days=90)).isoformat(),
    "end": lambda: NOW.date().isoformat(),
    "place_id": lambda: str(apps.get_model("places.Place").objects.order_by("path").first().pk),
    "registration": lambda: "urban",
    "on": lambda: NOW.date().isoformat(),
}

# Not followed: leaving, switching language, static files, anything that deletes, and the
# sorting and filtering links of Django's admin lists (its own code, dozens per list).
SKIP = re.compile(r"^/(i18n|static|media)/|/logout/|/delete/|^/admin/.*\?")
MAX_DEPTH = 3
# Addresses per URL pattern and set of query parameters: the first items of each list.
PER_ROUTE = 2
MAX_PAGES = 250  # per person; a guard against a crawl that never ends


def _first_case_point() -> tuple[float, float]:
    case = apps.get_model("cases.Case").objects.filter(lat__isnull=False).order_by("id").first()
    return (case.lat, case.lng) if case else (37.0, 118.0)


@pytest.fixture(scope="module")
def demo_city(django_db_setup, django_db_blocker) -> Iterator[None]:
    """The demo city for the whole module, with the clock stopped at NOW throughout."""
    fast_passwords = override_settings(
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]
    )
    with (
        time_machine.travel(NOW, tick=False),
        fast_passwords,
        django_db_blocker.unblock(),
        transaction.atomic(),
    ):
        try:
            quiet = {"stdout": io.StringIO(), "stderr": io.StringIO()}
            for command, options in SEED_STEPS:
                call_command(command, **options, **quiet)
            yield
        finally:
            # Nothing of the demo outlives the module: later tests start empty.
            transaction.set_rollback(True)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # Links, and the partials htmx fetches by GET (polled statuses, fields that follow a
        # choice): some pages are reached no other way.
        found = dict(attrs)
        for href in (found.get("href") if tag == "a" else None, found.get("hx-get")):
            if href:
                self.hrefs.append(href)


def _links(base: str, html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    found = []
    for href in parser.hrefs:
        parts = urlsplit(urljoin("http://testserver" + base, href))
        if parts.scheme in ("http", "https") and parts.netloc == "testserver":
            found.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


def _route(url: str) -> str:
    """The URL pattern an address answers to ("cases/<int:case_id>/"), with the names of its
    query parameters but the page ("cases/?queue"): a filtered list is a list of its own."""
    parts = urlsplit(url)
    try:
        route = resolve(parts.path).route
    except Resolver404:
        route = parts.path
    names = sorted({name for name, _value in parse_qsl(parts.query)} - {"page"})
    return route + ("?" + "&".join(names) if names else "")


def _failure(method: str, url: str, response) -> str:
    """The request, its status and the head of the traceback: the error and the project's own
    line it came through."""
    head = f"{method} {url} → {response.status_code}"
    if getattr(response, "exc_info", None):
        frames = traceback.extract_tb(response.exc_info[2])
        ours = [
            f for f in frames if "/linli/" in f.filename and "/site-packages/" not in f.filename
        ]
        where = (ours or frames)[-1]
        error = traceback.format_exception_only(*response.exc_info[:2])[-1].strip()
        head += f": {error} (at {where.filename}:{where.lineno})"
    return head


def _demo_user(role: str) -> User:
    return User.objects.get(username=role)


def _client(user: User) -> Client:
    # Server errors are collected, not raised, so one crawl reports all of them.
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def _menu(client: Client) -> list[str]:
    html = client.get("/").content.decode()
    start = html.find('<nav class="main"')
    return _links("/", html[start : html.find("</nav>", start)]) if start >= 0 else []


def crawl(client: Client) -> tuple[list[str], set[str]]:
    """Breadth first from home and the menu; returns the server errors and the routes seen."""
    queue = deque((url, 0) for url in ["/", *_menu(client)])
    seen: set[str] = set()
    per_route: Counter[str] = Counter()
    failures: list[str] = []
    while queue and len(seen) < MAX_PAGES:
        url, depth = queue.popleft()
        route = _route(url)
        if url in seen or SKIP.search(url) or per_route[route] >= PER_ROUTE:
            continue
        seen.add(url)
        per_route[route] += 1
        response = client.get(url)
        if response.status_code >= 500:
            failures.append(_failure("GET", url, response))
            continue
        if depth >= MAX_DEPTH:
            continue
        if response.status_code in (301, 302, 303, 307, 308):
            next_urls = _links(url, f'<a href="{response["Location"]}">')
        elif "html" in response.get("Content-Type", ""):
            next_urls = _links(url, response.content.decode())
        else:
            next_urls = []
        queue.extend((link, depth + 1) for link in next_urls if link not in seen)
    return failures, set(per_route)


def _path_id(user: User, name: str) -> str:
    label = PATH_IDS.get(name)
    assert label, f"register the path parameter {name!r} in PATH_IDS (the model behind it)"
    model = apps.get_model(label)
    manager = model.objects
    visible = manager.restrict(user) if hasattr(manager, "restrict") else manager.all()
    pk = visible.order_by("pk").values_list("pk", flat=True).first()
    if pk is None:  # nothing of that kind this person can see: anyone's, to check the refusal
        pk = manager.order_by("pk").values_list("pk", flat=True).first()
    return str(pk if pk is not None else 1)


def _api_get_urls(user: User) -> Iterator[str]:
    for path, methods in api.get_openapi_schema()["paths"].items():
        operation = methods.get("get")
        if operation is None:
            continue
        url = path
        query = {}
        for parameter in operation.get("parameters", []):
            name = parameter["name"]
            if parameter["in"] == "path":
                url = url.replace("{" + name + "}", _path_id(user, name))
            elif parameter["in"] == "query" and parameter.get("required"):
                value = QUERY_VALUES.get(name)
                assert value, f"give the required query parameter {name!r} of {path} a value"
                query[name] = value()
        yield url + (f"?{urlencode(query)}" if query else "")


ROLES = list(Role.values)

# Routes a role's crawl must reach, so that a crawl stopped early cannot pass unnoticed.
REACHES = {
    Role.GRID_WORKER: {"people/persons/<int:person_id>/", "people/households/<int:household_id>/"},
    Role.COMMAND_OPERATOR: {"cases/<int:case_id>/", "cases/statistics/", "cases/map/"},
    Role.STREET_OFFICER: {"places/<int:place_id>/", "people/households/<int:household_id>/"},
}


@pytest.mark.parametrize("role", ROLES)
def test_every_page_a_role_reaches_answers_without_a_server_error(demo_city, db, role):
    failures, routes = crawl(_client(_demo_user(role)))
    assert not failures, f"{role}: " + "\n".join(failures)
    assert REACHES.get(role, set()) <= routes, f"{role} never reached {REACHES[role] - routes}"
    assert len(routes) >= 3, f"{role} reached only {sorted(routes)}"


@pytest.mark.parametrize("role", ROLES)
def test_every_api_get_route_answers_a_role_without_a_server_error(demo_city, db, role):
    client = _client(_demo_user(role))
    failures, called = [], 0
    for url in _api_get_urls(_demo_user(role)):
        response = client.get(url)
        called += 1
        if response.status_code >= 500:
            failures.append(_failure("GET", url, response))
    assert not failures, f"{role}: " + "\n".join(failures)
    assert called >= 10
