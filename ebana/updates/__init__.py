"""Weight-update components: turn EqProp gradients into new conductances.

- :mod:`.ideal` -- :class:`IdealUpdate` (optimiser step on G, clipped; the linear baseline).
- :mod:`.pulses` -- PWM / PAM encoders, calibration, :func:`program` (pulses through a device).
- :mod:`.device_update` -- :class:`DeviceUpdate` (training through memristors).
"""

from ebana.updates.device_update import DeviceTally, DeviceUpdate, UpdateReport, check_device_config, pair_index
from ebana.updates.ideal import OPTIMIZERS, IdealUpdate, Updater
from ebana.updates.pulses import Calibration, Pulses, calibrate, program, pwm, state_for_conductance

__all__ = ["DeviceTally", "OPTIMIZERS", "IdealUpdate", "Updater", "DeviceUpdate", "UpdateReport", "check_device_config",
           "pair_index", "Calibration", "Pulses", "calibrate", "program", "pwm", "state_for_conductance"]
