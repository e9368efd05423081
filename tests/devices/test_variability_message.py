"""A device-to-device spread too wide for a model is refused in one line that names the pair."""

from __future__ import annotations

import numpy as np
import pytest

from ebana import devices
from ebana.errors import DeviceError


def test_too_wide_a_spread_names_the_first_bad_device_and_the_count():
    m = devices.create("vteam")
    with pytest.raises(DeviceError) as err:
        m.with_variability((400, 400), np.random.default_rng(0), 0.6)
    msg = str(err.value)
    assert "\n" not in msg and "array" not in msg
    assert "must be > r_on =" in msg and "of 160000 devices" in msg and "d2d=0.6 spread too large" in msg


def test_scalar_parameters_keep_the_short_message():
    with pytest.raises(DeviceError, match=r"^vteam: parameter r_off=40 must be > r_on = 50 ohm$"):
        devices.create("vteam", r_off=40.0)
