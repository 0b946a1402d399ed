"""Place tree browser, place page with its map data, and the place form."""

import json

from django.urls import reverse

from linli.places.models import Place


def test_tree_starts_at_the_users_places_and_opens_by_htmx(
    client, grid_worker, street_officer, town
):
    client.force_login(street_officer)
    html = client.get(reverse("places:tree")).content.decode()
    assert town.street.name in html and town.district.name not in html
    children = client.get(
        reverse("places:children", args=[town.street.id]), headers={"HX-Request": "true"}
    ).content.decode()
    assert town.community.name in children and "<html" not in children

    client.force_login(grid_worker)
    html = client.get(reverse("places:tree")).content.decode()
    assert town.grid.name in html and town.other_grid.name not in html


def test_place_page_shows_counts_ancestors_and_boundaries(client, street_officer, town, people):
    client.force_login(street_officer)
    html = client.get(reverse("places:detail", args=[town.community.id])).content.decode()
    assert town.grid.name in html
    assert reverse("places:detail", args=[town.street.id]) in html  # in scope: a link
    assert reverse("places:detail", args=[town.district.id]) not in html  # above: a name only
    data = json.loads(html.split('id="map-data" type="application/json">')[1].split("</script>")[0])
    assert {c["name"] for c in data["children"]} == {town.grid.name}
    persons_link = reverse("people:persons") + f"?place_id={town.community.id}"
    assert f'href="{persons_link}">2<' in html  # the two members of the household there


def test_place_form_validates_inline_and_saves_with_audit(client, street_officer, town):
    client.force_login(street_officer)
    url = reverse("places:edit", args=[town.grid.id])
    bad = client.post(url, {"name": "", "lat": "95", "boundary": "{not json"})
    body = bad.content.decode()
    assert bad.status_code == 200
    for field in ("name", "lat", "boundary"):
        assert f'id="id_{field}_errors"' in body
    half = client.post(url, {"name": "一网格", "lat": "37.4"}).content.decode()
    assert 'id="id_lat_errors"' in half  # latitude without longitude
    response = client.post(url, {"name": "一网格(新)", "lat": "37.4", "lng": "118.6"})
    assert response.status_code == 302
    grid = Place.objects.get(pk=town.grid.pk)
    assert grid.name == "一网格(新)" and grid.lat == 37.4
    page = client.get(reverse("places:detail", args=[grid.id])).content.decode()
    assert "<del>" + town.grid.name + "</del>" in page  # history: before → after


def test_grid_worker_cannot_edit_places(client, grid_worker, town):
    client.force_login(grid_worker)
    assert client.get(reverse("places:edit", args=[town.grid.id])).status_code == 404
