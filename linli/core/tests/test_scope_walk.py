"""Jurisdiction is enforced everywhere: walk every registered page URL and API route.

A grid worker of one grid, and a civil-affairs officer of that grid's street (for the features
a grid worker's role is refused outright), try every route that takes an id with the
neighbour's records: each answer must be the same 404 a missing record gets (405 for a wrong
method is fine; a 403 only where a missing record gets it too, and some walker must get past
it), and nothing of the neighbour's may change. Lists must not show the neighbour's records. A new
route with a new id parameter fails here until it is registered in `targets` below.
"""

import datetime as dt
import re
from decimal import Decimal
from itertools import product

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from linli.api import api
from linli.core.models import AuditEntry
from linli.core.roles import Role
from linli.core.services import api_token_issue
from linli.core.testing.factories import make_user
from linli.people import services as people_services
from linli.people.models import (
    BankAccount,
    FinancialRecord,
    Household,
    ImportJob,
    LegalSupporter,
    Person,
    SelfCareAssessment,
    SeriousIllness,
    TransferRequest,
)

# Open311 is a public standard API with string ids and its own key and scope tests
# (cases/tests/test_open311.py); jurisdiction rules for staff pages are walked here.
SKIP_PREFIXES = ("admin/", "api/v1/", "i18n/", "static/", "open311/")
# Public by design, for anyone without a login: the public notice (公示) of a community's
# applications shows masked names only (assistance/tests/test_applications_pages.py).
PUBLIC_ROUTES = {"assistance/notice/<int:community_id>/"}


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
    facts = _neighbours_facts(people, admin)
    return {
        "case_id": case.id,
        # A case photo's id; 1 is a visit's first photo (numbered within the visit, and a
        # monitoring visit record's photos within the record).
        "photo_id": (_neighbours_photo(case, neighbour).id, 1),
        "place_id": town.other_grid.id,
        "household_id": people.other_household.id,
        "person_id": people.other_head.id,
        "record_id": record.id,
        "job_id": job.id,
        "transfer_id": transfer.id,
        "illness_id": facts["illness"],
        "assessment_id": facts["self_care"],
        "supporter_id": facts["supporter"],
        "account_id": facts["bank_account"],
        # The pages void all four kinds of fact by one parameter name.
        "fact_id": tuple(facts.values()),
        **_neighbours_assistance(town, people, admin, neighbour),
        **_neighbours_monitoring(town, people, admin, neighbour),
    }


def _neighbours_facts(people, admin) -> dict[str, int]:
    """The registry facts assistance rests on, recorded for the neighbour's head."""
    person_id = people.other_head.id
    return {
        "illness": people_services.serious_illness_record(
            actor=admin, person_id=person_id, illness="尿毒症", diagnosed_on=dt.date(2025, 1, 1)
        ).id,
        "self_care": people_services.self_care_assessment_record(
            actor=admin,
            person_id=person_id,
            assessed_on=dt.date(2025, 1, 1),
            assessor="区残联",
            eating=True,
            dressing=False,
            bed_transfer=True,
            toileting=True,
            indoor_walking=False,
            bathing=False,
        ).id,
        "supporter": people_services.legal_supporter_add(
            actor=admin,
            person_id=person_id,
            relation="child",
            able_to_support=False,
            supporter_name="李小河",
        ).id,
        "bank_account": people_services.bank_account_set(
            actor=admin,
            person_id=person_id,
            bank="农业银行",
            account_number="6228480012345678",
            holder_name=people.other_head.name,
        ).id,
    }


