"""Fixtures for the device-model tests."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from ebana import devices

NAMES = devices.names()
HAS_NGSPICE = shutil.which("ngspice") is not None
needs_ngspice = pytest.mark.skipif(not HAS_NGSPICE, reason="ngspice executable not found")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(params=NAMES)
def model(request):
    return devices.create(request.param)
