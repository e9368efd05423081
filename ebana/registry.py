"""A tiny name -> factory registry (devices, datasets, losses, optimizers, backends).

Use ``reg = Registry("device model")``, decorate classes with ``@reg.register("name")``,
then ``reg.names()`` and ``reg.get(name)``. Unknown names raise :class:`ConfigError`
listing the known ones, so tests can parametrise over ``names()``.
"""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

from ebana.errors import ConfigError, did_you_mean

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Mapping of names to registered objects, with helpful errors."""

    def __init__(self, kind: str, error: type[Exception] = ConfigError) -> None:
        self.kind = kind
        self.error = error
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._items:
                raise self.error(f"{self.kind} {name!r} registered twice")
            self._items[name] = obj
            try:
                obj.name = name
            except (AttributeError, TypeError):
                pass
            return obj
        return add

    def names(self) -> list[str]:
        return sorted(self._items)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise self.error(
                f"unknown {self.kind} {name!r}{did_you_mean(name, self._items)}; known: {', '.join(self.names())}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._items