def _neighbours_assistance(town, people, admin, neighbour) -> dict[str, int]:
    """The neighbour's assistance records, one of each kind a route takes an id of.

    The application goes through the real workflow (submitted by the neighbour, accepted by
    their street, investigated with a photo); a benefit would need the whole workflow and a
    week of public notice, so it and what hangs on it are made directly.
    """
    from django.core.files.base import ContentFile

    from linli.assistance import applications, benefits, policies, simulations, supervision
    from linli.assistance.models import (
        BankReturn,
        Benefit,
        Finding,
        FindingKind,
        PaymentCycle,
        Program,
        Recovery,
    )
    from linli.core.testing.factories import make_place
    from linli.places.models import PlaceLevel

    other_street_officer = make_user("otherstreet", Role.STREET_OFFICER, [town.other_street])
    urban, _rural = policies.ensure_demo_policies(town.district)
    application = applications.application_submit(
        actor=neighbour, household_id=people.other_household.id, program=Program.MINIMUM_LIVING
    )
    applications.application_act(
        actor=other_street_officer, application_id=application.id, action="accept"
    )
    applications.application_investigate(
        actor=neighbour,
        application_id=application.id,
        visitors="李四",
        findings="家中困难",
        uploads=[_png_upload()],
    )
    visit = application.visits.get()
    benefit = Benefit.objects.create(
        household=people.other_household,
        recipient=people.other_head,
        program=Program.MINIMUM_LIVING,
        monthly_amount=Decimal("800.00"),
        start_month=dt.date(2026, 1, 1),
        application=application,
        policy_version=urban.versions.get(),
    )
    review = benefits.review_open(
        actor=other_street_officer, benefit_id=benefit.id, kind="income_rise"
    )
    recovery = Recovery.objects.create(benefit=benefit, amount=Decimal("800.00"), reason="多发")
    cycle = PaymentCycle.objects.create(
        program=Program.MINIMUM_LIVING,
        street=town.other_street,
        month=dt.date(2026, 1, 1),
        prepared_by=other_street_officer,
    )
    bank_return = BankReturn.objects.create(
        cycle=cycle,
        file=ContentFile(b"", name="return.xlsx"),
        original_name="return.xlsx",
        imported_by=other_street_officer,
    )
    finding = Finding.objects.create(
        kind=FindingKind.PAID_AFTER_DEATH,
        key=f"walk:{benefit.id}",
        summary="死亡后仍发放",
        records={"benefits": [benefit.id]},
        place_path=people.other_household.place_path,
    )
    run = supervision.supervision_run_request(actor=admin, place_path=town.other_street.path)
    relative = supervision.staff_relative_declare(
        actor=neighbour,
        id_number=people.other_child.id_number,
        name=people.other_child.name,
        relation="女儿",
    )
    # Policies are read under their locality and above, so the district's (the walker's own
    # district) answers the walker by design; the neighbour's policy is another district's.
    other_district = make_place("370503", "垦利区", PlaceLevel.DISTRICT, town.city)
    policy_set = policies.policy_set_create(
        actor=admin, locality_id=other_district.id, registration="urban", name="垦利区城市低保"
    )
    version = policies.policy_version_add(
        actor=admin,
        policy_set_id=policy_set.id,
        valid_from=timezone.localdate(),
        parameters=urban.versions.get().parameters,
    )
    simulation = simulations.simulation_start(
        actor=admin,
        policy_version_id=version.id,
        changes={"standard": "900.00"},
        place_id=other_district.id,
        as_of=timezone.localdate(),
        name="提标模拟",
    )
    return {
        "application_id": application.id,
        "visit_id": visit.id,
        "benefit_id": benefit.id,
        "review_id": review.id,
        "recovery_id": recovery.id,
        "cycle_id": cycle.id,
        "return_id": bank_return.id,
        "finding_id": finding.id,
        "run_id": run.id,
        "relative_id": relative.id,
        "policy_set_id": policy_set.id,
        "version_id": version.id,
        "simulation_id": simulation.id,
        "community_id": town.other_community.id,
    }


