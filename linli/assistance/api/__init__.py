"""The assistance API (社会救助), one module per area, under /api/v1/assistance/."""

from ninja import Router

from . import applications, assess, benefits, payments, policies, simulations, supervision

router = Router()
for area in (assess, policies, applications, benefits, payments, supervision, simulations):
    router.add_router("", area.router)
