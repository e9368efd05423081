"""Circuit solvers: ``numpy`` (exact vectorised, the fast path) and ``ngspice`` (the reference)."""

from ebana.backends.base import Backend, Solution, create, names

__all__ = ["Backend", "Solution", "create", "names"]
