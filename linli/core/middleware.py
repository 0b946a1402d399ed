"""Renders an ApplicationError raised by a page view: a partial for htmx, a page otherwise. A
database outage is one (503 with Retry-After, `core/unavailable.py`).

The JSON API renders the same `as_dict()` shape through its own exception handler.
"""

from __future__ import annotations

import re

from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string

from .errors import ApplicationError, ServiceUnavailable
from .unavailable import is_database_outage, log_outage

# An id usable as a CSS selector as it stands (htmx sends the target's id in HX-Target).
_ELEMENT_ID = re.compile(r"[A-Za-z][\w-]*")


class ApplicationErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if is_database_outage(exception):
            log_outage(request, exception)
            exception = ServiceUnavailable()
        if not isinstance(exception, ApplicationError):
            return None
        if request.headers.get("Accept", "").startswith("application/json"):
            response = JsonResponse(exception.as_dict(), status=exception.status)
            return with_retry_after(response, exception)
        is_htmx = request.headers.get("HX-Request") == "true"
        outage = isinstance(exception, ServiceUnavailable)
        template = (
            "core/_error.html"
            if is_htmx
            else "core/unavailable.html"
            if outage
            else "core/error_page.html"
        )
        # In an outage the request's context (user, session, messages) would need the database.
        html = render_to_string(template, {"error": exception}, request=None if outage else request)
        response = with_retry_after(HttpResponse(html, status=exception.status), exception)
        if is_htmx:
            # Into the element the request named as its target (a case action's own error
            # box, next to its button), else the page's message area; never replacing it.
            target = request.headers.get("HX-Target", "")
            response["HX-Retarget"] = f"#{target}" if _ELEMENT_ID.fullmatch(target) else "#messages"
            response["HX-Reswap"] = "innerHTML"
        return response


def with_retry_after(response: HttpResponse, error: ApplicationError) -> HttpResponse:
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response
