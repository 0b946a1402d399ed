"""Open311 GeoReport v2: spec shapes in JSON and XML, filters, POST and its errors, key scope,
and a real HTTP client against a live server."""

import datetime as dt
import io
import json
import xml.etree.ElementTree as ET

import httpx
import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from linli.cases.models import Case, Source
from linli.cases.open311 import open311_client_issue
from linli.cases.services import case_publish, case_register
from linli.core.models import ApiToken, AuditEntry, User
from linli.core.roles import Role
from linli.core.services import api_token_issue

from .conftest import HERE

BASE = "/open311/v2"
REQUEST_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}


@pytest.fixture
def client():
    """Messages in English; the default language of the site is zh-Hans."""
    return Client(headers={"Accept-Language": "en"})


@pytest.fixture
def key(town, taxonomy):
    _account, key = open311_client_issue(actor=None, name="FixMyStreet")
    return key


def _post(client, key=None, **fields):
    form = {"service_code": "SJ0101", "lat": HERE[0], "long": HERE[1], "description": "井盖丢了"}
    form.update(fields)
    if key is not None:
        form["api_key"] = key
    form = {k: v for k, v in form.items() if v is not None}
    return client.post(f"{BASE}/requests.json", form)


def _xml(response) -> ET.Element:
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    assert response.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(response.content)


