"""The registered projectors: importing every activity module runs its `@projector` decorators."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping

from projections.registry import PROJECTORS, Projector


def load_projectors(packages: tuple[str, ...] = ("activities",)) -> Mapping[str, Projector]:
    """Imports every module of `packages`, so a new projection activity needs no list kept in
    step here; returns the registry they fill."""
    for name in packages:
        package = importlib.import_module(name)
        for module in pkgutil.walk_packages(package.__path__, f"{name}."):
            importlib.import_module(module.name)
    return PROJECTORS
