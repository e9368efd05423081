"""Errors that ebana raises on purpose.

Every message names the offending item and value, so the CLI can print it as one line.
"""

import difflib
from collections.abc import Iterable

__all__ = [
    "EbanaError", "ConfigError", "TopologyError", "NetlistError", "SimulationError",
    "ConvergenceError", "NgspiceMissingError", "DeviceError", "MeasurementError", "DatasetError",
    "CheckpointError",
    "did_you_mean",
]


def did_you_mean(word: object, known: Iterable[str], *, quote: bool = True, prefix: str = "") -> str:
    """`` (did you mean X?)`` for the closest of ``known`` to ``word`` (X = prefix + match,
    repr-quoted unless ``quote`` is False), or ``""`` when nothing is close."""
    close = difflib.get_close_matches(str(word), list(known), n=1)
    if not close:
        return ""
    match = prefix + close[0]
    return f" (did you mean {match!r}?)" if quote else f" (did you mean {match}?)"


class EbanaError(Exception):
    """Root of every error ebana raises on purpose."""


class ConfigError(EbanaError):
    """A configuration value is missing, of the wrong type or out of range."""


class TopologyError(EbanaError):
    """The network graph is invalid (bad layer size, cycle, unreachable output...)."""


class NetlistError(EbanaError):
    """A circuit cannot be rendered or parsed as a netlist."""


class SimulationError(EbanaError):
    """A backend failed to solve a circuit."""


class ConvergenceError(SimulationError):
    """A DC operating point was not found within the tolerance or iteration budget."""


class NgspiceMissingError(SimulationError):
    """The ngspice shared library or PySpice cannot be loaded."""


class DeviceError(EbanaError):
    """A memristor model or its parameters are invalid."""


class DatasetError(EbanaError):
    """A dataset is missing, corrupt or malformed."""


class CheckpointError(EbanaError):
    """A checkpoint cannot be written, read or resumed."""


class MeasurementError(DeviceError):
    """A measurement file (pulse-response CSV) is malformed; the message names row and column."""