def _neighbours_monitoring(town, people, admin, neighbour) -> dict[str, int]:
    """The neighbour's monitoring records: a screening round of the neighbour's street, an
    alert on the neighbour's household with its home visit (assigned to the neighbour, one
    attempt recorded with a photo), a key household with a follow-up, a signal and a signal
    import by the neighbour's street officer."""
    import uuid

    from django.core.files.base import ContentFile

    from linli.monitoring import keys, rules, screening, signals, visits
    from linli.monitoring.models import Alert, RiskRule, SignalImport, SignalSource

    rules.ensure_default_rules()
    today = timezone.localdate()
    street_officer = make_user("otherstreetwatch", Role.STREET_OFFICER, [town.other_street])
    household = people.other_household
    signal = signals.signal_record(
        source=SignalSource.EXTERNAL,
        household_id=household.id,
        person_id=people.other_head.id,
        kind="hospital_bill",
        occurred_on=today,
        amount=Decimal("52000.00"),
        key="walk:hospital",
    )
    round_ = screening.screen_now(place=town.other_street, as_of=today, actor=street_officer)
    alert = Alert.objects.filter(household=household).order_by("pk").first()
    if alert is None:  # the registry's figures raised nothing: an alert as screening makes it
        rule = RiskRule.objects.order_by("code").first()
        alert = Alert.objects.create(
            household=household,
            rule=rule,
            rule_code=rule.code,
            severity=rule.severity,
            explanation="人均收入 300 元",
            snapshot={"per_capita": "300.00"},
            screening_round=round_,
        )
    visits.visits_create_for_open_alerts()
    home_visit = alert.visits.get()
    record = visits.visit_record(
        actor=neighbour,
        visit_id=home_visit.id,
        idempotency_key=uuid.uuid4().hex,
        visited_at=timezone.now(),
        met="",
        findings="家中无人",
        photos=[_png_upload()],
        outcome="unreachable",
    )
    key = keys.key_household_add(
        actor=street_officer, household_id=household.id, reason="大病支出", alert_id=alert.id
    )
    keys.follow_up_record(
        actor=neighbour,
        key_household_id=key.id,
        done_on=today,
        note="电话回访",
        idempotency_key=uuid.uuid4().hex,
    )
    signal_import = SignalImport.objects.create(
        created_by=street_officer,
        file=ContentFile(b"", name="signals.csv"),
        original_name="signals.csv",
        state="done",
    )
    return {
        "alert_id": alert.id,
        "round_id": round_.id,
        "home_visit_id": home_visit.id,
        "visit_record_id": record.id,
        "key_household_id": key.id,
        "import_id": signal_import.id,
        "signal_id": signal.id,
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
    from linli.cases.photos import case_photo_add

    return case_photo_add(actor=neighbour, case_id=case.id, upload=_png_upload())


def _png_upload():
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    png = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(png, "PNG")
    return SimpleUploadedFile("p.png", png.getvalue())


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


def _choices(names: list[str], targets: dict) -> list[dict[str, int]]:
    """Every combination of the parameters' ids (a target is one id, or a tuple of ids when
    one parameter name stands for records of several kinds)."""
    ids = [targets[n] if isinstance(targets[n], tuple) else (targets[n],) for n in names]
    return [dict(zip(names, combination, strict=True)) for combination in product(*ids)]


def _fill(route: str, targets: dict) -> list[str]:
    names = re.findall(r"<(?:\w+:)?(\w+)>", route)
    unknown = [n for n in names if n not in targets]
    assert not unknown, f"register URL parameter(s) {unknown} of {route!r} in the scope walk"
    urls = []
    for choice in _choices(names, targets):
        url = route
        for name, value in choice.items():
            url = re.sub(rf"<(?:\w+:)?{name}>", str(value), url)
        urls.append("/" + url.lstrip("^").rstrip("$"))
    return urls


def _neighbour_state(people):
    from django.apps import apps

    # The walker has nothing of its own in these tables: every row in them is the neighbour's.
    neighbours = [
        list(model.objects.order_by("pk").values())
        for label in ("assistance", "monitoring")
        for model in apps.get_app_config(label).get_models()
    ] + [
        list(model.objects.order_by("pk").values())
        for model in (SeriousIllness, SelfCareAssessment, LegalSupporter, BankAccount)
    ]
    return (
        list(Person.objects.filter(household=people.other_household).values()),
        list(Household.objects.filter(pk=people.other_household.pk).values()),
        list(FinancialRecord.objects.filter(person=people.other_head).values()),
        AuditEntry.objects.filter(place_path__startswith=people.other_household.place_path).count(),
        neighbours,
    )


@pytest.fixture
def walkers(grid_worker, town):
    """The grid worker, and a civil-affairs officer bound to the worker's street. A role never
    given a feature (a grid worker and policies, supervision, simulations) is refused it with
    the same 403 whatever the id, before any record is read; the officer gets past that
    refusal and meets the jurisdiction, so every route is walked up to its lookup."""
    return [grid_worker, make_user("streetbureau", Role.CIVIL_AFFAIRS, [town.street])]


# Stands for a record that does not exist.
MISSING = 2**31 - 1


def _refused_to_the_role(answer: int, missing_answer: int, what: str) -> bool:
    """The neighbour's record answers 404 (405: wrong method), or the same 403 a missing
    record gets (the role was refused before any record was read: True)."""
    if answer == 403:
        assert missing_answer == 403, f"{what} answered 403, a missing record {missing_answer}"
        return True
    assert answer in (404, 405), f"{what} answered {answer}"
    return False


def test_every_page_route_hides_the_neighbours_records(client, walkers, people, targets):
    before = _neighbour_state(people)
    missing = dict.fromkeys(targets, MISSING)
    checked = 0
    for route in _page_routes():
        if not re.search(r"<(?:\w+:)?\w+>", route) or route in PUBLIC_ROUTES:
            continue
        (missing_url,) = _fill(route, missing)
        met = False
        for walker in walkers:
            client.force_login(walker)
            for url in _fill(route, targets):
                for method in (client.get, client.post):
                    status = method(url).status_code
                    refused = _refused_to_the_role(
                        status,
                        method(missing_url).status_code if status == 403 else status,
                        f"{method.__name__.upper()} {url} as {walker.role}",
                    )
                    met |= not refused
        assert met, f"{route}: every walker was refused before the lookup"
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


def test_page_lists_never_show_the_neighbours_records(client, walkers, people, targets, neighbour):
    """With the neighbour's applications, benefits, reviews, cycles and findings there, and
    the neighbour's alerts, visits, key households, signals and screening rounds."""
    from django.urls import reverse

    # The walkers have no monitoring records of their own: a link to one is the neighbour's.
    links = [
        reverse("monitoring:alert_detail", args=[targets["alert_id"]]),
        reverse("monitoring:visit_detail", args=[targets["home_visit_id"]]),
        reverse("monitoring:key_detail", args=[targets["key_household_id"]]),
        reverse("monitoring:round_detail", args=[targets["round_id"]]),
        reverse("monitoring:signal_import_detail", args=[targets["import_id"]]),
    ]
    # The check can fail: the neighbour's own lists do link to them.
    client.force_login(neighbour)
    for name, link in zip(("alerts", "visits", "keys"), links[:3], strict=True):
        assert f'"{link}"' in client.get(reverse(f"monitoring:{name}")).content.decode()
    for walker in walkers:
        client.force_login(walker)
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
                assert secret not in html, f"/{route} shows {walker.role} {secret!r}"
            for link in links:
                assert f'"{link}"' not in html, f"/{route} links {walker.role} to {link}"


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
    ("post", "/api/v1/people/persons/{person_id}/work-capacity"): {"work_capacity": "none"},
    ("post", "/api/v1/people/persons/{person_id}/death"): {"died_on": "2026-01-01"},
    ("post", "/api/v1/people/persons/{person_id}/illnesses"): {
        "illness": "尿毒症",
        "diagnosed_on": "2025-01-01",
    },
    ("post", "/api/v1/people/illnesses/{illness_id}/void"): {"reason": "测试"},
    ("post", "/api/v1/people/persons/{person_id}/self-care"): {
        "assessed_on": "2025-01-01",
        "assessor": "区残联",
        "eating": True,
        "dressing": True,
        "bed_transfer": True,
        "toileting": True,
        "indoor_walking": True,
        "bathing": True,
    },
    ("post", "/api/v1/people/self-care/{assessment_id}/void"): {"reason": "测试"},
    ("post", "/api/v1/people/persons/{person_id}/supporters"): {
        "relation": "spouse",
        "able_to_support": True,
        "supporter_name": "王大海",
    },
    ("post", "/api/v1/people/supporters/{supporter_id}/void"): {"reason": "测试"},
    ("post", "/api/v1/people/persons/{person_id}/bank-account"): {
        "bank": "工商银行",
        "account_number": "6222020012345678",
        "holder_name": "李大山",
    },
    ("post", "/api/v1/people/bank-accounts/{account_id}/void"): {"reason": "测试"},
    ("post", "/api/v1/assistance/policies/{policy_set_id}/versions"): {
        "valid_from": "2099-01-01",
        "parameters": {},
    },
    ("post", "/api/v1/assistance/policies/{policy_set_id}/schedule"): {"versions": []},
    ("post", "/api/v1/assistance/applications/{application_id}/act"): {"action": "withdraw"},
    # Multipart in real use, as the case photos.
    ("post", "/api/v1/assistance/applications/{application_id}/visits"): {},
    ("post", "/api/v1/assistance/benefits/{benefit_id}/suspend"): {"reason": "测试"},
    ("post", "/api/v1/assistance/benefits/{benefit_id}/resume"): {"reason": "测试"},
    ("post", "/api/v1/assistance/benefits/{benefit_id}/stop"): {"reason": "测试"},
    ("post", "/api/v1/assistance/benefits/{benefit_id}/reassess"): {"reason": "测试"},
    ("post", "/api/v1/assistance/reviews/{review_id}/complete"): {"outcome": "unchanged"},
    ("post", "/api/v1/assistance/recoveries/{recovery_id}/repay"): {"amount": "100.00"},
    ("post", "/api/v1/assistance/payment-cycles/{cycle_id}/bank-file"): {"file_format": "csv"},
    # Multipart in real use, as the case photos.
    ("post", "/api/v1/assistance/payment-cycles/{cycle_id}/return"): {},
    ("post", "/api/v1/assistance/findings/{finding_id}/resolve"): {
        "state": "explained",
        "resolution": "测试",
    },
    ("post", "/api/v1/monitoring/alerts/{alert_id}/dismiss"): {"reason": "误报"},
    ("post", "/api/v1/monitoring/visits/{home_visit_id}/records"): {
        "idempotency_key": "walk-record-0001",
        "visited_at": "2026-01-05T10:00:00+08:00",
        "met": "户主",
        "findings": "生活正常",
        "outcome": "no_risk",
    },
    # Multipart form fields (see API_MULTIPART): its required fields are read before the view.
    ("post", "/api/v1/monitoring/visits/{home_visit_id}/records/multipart"): {
        "idempotency_key": "walk-record-0002",
        "visited_at": "2026-01-05T10:00:00+08:00",
        "met": "户主",
        "findings": "生活正常",
        "outcome": "no_risk",
    },
    ("post", "/api/v1/monitoring/key-households/{key_household_id}/follow-ups"): {
        "done_on": "2026-01-05",
        "note": "电话回访",
        "idempotency_key": "walk-follow-up-0001",
    },
    ("post", "/api/v1/monitoring/key-households/{key_household_id}/release"): {"reason": "脱困"},
}

