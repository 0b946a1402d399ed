"""Two API schemas with one class name share one OpenAPI component, and one silently takes
the other's place in the document: each name must be unique across the apps."""

from collections import defaultdict

from ninja import Schema

import linli.api  # noqa: F401  (imports every app's routers and their schemas)


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_api_schema_name_is_unique():
    where = defaultdict(set)
    for schema in _subclasses(Schema):
        if schema.__module__.startswith("linli."):
            where[schema.__name__].add(schema.__module__)
    twice = {name: sorted(modules) for name, modules in where.items() if len(modules) > 1}
    assert not twice, f"rename one of each: {twice}"
