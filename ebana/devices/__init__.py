"""Memristor device models, in numpy and as ngspice subcircuits.

Public API
----------
- :func:`names`, :func:`get`, :func:`create` -- the model registry
  (``create("vteam", v_off=0.03)``, ``create("yakopcic", preset="spice_2011")``).
- :class:`DeviceModel` -- the interface (``conductance``, ``current``, ``apply_pulse``,
  ``initial_state``, ``with_range``, ``with_variability``); :class:`PulseResult`.
- :func:`rescale` -- read-map rescaling of a model to a target [R_ON, R_OFF] (see
  :mod:`ebana.devices.base`).

Models: ``ideal``, ``linear_ion_drift`` (HP, Joglekar/Biolek/Prodromakis windows),
``nonlinear_ion_drift`` (Lehtonen-Laiho), ``team``, ``vteam``, ``yakopcic``,
``stanford_pku``, ``messaris``, ``soft_bounds_linear``/``_power``/``_exp`` (response
families, :mod:`.soft_bounds`). Submodules: :mod:`.iv` (drivers), :mod:`.spice`
(subcircuits, ngspice runs), :mod:`.plots` (figures).
"""

from __future__ import annotations

from ebana.devices import (  # noqa: F401  (registration side effect)
    ideal, linear_ion_drift, messaris, nonlinear_ion_drift, soft_bounds, stanford_pku, team, vteam,
    yakopcic,
)
from ebana.devices.base import V_READ, Demo, DeviceModel, DeviceParams, PulseResult
from ebana.devices.registry import create, get, names

__all__ = ["names", "get", "create", "rescale", "DeviceModel", "DeviceParams", "PulseResult",
           "Demo", "V_READ"]


def rescale(model: DeviceModel, r_on: float, r_off: float) -> DeviceModel:
    """Copy of ``model`` read-mapped to R_ON = r_on and R_OFF = r_off (ohm) at V_READ.

    Same as ``model.with_range(r_on, r_off)``; the rule is in :mod:`ebana.devices.base`.
    """
    return model.with_range(r_on, r_off)