def _aware(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    assert value.tzinfo is not None, text
    return value


# --- discovery and services ------------------------------------------------------------------


def test_discovery_in_both_formats(client, db):
    data = client.get(f"{BASE}/discovery.json").json()
    endpoint = data["endpoints"][0]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://testserver/open311/v2/"
    assert "text/xml; charset=utf-8" in endpoint["formats"]
    _aware(data["changeset"])
    root = _xml(client.get(f"{BASE}/discovery.xml"))
    assert root.tag == "discovery"
    formats = root.findall("endpoints/endpoint/formats/format")
    assert {f.text for f in formats} == set(endpoint["formats"])


def test_services_list_minor_classes_grouped_by_major(client, taxonomy):
    data = client.get(f"{BASE}/services.json").json()
    by_code = {s["service_code"]: s for s in data}
    minor = taxonomy.cat["SJ0101"]
    assert set(by_code[minor.code]) == {
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    }
    assert by_code[minor.code]["group"] == minor.parent.name_en
    assert by_code[minor.code]["metadata"] is False
    assert by_code[minor.code]["type"] == "realtime"
    # Major classes are groups, never services.
    assert minor.parent.code not in by_code
    root = _xml(client.get(f"{BASE}/services.xml"))
    assert root.tag == "services"
    codes = [s.findtext("service_code") for s in root.findall("service")]
    assert sorted(codes) == sorted(by_code)
    one = next(s for s in root.findall("service") if s.findtext("service_code") == minor.code)
    assert one.findtext("metadata") == "false"
    assert one.findtext("group") == minor.parent.name_en


def test_service_names_follow_the_language(client, taxonomy):
    minor = taxonomy.cat["SJ0101"]
    data = client.get(f"{BASE}/services.json").json()
    english = next(s for s in data if s["service_code"] == minor.code)
    assert (english["service_name"], english["group"]) == (minor.name_en, minor.parent.name_en)
    # Without Accept-Language the site's default, zh-Hans.
    data = Client().get(f"{BASE}/services.json").json()
    chinese = next(s for s in data if s["service_code"] == minor.code)
    assert (chinese["service_name"], chinese["group"]) == (minor.name, minor.parent.name)


def test_service_definition_and_unknown_code(client, taxonomy):
    data = client.get(f"{BASE}/services/SJ0101.json").json()
    assert data == {"service_code": "SJ0101", "attributes": []}
    root = _xml(client.get(f"{BASE}/services/SJ0101.xml"))
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == "SJ0101"
    assert root.find("attributes") is not None
    major = taxonomy.cat["SJ0101"].parent.code
    for code in ("NOPE", major):
        response = client.get(f"{BASE}/services/{code}.json")
        assert response.status_code == 404
        assert response.json()[0]["code"] == 404
    root = _xml(client.get(f"{BASE}/services/NOPE.xml"))
    assert root.tag == "errors" and root.findtext("error/code") == "404"


def test_unknown_jurisdiction_is_refused(client, taxonomy, town):
    assert client.get(f"{BASE}/services.json?jurisdiction_id={town.city.code}").status_code == 200
    response = client.get(f"{BASE}/services.json?jurisdiction_id=999999")
    assert response.status_code == 404
    assert response.json() == [{"code": 404, "description": "Unknown jurisdiction_id."}]


# --- POST ------------------------------------------------------------------------------------


def test_post_files_a_case_as_the_client_account(client, key, taxonomy, town):
    response = _post(
        client,
        key,
        address_string="幸福路 1 号",
        first_name="三",
        last_name="张",
        phone="13800001111",
        email="z@example.com",
        account_id="abc",
        **{"attribute[x]": "ignored"},
    )
    assert response.status_code == 200, response.content
    [answer] = response.json()
    case = Case.objects.get(number=answer["service_request_id"])
    assert answer["account_id"] == "abc"
    assert answer["service_notice"]
    assert case.source == Source.OPEN311
    assert case.reporter.username == "open311-fixmystreet"
    assert case.grid == town.grid
    assert (case.lat, case.lng) == HERE
    assert case.address == "幸福路 1 号"
    assert case.reporter_name == "三 张"
    assert case.category == taxonomy.cat["SJ0101"]
    assert AuditEntry.objects.filter(object_id=str(case.pk), object_type="cases.case").exists()


def test_post_answers_xml(client, key):
    response = client.post(
        f"{BASE}/requests.xml",
        {
            "api_key": key,
            "service_code": "SJ0101",
            "lat": HERE[0],
            "long": HERE[1],
            "description": "路灯不亮",
        },
    )
    root = _xml(response)
    assert root.tag == "service_requests", response.content.decode()
    number = root.findtext("request/service_request_id")
    assert Case.objects.filter(number=number).exists()


@pytest.mark.parametrize(
    "fields, status, fragment",
    [
        ({"api_key": None}, 403, "api_key is required"),
        ({"api_key": "ll_wrong"}, 403, "not valid"),
        ({"service_code": "NOPE"}, 404, "Unknown service_code"),
        ({"service_code": ""}, 400, "service_code is required"),
        ({"lat": None, "long": None, "address_string": "幸福路 1 号"}, 400, "lat and long"),
        ({"lat": 10.0, "long": 10.0}, 400, "outside every grid"),
        ({"lat": "north", "long": "east"}, 400, "two numbers"),
        ({"lat": 95, "long": 118}, 400, "between -90 and 90"),
        ({"description": "x" * 5000}, 400, "limit is 2000"),
        ({"description": "  "}, 400, "Describe the problem"),
        ({"phone": "12"}, 400, ""),
    ],
)
def test_post_errors_in_the_specifications_shape(client, key, fields, status, fragment):
    if fields.get("api_key", "") is None:
        fields = {k: v for k, v in fields.items() if k != "api_key"}
        response = _post(client, None, **fields)
    else:
        response = _post(client, fields.pop("api_key", key), **fields)
    assert response.status_code == status, response.content
    [error] = response.json()
    assert error["code"] == status
    assert fragment in error["description"]
    assert not Case.objects.exists()


def test_post_error_in_xml(client, key):
    response = client.post(f"{BASE}/requests.xml", {"api_key": "ll_wrong"})
    assert response.status_code == 403
    root = _xml(response)
    assert root.tag == "errors"
    assert root.findtext("error/code") == "403"
    assert root.findtext("error/description") == "This api_key is not valid."


def test_revoked_key_and_inactive_account_are_refused(client, key):
    token = ApiToken.objects.get()
    token.revoked_at = timezone.now()
    token.save()
    assert _post(client, key).status_code == 403
    _account, second = open311_client_issue(actor=None, name="FixMyStreet")
    User.objects.filter(username="open311-fixmystreet").update(is_active=False)
    assert _post(client, second).status_code == 403


def test_wrong_method_is_refused(client, db):
    assert client.post(f"{BASE}/services.json").status_code == 405


# --- GET requests ----------------------------------------------------------------------------


def _filed(client, key, **fields) -> str:
    response = _post(client, key, **fields)
    assert response.status_code == 200, response.content
    return response.json()[0]["service_request_id"]


def test_request_representation_json_and_xml(client, key, actors, taxonomy):
    number = _filed(client, key, address_string="幸福路 1 号")
    case = Case.objects.get(number=number)
    case_register(actor=actors.grid, case_id=case.pk)
    case_publish(actor=actors.grid, case_id=case.pk, public=True)
    [data] = client.get(f"{BASE}/requests/{number}.json", {"api_key": key}).json()
    assert set(data) == REQUEST_FIELDS
    assert data["status"] == "open"
    assert data["status_notes"] == "Registered"
    assert data["service_code"] == "SJ0101"
    assert data["description"] == "井盖丢了"
    assert data["address"] == "幸福路 1 号"
    assert (data["lat"], data["long"]) == HERE
    assert data["agency_responsible"] is None
    for field in ("requested_datetime", "updated_datetime", "expected_datetime"):
        _aware(data[field])
    case.refresh_from_db()
    assert _aware(data["expected_datetime"]) == case.stage_deadline
    root = _xml(client.get(f"{BASE}/requests/{number}.xml", {"api_key": key}))
    assert root.tag == "service_requests"
    [request] = root.findall("request")
    assert {child.tag for child in request} == REQUEST_FIELDS
    assert request.findtext("service_request_id") == number
    assert request.findtext("status") == "open"
    assert float(request.findtext("lat")) == HERE[0]
    assert request.findtext("media_url") == ""


def test_xml_survives_control_characters_and_markup(client, key, actors):
    number = _filed(client, key, description="响铃\x07 <script>alert(1)</script> & 更多")
    case_publish(actor=actors.grid, case_id=Case.objects.get(number=number).pk, public=True)
    root = _xml(client.get(f"{BASE}/requests/{number}.xml", {"api_key": key}))
    assert root.findtext("request/description") == "响铃 <script>alert(1)</script> & 更多"


def test_an_administrator_issues_a_key_in_the_admin(client, key, town):
    """The admin path: a resident service account and the user list's token action."""
    staff = User.objects.create_superuser("root", password="pw-root")
    account = User.objects.create_user("open311-citizen-app", role=Role.RESIDENT)
    client.force_login(staff)
    response = client.post(
        "/admin/core/user/",
        {"action": "issue_api_token", "_selected_action": [account.pk]},
        follow=True,
    )
    [message] = [str(m) for m in response.context["messages"]]
    issued = message.rsplit(" ", 1)[-1]
    client.logout()
    assert _post(client, issued).status_code == 200
    assert Case.objects.get().reporter == account


def test_closed_requests_are_closed_with_notes(client, key, actors):
    number = _filed(client, key)
    from linli.cases.services import case_reject

    case_reject(actor=actors.grid, case_id=Case.objects.get(number=number).pk, reason="重复")
    [data] = client.get(f"{BASE}/requests/{number}.json", {"api_key": key}).json()
    assert data["status"] == "closed"
    assert data["status_notes"] == "Not registered"
    assert data["service_notice"] == ""
    assert data["expected_datetime"] is None


def test_request_filters(client, key, taxonomy):
    first = _filed(client, key)
    second = _filed(client, key, service_code="SJ0102")
    old = _filed(client, key)
    Case.objects.filter(number=old).update(reported_at=timezone.now() - dt.timedelta(days=120))

    def numbers(**params):
        response = client.get(f"{BASE}/requests.json", {"api_key": key, **params})
        assert response.status_code == 200, response.content
        return {r["service_request_id"] for r in response.json()}

    # Default: the last 90 days.
    assert numbers() == {first, second}
    assert numbers(service_code="SJ0102") == {second}
    assert numbers(service_code="SJ0101,SJ0102") == {first, second}
    assert numbers(status="open") == {first, second}
    assert numbers(status="closed") == set()
    assert numbers(status="open,closed") == {first, second}
    # A list of ids overrides every other filter, the old one included.
    assert numbers(service_request_id=f"{first},{old}", service_code="SJ0102") == {first, old}
    start = (timezone.now() - dt.timedelta(days=130)).isoformat()
    end = (timezone.now() - dt.timedelta(days=100)).isoformat()
    assert numbers(start_date=start, end_date=end) == {old}
    assert numbers(end_date=end) == {old}
    # An offset whose "+" the client did not escape arrives as a space.
    plus = (timezone.now() - dt.timedelta(days=130)).astimezone(dt.timezone(dt.timedelta(hours=8)))
    assert numbers(start_date=plus.isoformat().replace("+", " "), end_date=end) == {old}
    assert numbers(start_date="2020-01-01T00:00:00Z", end_date="2020-01-02T00:00:00Z") == set()
    # A start alone searches the 90 days from it, never everything since.
    assert numbers(start_date=start) == {old}
    root = _xml(client.get(f"{BASE}/requests.xml", {"api_key": key, "service_code": "SJ0102"}))
    assert [r.findtext("service_request_id") for r in root.findall("request")] == [second]


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"status": "pending"}, "open or closed"),
        ({"start_date": "yesterday"}, "W3C datetime"),
        ({"start_date": "2026-02-30T00:00:00Z"}, "W3C datetime"),
        ({"start_date": "2026-05-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"}, "after"),
        ({"start_date": "2025-01-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"}, "90 days"),
        ({"end_date": "0001-01-01T00:00:00Z"}, "between 1900 and 2999"),
        ({"start_date": "9999-12-31T00:00:00Z"}, "between 1900 and 2999"),
        ({"end_date": "0001-01-01"}, "between 1900 and 2999"),
    ],
)
def test_bad_filters_are_400(client, key, params, fragment):
    response = client.get(f"{BASE}/requests.json", {"api_key": key, **params})
    assert response.status_code == 400
    assert fragment in response.json()[0]["description"]


