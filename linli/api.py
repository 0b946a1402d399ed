"""The JSON API (django-ninja) under /api/v1/; OpenAPI at /api/v1/openapi.json, interactive
docs at /api/v1/docs (Swagger UI from ninja's own static files: no CDN, works offline)."""

from functools import wraps

from django.http import HttpRequest, HttpResponse
from django.urls import re_path
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI

from linli.assistance.api import router as assistance_router
from linli.cases.api import router as cases_router
from linli.core.api import AUTH, ErrorOut, JsonParser, install_error_handlers
from linli.core.api import router as core_router
from linli.monitoring.api import router as monitoring_router
from linli.people.api import router as people_router
from linli.places.api import router as places_router

JSON_TYPES = ("application/json",)


class LinliAPI(NinjaAPI):
    """Ninja with three additions: the OpenAPI document cached and completed, every answer of
    the API in JSON (a path or method it does not know included), and JSON bodies checked
    for their content type (`core.api.JsonParser`)."""

    _schemas: dict[tuple[str, str], dict] = {}

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        # Built once per process and language: building it walks every route and schema
        # (about a quarter of a second), which no anonymous caller should make the server do
        # at will.
        key = (path_prefix or self.get_root_path(path_params or {}), get_language() or "")
        if key not in self._schemas:
            self._schemas[key] = _completed(super().get_openapi_schema(path_prefix=key[0]))
        return self._schemas[key]

    def _get_urls(self):
        urls = super()._get_urls()
        for pattern in urls:
            pattern.callback = _json_method_errors(pattern.callback, self)
        # Last: any other path under /api/v1/ is a JSON 404, not the site's HTML page (nor
        # the CSRF check's 403 to a POST with a session cookie).
        urls.append(re_path(r"", csrf_exempt(self._unknown_path), name="unknown"))
        return urls

    def _unknown_path(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        body = {"detail": _("There is no such API path."), "code": "not_found", "errors": []}
        return self.create_response(request, body, status=404)


def _completed(document: dict) -> dict:
    """Statuses every route of a kind answers, added where ninja cannot know them: 401 where a
    token or session is checked, 415 where a JSON body is read."""
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault(
        "ErrorOut", ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    )
    for item in document.get("paths", {}).values():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            # Also where no credentials are accepted: a token sent must be a valid one.
            if operation.get("security", document.get("security", [])):
                responses.setdefault(401, {"description": "No valid token or session.", **error})
            body = operation.get("requestBody", {}).get("content", {})
            if any(kind in body for kind in JSON_TYPES):
                responses.setdefault(
                    415, {"description": "The body is not sent as application/json.", **error}
                )
    return document


def _json_method_errors(view, api: NinjaAPI):
    """Ninja answers a method a path does not take with a plain-text 405; this one says it in
    the error shape and keeps the Allow header."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and "Allow" in response:
            allowed = response["Allow"]
            body = {
                "detail": _("This path takes %(methods)s.") % {"methods": allowed},
                "code": "method_not_allowed",
                "errors": [],
            }
            response = api.create_response(request, body, status=405)
            response["Allow"] = allowed
        return response

    return wrapped


api = LinliAPI(
    title="Linli API",
    version="1",
    description="Community governance and people's-livelihood services (邻里).",
    urls_namespace="api",
    auth=AUTH,
    parser=JsonParser(),
)
install_error_handlers(api)
api.add_router("/", core_router)
api.add_router("/", places_router)
api.add_router("/people", people_router)
api.add_router("/cases", cases_router)
api.add_router("/assistance", assistance_router)
api.add_router("/monitoring", monitoring_router)
