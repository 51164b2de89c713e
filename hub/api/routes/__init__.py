"""One module per resource; each exposes ``router``, included by ``create_app`` automatically.

A module may set ``PREFIX`` (default ``"/api/v1"``; ``""`` for root paths such
as /healthz). Every route must declare a role policy (see hub/api/deps.py).
"""

import importlib
import pkgutil
from collections.abc import Iterator
from types import ModuleType

DEFAULT_PREFIX = "/api/v1"


def route_modules() -> Iterator[ModuleType]:
    """Every module of this package that has a ``router``, in name order."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "router"):
            yield module