def test_reading_needs_no_key_and_shows_public_fields_only(client, key, actors, report):
    """Anyone may follow any request of the city: status, service, dates, agency, position.
    The resident's description, address and photo only once staff made the case public; who
    reported it, never."""
    filed = _filed(client, key, address_string="幸福路 1 号", first_name="三", last_name="张")
    residents = report(description="楼道堆满杂物").number
    for number in (filed, residents):
        [data] = client.get(f"{BASE}/requests/{number}.json").json()
        assert set(data) == REQUEST_FIELDS
        assert (data["lat"], data["long"]) == HERE
        assert data["status"] == "open" and data["service_code"] == "SJ0101"
        assert data["description"] is data["address"] is data["media_url"] is None
        assert "张" not in json.dumps(data, ensure_ascii=False)
    listed = client.get(f"{BASE}/requests.json").json()
    assert {r["service_request_id"] for r in listed} == {filed, residents}
    assert all(r["description"] is None for r in listed)
    root = _xml(client.get(f"{BASE}/requests/{residents}.xml"))
    assert root.findtext("request/description") == ""

    case = Case.objects.get(number=residents)
    case_publish(actor=actors.grid, case_id=case.pk, public=True)
    [data] = client.get(f"{BASE}/requests/{residents}.json").json()
    assert data["description"] == "楼道堆满杂物"
    assert data["media_url"] is None  # no photo yet
    assert "resident" not in json.dumps(data)
    entry = AuditEntry.objects.filter(object_id=str(case.pk)).latest("id")
    assert entry.actor == actors.grid and entry.changes["is_public"] == [False, True]
    case_publish(actor=actors.grid, case_id=case.pk, public=False)
    [data] = client.get(f"{BASE}/requests/{residents}.json").json()
    assert data["description"] is None
    missing = client.get(f"{BASE}/requests/2099010100000001.json")
    assert missing.status_code == 404
    assert missing.json() == [{"code": 404, "description": "Unknown service_request_id."}]


