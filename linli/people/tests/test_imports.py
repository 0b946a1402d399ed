"""Excel import: template round trip, every kind of bad row, both modes, all-or-nothing on a
crash, files that are not Excel or too large, scoping; run by the real worker."""

import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse
from openpyxl import load_workbook

from linli.core.errors import PermissionDenied, ValidationFailed
from linli.core.models import AuditEntry
from linli.core.roles import Role
from linli.core.testing.factories import make_id_number, make_user
from linli.people import imports, spreadsheets
from linli.people.models import Household, ImportJob, ImportStatus, Person

# The worker opens and closes its own database connections, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def importer(town):
    """A community worker of the grid's community: importing is theirs, not the grid worker's."""
    return make_user("importer", Role.COMMUNITY_WORKER, [town.community])


@pytest.fixture
def other_importer(town):
    return make_user("other_importer", Role.COMMUNITY_WORKER, [town.other_community])


def workbook(households=(), persons=()) -> bytes:
    """The downloaded template, filled in like a user would."""
    wb = load_workbook(io.BytesIO(spreadsheets.template_workbook()))
    sheets = wb.worksheets
    for row in households:
        sheets[1].append(list(row))
    for row in persons:
        sheets[2].append(list(row))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def upload(content: bytes, name="people.xlsx") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def run_worker() -> None:
    call_command("db_worker", batch=True, no_startup_delay=True, reload=False, verbosity=0)


def import_now(actor, content, mode="all_or_nothing", *, capture) -> ImportJob:
    with capture(execute=True):
        job = imports.import_job_create(actor=actor, upload=upload(content), mode=mode)
    run_worker()
    job.refresh_from_db()
    return job


def good_rows(town):
    head = make_id_number(birth=dt.date(1950, 1, 1))
    wife = make_id_number(birth=dt.date(1952, 2, 2), sex="F")
    return (
        [("H100", "和平路 1 号", town.building.code, "城镇")],
        [
            ("H100", "户主", "赵一", head, "13912345678", "是", "", "", "否", "是", "", ""),
            ("H100", "配偶", "钱二", wife, "", "", "肢体", 2, "", "", "", "是"),
        ],
    )


def test_template_round_trip_loads_everything_with_audit(
    town, importer, django_capture_on_commit_callbacks
):
    households, persons = good_rows(town)
    job = import_now(
        importer, workbook(households, persons), capture=django_capture_on_commit_callbacks
    )
    assert job.status == ImportStatus.DONE, job.errors
    assert (job.households_created, job.persons_created, job.error_count) == (1, 2, 0)
    household = Household.objects.get(number="H100")
    head = Person.objects.get(name="赵一")
    wife = Person.objects.get(name="钱二")
    assert household.building == town.building and household.place_path == town.building.path
    assert head.relation == "head" and head.living_alone and head.veteran
    assert head.birth_date == dt.date(1950, 1, 1) and head.street_path == town.street.path
    assert wife.disability_category == "physical" and wife.disability_grade == 2
    assert wife.chronic_illness and wife.sex == "F"
    created = AuditEntry.objects.filter(action="create", source=f"import:{job.pk}")
    assert created.count() == 3
    assert AuditEntry.objects.filter(action="import", object_id=str(job.pk)).exists()
    # The audit log keeps masked values only.
    assert head.id_number not in str(list(created.values_list("changes", flat=True)))


def test_every_bad_row_is_reported_with_sheet_row_and_column(
    town, importer, people, django_capture_on_commit_callbacks
):
    good = make_id_number(birth=dt.date(1960, 5, 5))
    bad_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    job = import_now(
        importer,
        workbook(
            [
                ("H200", "一号", town.building.code, ""),
                ("H201", "二号", "999999", ""),  # unknown building
                ("H202", "三号", town.other_building.code, ""),  # the neighbour's building
                ("H200", "重复", town.building.code, ""),  # number repeated in the file
                (people.household.number, "已有", town.building.code, ""),  # in the database
            ],
            [
                ("H200", "户主", "甲", good, "", "", "", "", "", "", "", ""),
                ("H200", "子女", "乙", good, "", "", "", "", "", "", "", ""),  # repeated ID
                ("H200", "子女", "丙", bad_check, "", "", "", "", "", "", "", ""),
                ("H200", "子女", "丁", "37050219801301123X", "", "", "", "", "", "", "", ""),
                ("H200", "户主", "戊", make_id_number(), "", "", "", "", "", "", "", ""),
                ("H999", "子女", "己", make_id_number(), "", "", "", "", "", "", "", ""),
                ("H201", "户主", "庚", make_id_number(), "", "", "", "", "", "", "", ""),
                ("H200", "表亲", "辛", make_id_number(), "", "", "", "", "", "", "", ""),
                ("H200", "子女", "壬", people.head.id_number, "", "", "", "", "", "", "", ""),
                ("H200", "子女", "癸", make_id_number(), "12345", "", "", "", "", "", "", ""),
                ("H200", "子女", "", make_id_number(), "", "", "视力", "", "", "", "", ""),
            ],
        ),
        capture=django_capture_on_commit_callbacks,
    )
    assert job.status == ImportStatus.REJECTED
    assert not Household.objects.filter(number="H200").exists()
    found = {(e["sheet"], e["row"], e["column"].split(" ")[0]) for e in job.errors}
    expected = {
        ("Households", 3, "C"),
        ("Households", 4, "C"),
        ("Households", 5, "A"),
        ("Households", 6, "A"),
        ("Persons", 3, "D"),
        ("Persons", 4, "D"),
        ("Persons", 5, "D"),
        ("Persons", 6, "B"),
        ("Persons", 7, "A"),
        ("Persons", 8, "A"),
        ("Persons", 9, "B"),
        ("Persons", 10, "D"),
        ("Persons", 11, "E"),
        ("Persons", 12, "C"),
        ("Persons", 12, "H"),
    }
    assert expected <= found, expected - found
    assert ("Persons", 2, "D") not in found
    messages = " ".join(e["message"] for e in job.errors)
    assert "check digit" in messages and "not a real date" in messages
    assert "already registered" in messages and "No building with code 999999" in messages
    assert job.error_count == 14


