"""The monitoring API (监测预警), one module per area, under /api/v1/monitoring/."""

from ninja import Router

from . import keys, overview, screening, signals, visits

router = Router()
for area in (screening, signals, visits, keys, overview):
    router.add_router("", area.router)
