"""Every response carries a strict Content-Security-Policy, and no template needs more: no
inline script, event handler, style attribute or javascript: link anywhere."""

import re
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.urls import reverse

from linli.settings import tile_image_source

TEMPLATE_ROOTS = [Path(settings.BASE_DIR)]
FORBIDDEN = {
    "inline script": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
    "inline style element": re.compile(r"<style", re.I),
    "style attribute": re.compile(r"\sstyle=", re.I),
    "event handler attribute": re.compile(r"\son[a-z]+=", re.I),
    "htmx hx-on (eval)": re.compile(r"\shx-on", re.I),
    "javascript: link": re.compile(r"javascript:", re.I),
}


def directives(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    return {
        name: values
        for name, *values in (part.split() for part in header.split(";") if part.strip())
    }


@pytest.mark.parametrize("path", ["/login/", "/api/v1/places", "/no-such-page/"])
def test_every_response_forbids_inline_script_and_style(client, db, path):
    policy = directives(client.get(path))
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]


def test_pages_of_signed_in_users_carry_it_too(client, street_officer, town):
    client.force_login(street_officer)
    response = client.get(reverse("places:detail", args=[town.grid.id]))
    assert response.status_code == 200
    assert directives(response)["script-src"] == ["'self'"]


def test_no_template_needs_inline_script_or_style():
    found = []
    for root in TEMPLATE_ROOTS:
        for template in root.rglob("templates/**/*.html"):
            text = template.read_text(encoding="utf-8")
            for what, pattern in FORBIDDEN.items():
                for match in pattern.finditer(text):
                    line = text.count("\n", 0, match.start()) + 1
                    found.append(f"{template.relative_to(root)}:{line}: {what}")
    assert found == []


@pytest.mark.parametrize(
    ("template", "source"),
    [
        ("", []),
        (
            "https://t0.tianditu.gov.cn/vec_w/wmts?TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=KEY",
            ["https://t0.tianditu.gov.cn"],
        ),
        ("https://t{s}.tianditu.gov.cn/vec_w/wmts?x={x}", ["https://*.tianditu.gov.cn"]),
        ("http://tiles.example.gov.cn:8080/{z}/{x}/{y}.png", ["http://tiles.example.gov.cn:8080"]),
    ],
)
def test_map_tiles_are_allowed_from_the_configured_host_only(template, source):
    assert tile_image_source(template) == source


@pytest.mark.parametrize("template", ["tiles/{z}/{x}/{y}.png", "https://a.{s}.example.cn/{z}"])
def test_a_tile_url_the_policy_cannot_express_is_refused_at_start(template):
    with pytest.raises(ImproperlyConfigured, match="LINLI_MAP_TILE_URL"):
        tile_image_source(template)


def test_seed_says_how_to_point_maps_at_a_tile_service(db, settings):
    settings.LINLI_MAP_TILE_URL = ""
    out, err = StringIO(), StringIO()
    call_command("seed", households=2, stdout=out, stderr=err)
    assert "LINLI_MAP_TILE_URL" in err.getvalue() and "tianditu" in err.getvalue()
    assert out.getvalue().splitlines()[-1].startswith("Bounding box")  # still the last line
