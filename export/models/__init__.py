"""The kit's model registry: one module per model in this package, each defining `MODEL` (a KitModel).

Adding a model is one new module here (plus its tests): `models()` imports every public module of this
package and registers its `MODEL`. Everything else (the pipeline, `tfkit export`/`train`, convert, the
sample rows, the browser demo) asks the registry and never names a model itself.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from export.models.base import KitModel

__all__ = ["KitModel", "UnknownModelError", "get", "models", "names"]


class UnknownModelError(ValueError):
    """No registered model has this name."""


def discover(package: str) -> dict[str, KitModel]:
    """name -> MODEL of every public module of `package` that defines one (a KitModel), in name order."""
    found: dict[str, KitModel] = {}
    pkg = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        model = getattr(importlib.import_module(f"{package}.{info.name}"), "MODEL", None)
        if isinstance(model, KitModel):
            if model.name in found:
                raise ValueError(f"two registered models are named {model.name!r}")
            found[model.name] = model
    return found


@functools.cache
def models() -> dict[str, KitModel]:
    """Every registered kit model by name (discovered once, on first use)."""
    return discover(__name__)


def names() -> tuple[str, ...]:
    return tuple(models())


def get(name: str) -> KitModel:
    """The registered model `name`; UnknownModelError listing the known ones otherwise."""
    try:
        return models()[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}: expected one of {', '.join(names())}") from None
