"""Circuit solvers: ``numpy`` (exact vectorised, the fast path) and ``ngspice`` (the reference)."""

from ebana.backends.base import BACKENDS, Backend, Solution, create, names
from ebana.backends.ngspice import NgspiceBackend
from ebana.backends.numpy_solver import NumpyBackend

BACKENDS.register("numpy")(NumpyBackend)
BACKENDS.register("ngspice")(NgspiceBackend)

__all__ = ["BACKENDS", "Backend", "Solution", "create", "names", "NumpyBackend", "NgspiceBackend"]
