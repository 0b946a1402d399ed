"""Statistics page, its Excel export and the map of open cases."""

import datetime as dt
import io
import json
import re

import pytest
import time_machine
from django.urls import reverse
from openpyxl import load_workbook

from linli.core.services import api_token_issue

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
# A Wednesday morning, China time: the period ends "today", and cases are reported "now".
NOW = dt.datetime(2026, 12, 2, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
TODAY = NOW.date()


@pytest.fixture(autouse=True)
def frozen_clock():
    """A session's clock may pass midnight between collecting TODAY and reporting a case."""
    with time_machine.travel(NOW, tick=True):
        yield


def period(**more):
    return {"start": (TODAY - dt.timedelta(days=364)).isoformat(), "end": TODAY.isoformat(), **more}


def test_the_page_shows_a_row_per_street_with_totals_and_a_chart(
    client, actors, town, year, django_assert_max_num_queries
):
    client.force_login(actors.operator)
    with django_assert_max_num_queries(12):
        html = client.get(reverse("cases:statistics"), period(grouping="street"), **EN)
    html = html.content.decode()
    table = html[
        html.index('id="statistics"') : html.index("</table>", html.index('id="statistics"'))
    ]
    assert town.street.name in table and town.other_street.name in table
    assert table.count("<tr") == 4  # heading, two streets, total
    assert "50.0" in table  # on-time handling in the first street: one late of two
    chart = json.loads(re.search(r'id="chart-data"[^>]*>(.*?)</script>', html, re.S).group(1))
    assert chart["names"] == [town.street.name, town.other_street.name]
    assert [s["data"][0] for s in chart["series"]] == [100.0, 50.0, 50.0]


def test_a_backwards_period_or_a_place_outside_reach_is_an_inline_error(client, actors, town):
    client.force_login(actors.street)
    backwards = client.get(
        reverse("cases:statistics"),
        {"start": TODAY, "end": TODAY - dt.timedelta(days=2), "grouping": "street"},
        **EN,
    ).content.decode()
    assert "The end is before the start." in backwards and 'id="chart"' not in backwards
    elsewhere = client.get(
        reverse("cases:statistics"), period(grouping="grid", place=town.other_street.pk), **EN
    ).content.decode()
    assert "Select a valid choice" in elsewhere
    # The choice list offers only the officer's own places.
    assert town.other_street.name not in elsewhere and town.street.name in elsewhere


def test_the_export_is_an_excel_file_of_the_same_figures(client, actors, town, year):
    client.force_login(actors.operator)
    response = client.get(reverse("cases:statistics_export"), period(grouping="department"), **EN)
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert 'filename="cases-department-' in response["Content-Disposition"]
    wb = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    sheet = wb["Statistics"]
    heading = [c.value for c in sheet[2]]
    assert heading[:4] == ["Department", "Code", "Reported", "Registered"]
    rows = {r[1]: r for r in sheet.iter_rows(min_row=3, values_only=True)}
    cgj = rows["CGJ"]
    assert cgj[heading.index("Reported")] == 3
    assert cgj[heading.index("Rework rate (%)")] == 50
    total = [c.value for c in sheet[sheet.max_row]]
    assert total[0] == "Total" and total[heading.index("Reported")] == 4
    top = list(wb["Top categories"].iter_rows(min_row=2, values_only=True))
    assert [(r[2], r[3]) for r in top] == [("SJ0101", 3), ("SJ0102", 1)]


def test_a_resident_has_no_statistics(client, actors):
    client.force_login(actors.resident)
    assert client.get(reverse("cases:statistics")).status_code == 403
    assert client.get(reverse("cases:statistics_export")).status_code == 403
    assert client.get(reverse("cases:map")).status_code == 403


def test_the_map_shows_open_cases_of_the_jurisdiction_only(client, actors, town, year):
    client.force_login(actors.street)
    html = client.get(reverse("cases:map"), **EN).content.decode()
    data = json.loads(re.search(r'id="map-data"[^>]*>(.*?)</script>', html, re.S).group(1))
    # The street's open cases: the late one and the old one; the other street's are not shown.
    assert sorted(c["number"] for c in data["cases"]) == sorted(
        [year["late"].number, year["old"].number]
    )
    assert [g["name"] for g in data["grids"]] == [town.grid.name]
    assert {c["url"] for c in data["cases"]} == {
        reverse("cases:detail", args=[year[k].pk]) for k in ("late", "old")
    }
    assert "2 open cases with a location." in html

    client.force_login(actors.neighbour)
    other = client.get(reverse("cases:map")).content.decode()
    assert year["late"].number not in other


def test_the_api_gives_the_same_figures_within_reach(client, actors, town, year):
    _, key = api_token_issue(actor=None, user=actors.street, name="test")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}", **EN}
    url = "/api/v1/cases/statistics"
    body = client.get(url, period(grouping="grid"), **auth).json()
    assert [(r["code"], r["reported"]) for r in body["rows"]] == [(town.grid.code, 2)]
    assert body["total"]["handle_on_time_rate"] == "50.0"  # decimals travel as strings
    assert body["total"]["top_categories"][0] == {
        "code": "SJ0101",
        "name": year["fixed"].category.name,
        "cases": 1,
    }
    outside = client.get(url, period(place_id=town.other_street.pk), **auth)
    assert outside.status_code == 404
    backwards = client.get(url, {"start": TODAY, "end": TODAY - dt.timedelta(days=1)}, **auth)
    assert backwards.status_code == 422
    assert [e["field"] for e in backwards.json()["errors"]] == ["end"]
    _, resident_key = api_token_issue(actor=None, user=actors.resident, name="test")
    denied = client.get(url, period(), HTTP_AUTHORIZATION=f"Bearer {resident_key}")
    assert denied.status_code == 403