def test_good_rows_mode_loads_the_good_rows_only(
    town, importer, django_capture_on_commit_callbacks
):
    households, persons = good_rows(town)
    households.append(("H101", "坏楼", "000", ""))
    persons.append(("H101", "户主", "孙三", make_id_number(), "", "", "", "", "", "", "", ""))
    job = import_now(
        importer,
        workbook(households, persons),
        mode="good_rows",
        capture=django_capture_on_commit_callbacks,
    )
    assert job.status == ImportStatus.DONE
    assert (job.households_created, job.persons_created, job.error_count) == (1, 2, 2)
    assert not Person.objects.filter(name="孙三").exists()  # its household row was bad


def test_members_can_join_an_existing_household_in_scope_only(
    town, importer, people, django_capture_on_commit_callbacks
):
    mine = ("H0001", "孙子女", "张小小", make_id_number(birth=dt.date(2015, 1, 1)))
    theirs = ("H0002", "子女", "李小小", make_id_number(birth=dt.date(2016, 1, 1)))
    job = import_now(
        importer,
        workbook((), [mine + ("",) * 8, theirs + ("",) * 8]),
        mode="good_rows",
        capture=django_capture_on_commit_callbacks,
    )
    assert Person.objects.get(name="张小小").household == people.household
    assert not Person.objects.filter(name="李小小").exists()
    assert [e["row"] for e in job.errors] == [3]


def test_a_crash_during_the_load_leaves_nothing(
    town, importer, monkeypatch, django_capture_on_commit_callbacks
):
    households, persons = good_rows(town)

    def fail(*_args, **_kwargs):
        raise RuntimeError("disk full")

    # The households are written, then the audit write fails: the transaction must undo all.
    monkeypatch.setattr(imports, "record_many", fail)
    job = import_now(
        importer, workbook(households, persons), capture=django_capture_on_commit_callbacks
    )
    assert job.status == ImportStatus.FAILED and "nothing was loaded" in job.failure
    assert not Household.objects.filter(number="H100").exists()
    assert not Person.objects.filter(name="赵一").exists()


def test_the_job_runs_once_even_if_queued_twice(town, importer, django_capture_on_commit_callbacks):
    households, persons = good_rows(town)
    job = import_now(
        importer, workbook(households, persons), capture=django_capture_on_commit_callbacks
    )
    again = imports.import_job_run(job_id=job.pk)
    assert again.status == ImportStatus.DONE and Person.objects.filter(name="赵一").count() == 1


def test_files_that_are_not_excel_are_refused(town, importer):
    for name, content in (
        ("people.xlsx", b"name,id\n"),  # a CSV renamed
        ("people.xlsx", b"PK\x03\x04 not really a zip"),
        ("people.xls", workbook()),  # right content, wrong kind of name
    ):
        with pytest.raises(ValidationFailed) as exc:
            imports.import_job_create(
                actor=importer, upload=upload(content, name), mode="good_rows"
            )
        assert "file" in exc.value.details
    assert not ImportJob.objects.exists()


@override_settings(LINLI_MAX_UPLOAD_BYTES=1024)
def test_an_oversized_upload_is_refused_before_it_is_read(client, town, importer):
    client.force_login(importer)
    content = workbook() + b"\0" * 200_000

    response = client.post(
        reverse("people:import_new"),
        {"file": SimpleUploadedFile("big.xlsx", content), "mode": "good_rows"},
        headers={"Accept-Language": "en"},
    )
    body = response.content.decode()
    assert response.status_code == 200 and 'id="id_file_errors"' in body
    assert "largest accepted" in body and not ImportJob.objects.exists()
    with pytest.raises(ValidationFailed):
        imports.import_job_create(actor=importer, upload=upload(content), mode="good_rows")


