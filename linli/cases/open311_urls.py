"""Open311 GeoReport v2 routes: each resource in .json and .xml.

Service codes, request ids and tokens are strings in the specification, so these routes sit
outside the pages' integer-id rule; the scope walk skips "open311/" and test_open311.py checks
that a key reaches only its own requests.
"""

from django.urls import path, re_path

from . import open311

urlpatterns = [
    # media_url of a request staff made public; the id's digits stay within a bigint.
    re_path(r"^media/(?P<service_request_id>[\w-]+)/(?P<photo_id>\d{1,18})$", open311.media),
]
for fmt in open311.FORMATS:
    urlpatterns += [
        path(f"discovery.{fmt}", open311.discovery, {"fmt": fmt}),
        path(f"services.{fmt}", open311.services, {"fmt": fmt}),
        re_path(
            rf"^services/(?P<service_code>[\w-]+)\.{fmt}$",
            open311.service_definition,
            {"fmt": fmt},
        ),
        path(f"requests.{fmt}", open311.requests, {"fmt": fmt}),
        re_path(
            rf"^requests/(?P<service_request_id>[\w-]+)\.{fmt}$",
            open311.request_detail,
            {"fmt": fmt},
        ),
        re_path(rf"^tokens/(?P<token>[\w-]+)\.{fmt}$", open311.token, {"fmt": fmt}),
    ]
