"""Weight-update components: turn EqProp gradients into new conductances.

- :mod:`.ideal` -- :class:`IdealUpdate` (optimiser step on G, clipped; the linear baseline).
- :mod:`.pulses` -- PWM / PAM encoders, calibration, :func:`program` (pulses through a device).
- :mod:`.device_update` -- :class:`DeviceUpdate` (training through memristors, composed of a
  :class:`Request`, a pulse policy, a writer and a :class:`DeviceArray`; :func:`device_update` = PWM/PAM).
- :mod:`.algorithms` -- analog SGD, mixed precision, residual learning (policies and writers).
"""

from ebana.updates.device_update import (DeviceArray, DeviceTally, DeviceUpdate, Request, UpdateReport,
                                         check_device_config, device_update, pair_index)
from ebana.updates.ideal import OPTIMIZERS, IdealUpdate, Updater
from ebana.updates.pulses import Calibration, Pulses, calibrate, program, pwm, state_for_conductance

__all__ = ["DeviceArray", "DeviceTally", "Request", "device_update", "OPTIMIZERS", "IdealUpdate", "Updater",
           "DeviceUpdate", "UpdateReport", "check_device_config", "pair_index", "Calibration", "Pulses", "calibrate",
           "program", "pwm", "state_for_conductance"]