def test_a_100_mb_upload_is_refused_from_its_declared_length(client, town, importer):
    """The body is never read: the declared length alone gets the clear refusal."""
    client.force_login(importer)
    response = client.post(
        reverse("people:import_new"),
        {"file": SimpleUploadedFile("huge.xlsx", b"PK"), "mode": "good_rows"},
        headers={"Accept-Language": "en"},
        CONTENT_LENGTH=str(100 * 1024 * 1024),
    )
    body = response.content.decode()
    assert response.status_code == 200 and "The file is 100.0 MB" in body
    assert not ImportJob.objects.exists()


def test_only_importers_import_and_jobs_are_private(
    client, town, importer, other_importer, grid_worker, django_capture_on_commit_callbacks
):
    with pytest.raises(PermissionDenied):
        imports.import_job_create(actor=grid_worker, upload=upload(workbook()), mode="good_rows")
    job = import_now(importer, workbook(), capture=django_capture_on_commit_callbacks)
    client.force_login(other_importer)
    assert client.get(reverse("people:import_detail", args=[job.pk])).status_code == 404
    client.force_login(importer)
    assert client.get(reverse("people:import_detail", args=[job.pk])).status_code == 200


def test_ten_thousand_bad_rows_are_all_reported_a_page_at_a_time(
    client, town, importer, django_capture_on_commit_callbacks
):
    rows = [
        ("H1", "子女", f"人{i}", "12345", "", "", "", "", "", "", "", "") for i in range(10_000)
    ]
    job = import_now(importer, workbook((), rows), capture=django_capture_on_commit_callbacks)
    assert job.status == ImportStatus.REJECTED
    assert job.error_count == 10_000 and job.processed_rows == 10_000
    client.force_login(importer)
    url = reverse("people:import_detail", args=[job.pk])
    html = client.get(url, headers={"Accept-Language": "en"}).content.decode()
    assert len(job.errors) == 10_000
    assert html.count("<tr>") == 51 and "Page 1 of 200" in html
    errors = client.get(reverse("people:import_errors", args=[job.pk]))
    sheet = load_workbook(io.BytesIO(b"".join(errors.streaming_content))).active
    assert sheet.max_row == 1 + sum(1 for e in job.errors)


def test_upload_page_to_finished_job_through_the_browser_forms(
    client, town, importer, django_capture_on_commit_callbacks
):
    client.force_login(importer)
    template = client.get(reverse("people:import_template"))
    content = b"".join(template.streaming_content)
    assert load_workbook(io.BytesIO(content)).sheetnames[1:3] == ["住户", "人员"]
    households, persons = good_rows(town)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("people:import_new"),
            {"file": upload(workbook(households, persons)), "mode": "all_or_nothing"},
        )
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "people:import_detail", args=[job.pk]
    )
    polling = client.get(response["Location"]).content.decode()
    assert 'hx-trigger="every 1s"' in polling
    run_worker()
    done = client.get(response["Location"], headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in done and "<html" not in done


def test_the_api_queues_an_import_and_reports_progress_and_errors(
    client, town, importer, django_capture_on_commit_callbacks
):
    from linli.core.services import api_token_issue

    _, key = api_token_issue(actor=None, user=importer, name="bulk")
    headers = {"Authorization": f"Bearer {key}", "Accept-Language": "en"}
    households, persons = good_rows(town)
    persons.append(("H100", "子女", "周四", "12345", "", "", "", "", "", "", "", ""))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/people/imports",
            {"file": upload(workbook(households, persons)), "mode": "good_rows"},
            headers=headers,
        )
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    run_worker()
    body = client.get(f"/api/v1/people/imports/{job_id}", headers=headers).json()
    assert body["status"] == "done" and body["persons_created"] == 2
    assert body["errors"] == [
        {
            "sheet": "Persons",
            "row": 4,
            "column": "D (ID number)",
            "message": "An ID number has 18 characters; this one has 5.",
        }
    ]
    refused = client.post(
        "/api/v1/people/imports",
        {"file": upload(b"not excel"), "mode": "good_rows"},
        headers=headers,
    )
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "file"


@override_settings(LINLI_MAX_UPLOAD_BYTES=1024)
def test_the_api_refuses_an_oversized_upload_with_the_size_message(client, town, importer):
    from linli.core.services import api_token_issue

    _, key = api_token_issue(actor=None, user=importer, name="bulk")
    response = client.post(
        "/api/v1/people/imports",
        {"file": upload(b"PK" + b"\0" * 200_000), "mode": "good_rows"},
        headers={"Authorization": f"Bearer {key}", "Accept-Language": "en"},
    )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "file" and "the largest accepted is 0 MB" in error["message"]
    assert not ImportJob.objects.exists()
