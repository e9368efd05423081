"""Registry of device models: register(name), names(), get(name), create(name, **params)."""

from __future__ import annotations

from typing import Any, Callable

from ebana.errors import DeviceError
from ebana.registry import Registry

__all__ = ["MODELS", "register", "names", "get", "create"]

MODELS: Registry = Registry("device model", DeviceError)


def register(name: str) -> Callable[[type], type]:
    """Class decorator adding a :class:`~ebana.devices.base.DeviceModel` subclass under ``name``."""
    return MODELS.register(name)


def names() -> list[str]:
    """Sorted names of the registered models."""
    return MODELS.names()


def get(name: str) -> type:
    """Model class registered as ``name``; unknown names raise a one-line :class:`DeviceError`.

    ``fitted:PATH`` is the model fitted to measurements in the file PATH
    (:mod:`ebana.devices.fitted`; not listed by :func:`names`).
    """
    if isinstance(name, str) and name.startswith("fitted:"):
        from ebana.devices.fitted import fitted_class

        return fitted_class(name)
    return MODELS.get(name)


def create(name: str, **params: Any):
    """Instance of model ``name`` with its default (preset) parameters overridden by ``params``.

    ``preset="..."`` selects one of the model's named parameter sets first.
    """
    return get(name)(**params)
