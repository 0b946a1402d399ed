"""The JSON API (django-ninja) under /api/v1/; OpenAPI at /api/v1/openapi.json."""

from django.utils.translation import get_language
from ninja import NinjaAPI

from linli.cases.api import router as cases_router
from linli.core.api import AUTH, install_error_handlers
from linli.core.api import router as core_router
from linli.people.api import router as people_router
from linli.places.api import router as places_router


class CachedSchemaAPI(NinjaAPI):
    """The OpenAPI document, built once per process and language: building it walks every
    route and schema (about a quarter of a second), which no anonymous caller should be able
    to make the server do at will."""

    _schemas: dict[tuple[str, str], dict] = {}

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        key = (path_prefix or self.get_root_path(path_params or {}), get_language() or "")
        if key not in self._schemas:
            self._schemas[key] = super().get_openapi_schema(path_prefix=key[0])
        return self._schemas[key]


api = CachedSchemaAPI(
    title="Linli API",
    version="1",
    description="Community governance and people's-livelihood services (邻里).",
    urls_namespace="api",
    auth=AUTH,
)
install_error_handlers(api)
api.add_router("/", core_router)
api.add_router("/", places_router)
api.add_router("/people", people_router)
api.add_router("/cases", cases_router)
