"""What the devices and the ADC see on IRIS: VTEAM's dead zone vs the phase drops, node spans after training.

Usage (from the repository root): ``python experiments/nonideal/read_voltages.py`` (~10 s). Prints
(1) over the free and +-beta phases of the whole training set on the initial VTEAM network, the
fraction of devices whose drop V_row - V_col stays inside VTEAM's dead zone in every phase, and
the fraction of all drops beyond its RESET threshold; (2) after 20 epochs (VTEAM, PWM), each
layer's free-phase voltage range on the test set and the fraction outside the clamp window.
"""

from __future__ import annotations

import tempfile

import numpy as np

from ebana.backends import create
from ebana.builder import build
from ebana.config import apply_overrides, preset
from ebana.phases import PhaseController
from ebana.training import Trainer
from ebana.updates.faults import device_drops


def main() -> None:
    cfg = apply_overrides(preset("iris"), {"device.model": "vteam", "nonideal.t_read": 1e-9})
    p = build(cfg)
    ph = PhaseController(create("numpy", p.circuit, conductances=p.updater.conductances()), p.loss, cfg.beta, True)
    r = ph.run(p.x_train, p.data.y_train)
    m = p.updater.array.model
    v = np.stack([np.concatenate([d.reshape(d.shape[0], -1) for d in device_drops(p.circuit, s)], axis=1)
                  for s in (r.free, r.a, r.b)])
    inside = np.all((v > m.v_th_reset) & (v < m.v_th_set), axis=(0, 1))
    print(f"VTEAM dead zone ({m.v_th_reset:g}, {m.v_th_set:g}) V: {inside.mean():.3f} of {inside.size} devices "
          f"inside in every phase; max |drop| {np.abs(v).max():.3f} V; drops below the RESET threshold: "
          f"{(v < m.v_th_reset).mean():.3f}, above the SET threshold: {(v > m.v_th_set).mean():.3f}")
    c = p.circuit.params
    t = Trainer(apply_overrides(preset("iris"), {"epochs": 20, "device.model": "vteam", "device.energy": False}),
                tempfile.mkdtemp())
    t.run()
    sol = t.phases.free(t.x_test)
    for q, layer in enumerate(sol.layers[1:], 1):
        out = ((layer < c.v_clamp_low) | (layer > c.v_clamp_high)).mean()
        print(f"layer {q}: free-phase range [{layer.min():.4f}, {layer.max():.4f}] V, outside the clamp window "
              f"[{c.v_clamp_low}, {c.v_clamp_high}] V: {out:.3f}")


if __name__ == "__main__":
    main()