def test_a_public_case_shows_its_photo_without_exif(client, key, actors, report):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    from linli.cases.photos import case_photo_add

    case = report()
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "JPEG")
    upload = SimpleUploadedFile("p.jpg", buffer.getvalue(), content_type="image/jpeg")
    photo = case_photo_add(actor=actors.resident, case_id=case.pk, upload=upload)
    media = f"{BASE}/media/{case.number}/{photo.pk}"
    assert client.get(media).status_code == 404  # not public yet
    case_publish(actor=actors.grid, case_id=case.pk, public=True)
    [data] = client.get(f"{BASE}/requests/{case.number}.json").json()
    assert data["media_url"] == f"http://testserver{media}"
    response = client.get(media)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content) == photo.public.open("rb").read()
    assert client.get(f"{BASE}/media/{case.number}/{photo.pk + 1}").status_code == 404


def test_publishing_is_for_those_who_register_cases(actors, report):
    from linli.core.errors import NotFound, PermissionDenied

    case = report()
    with pytest.raises(PermissionDenied):
        case_publish(actor=actors.resident, case_id=case.pk, public=True)
    with pytest.raises(NotFound):  # outside the neighbour's grid: as if missing
        case_publish(actor=actors.neighbour, case_id=case.pk, public=True)
    assert not Case.objects.get(pk=case.pk).is_public


