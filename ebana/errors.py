"""Errors that ebana raises on purpose.

Every message names the offending item and value, so the CLI can print it as one line.
"""

__all__ = [
    "EbanaError", "ConfigError", "TopologyError", "NetlistError", "SimulationError",
    "ConvergenceError", "NgspiceMissingError", "DeviceError", "DatasetError", "CheckpointError",
]


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