# Sent as multipart form data, not JSON.
API_MULTIPART = {("post", "/api/v1/monitoring/visits/{home_visit_id}/records/multipart")}


def _api_operations():
    schema = api.get_openapi_schema()
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def _api_call(client, method: str, path: str, has_body: bool, ids: dict, headers: dict):
    url = path
    for name, value in ids.items():
        url = url.replace("{" + name + "}", str(value))
    if not has_body:
        return url, getattr(client, method)(url, headers=headers).status_code
    body = API_BODIES.get((method, path), {})
    if (method, path) in API_MULTIPART:
        return url, getattr(client, method)(url, body, headers=headers).status_code
    response = getattr(client, method)(url, body, content_type="application/json", headers=headers)
    return url, response.status_code


def test_every_api_route_hides_the_neighbours_records(client, walkers, people, targets):
    tokens = {}
    for walker in walkers:
        _, key = api_token_issue(actor=None, user=walker, name="walk")
        tokens[walker] = {"Authorization": f"Bearer {key}"}
    before = _neighbour_state(people)
    walked = 0
    for path, method, operation in _api_operations():
        names = re.findall(r"{(\w+)}", path)
        if not names:
            continue
        unknown = [n for n in names if n not in targets]
        assert not unknown, f"register API parameter(s) {unknown} of {path} in the scope walk"
        has_body = "requestBody" in operation
        assert not has_body or (method, path) in API_BODIES, (
            f"give {method.upper()} {path} a valid example body in API_BODIES"
        )
        missing = dict.fromkeys(names, MISSING)
        met = False
        for walker, headers in tokens.items():
            for ids in _choices(names, targets):
                url, status = _api_call(client, method, path, has_body, ids, headers)
                missing_status = (
                    _api_call(client, method, path, has_body, missing, headers)[1]
                    if status == 403
                    else status
                )
                what = f"{method.upper()} {url} as {walker.role}"
                assert status != 405, f"{what} answered 405"  # every operation has its method
                met |= not _refused_to_the_role(status, missing_status, what)
        assert met, f"{method.upper()} {path}: every walker was refused before the lookup"
        walked += 1
    assert walked >= 10
    assert _neighbour_state(people) == before


