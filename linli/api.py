"""The JSON API (django-ninja) under /api/v1/; OpenAPI at /api/v1/openapi.json."""

from ninja import NinjaAPI

from linli.cases.api import router as cases_router
from linli.core.api import AUTH, install_error_handlers
from linli.core.api import router as core_router
from linli.people.api import router as people_router
from linli.places.api import router as places_router

api = NinjaAPI(
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