def test_staff_tokens_are_not_api_keys(client, key, actors):
    """A staff token in a query string would land in access logs: refused everywhere."""
    number = _filed(client, key)
    _token, staff_key = api_token_issue(actor=None, user=actors.grid, name="patrol app")
    for response in (
        client.get(f"{BASE}/requests/{number}.json", {"api_key": staff_key}),
        client.get(f"{BASE}/requests.json", {"api_key": staff_key}),
        _post(client, staff_key),
    ):
        assert response.status_code == 403
        assert "staff member's API token" in response.json()[0]["description"]
    assert client.get(f"{BASE}/requests.json", {"api_key": "ll_wrong"}).status_code == 403
    assert Case.objects.count() == 1


def test_token_resolves_to_the_request(client, key):
    number = _filed(client, key)
    data = client.get(f"{BASE}/tokens/{number}.json", {"api_key": key}).json()
    assert data == [{"service_request_id": number, "token": number}]
    root = _xml(client.get(f"{BASE}/tokens/{number}.xml", {"api_key": key}))
    assert root.findtext("request/token") == number
    assert client.get(f"{BASE}/tokens/nope.json", {"api_key": key}).status_code == 404


# --- keys ------------------------------------------------------------------------------------


def test_open311_key_command_prints_a_working_key(client, town, taxonomy, capsys):
    call_command("open311_key", name="掌上城管")
    key = capsys.readouterr().out.strip()
    assert key.startswith("ll_")
    account = ApiToken.objects.get(key_hash=ApiToken.hash_key(key)).user
    assert account.role == Role.RESIDENT
    assert not account.has_usable_password()
    assert account.display_name == "掌上城管"
    assert _post(client, key).status_code == 200
    # The same client name gets a second key on the same account.
    call_command("open311_key", name="掌上城管")
    assert ApiToken.objects.filter(user=account).count() == 2
    assert AuditEntry.objects.filter(object_type="core.user", object_id=str(account.pk)).exists()


def test_open311_key_command_refuses_an_empty_name(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("open311_key", name="  ")


# --- a real HTTP client against a live server ------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_live_server_post_and_read_back(live_server, town, taxonomy):
    _account, key = open311_client_issue(actor=None, name="live client")
    with httpx.Client(
        base_url=f"{live_server.url}{BASE}", headers={"Accept-Language": "en"}, timeout=10
    ) as http:
        response = http.post(
            "/requests.json",
            data={
                "api_key": key,
                "service_code": "SJ0101",
                "lat": str(HERE[0]),
                "long": str(HERE[1]),
                "description": "路边有一堆垃圾",
            },
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        number = response.json()[0]["service_request_id"]
        [data] = http.get(f"/requests/{number}.json").json()
        assert data["service_request_id"] == number
        assert data["status"] == "open"
        response = http.get(f"/requests/{number}.xml", params={"api_key": key})
        assert response.headers["content-type"] == "text/xml; charset=utf-8"
        root = ET.fromstring(response.content)
        assert root.findtext("request/service_request_id") == number
        assert root.findtext("request/status") == "open"
        refused = http.post("/requests.json", data={"api_key": "ll_wrong"})
        assert refused.status_code == 403
        assert json.loads(refused.text) == [
            {"code": 403, "description": "This api_key is not valid."}
        ]
