"""ebana: equilibrium propagation on simulated analog memristor circuits.

A layered memristor-crossbar network (diode-clamped neurons, bidirectional amplifiers)
is built once as a backend-neutral :class:`~ebana.circuit.Circuit`, solved either by
ngspice (the reference) or by an exact vectorised numpy solver, and trained with the
EqProp rule on the voltage drops across the crossbar devices.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