def test_api_lists_never_return_the_neighbours_records(client, walkers, people, targets):
    hidden_by_kind = {
        "/persons": {people.other_head.id, people.other_child.id},
        "/households": {people.other_household.id},
        "/assistance/policies": {targets["policy_set_id"]},
        "/assistance/applications": {targets["application_id"]},
        "/assistance/benefits": {targets["benefit_id"]},
        "/assistance/reviews": {targets["review_id"]},
        "/assistance/recoveries": {targets["recovery_id"]},
        "/assistance/payment-cycles": {targets["cycle_id"]},
        "/assistance/findings": {targets["finding_id"]},
        "/assistance/staff-relatives": {targets["relative_id"]},
        "/assistance/simulations": {targets["simulation_id"]},
        "/monitoring/alerts": {targets["alert_id"]},
        "/monitoring/visits": {targets["home_visit_id"]},
        "/monitoring/key-households": {targets["key_household_id"]},
        "/monitoring/signals": {targets["signal_id"]},
        "/monitoring/screening-rounds": {targets["round_id"]},
    }
    for walker in walkers:
        _, key = api_token_issue(actor=None, user=walker, name="walk")
        headers = {"Authorization": f"Bearer {key}"}
        for path, method, _operation in _api_operations():
            if "{" in path or method not in ("get", "post") or path.endswith("openapi.json"):
                continue
            if method == "post" and not path.endswith("/search"):
                continue
            if method == "get":
                response = client.get(path, headers=headers)
            else:
                response = client.post(path, {}, content_type="application/json", headers=headers)
            if response.status_code != 200 or "json" not in response.get("Content-Type", ""):
                continue  # refused to the role, or a file
            body = response.json()
            items = body.get("items", []) if isinstance(body, dict) else body
            ids = {item.get("id") for item in items if isinstance(item, dict)}
            for kind, hidden in hidden_by_kind.items():
                if kind in path:
                    assert not ids & hidden, f"{method.upper()} {path} leaked {ids & hidden}"
