"""Shift augmentation: exact pixel moves, zero fill, seeded draws, resume, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from ebana.augment import image_side, shift_images
from ebana.config import apply_overrides, preset
from ebana.errors import ConfigError
from ebana.training import Trainer
from tests.conftest import interrupted_and_resumed


def test_every_image_moves_by_its_own_shift_with_zero_fill():
    side, s = 6, 2
    x = np.zeros((50, side * side))
    x[:, 2 * side + 3] = 1.0                                   # one pixel at (2, 3)
    x[:, 0] = 0.5                                              # and one at the corner
    out = shift_images(x, side, s, (0, 1, 2))
    dy, dx = np.random.default_rng((0, 1, 2)).integers(-s, s + 1, size=(2, 50))
    img = out.reshape(50, side, side)
    for k in range(50):
        assert img[k, 2 + dy[k], 3 + dx[k]] == 1.0
        inside = min(dy[k], dx[k]) >= 0                        # else the corner pixel leaves the frame
        if inside:
            assert img[k, dy[k], dx[k]] == 0.5
        assert np.count_nonzero(img[k]) == 1 + inside          # vacated pixels are 0
    assert len({(a, b) for a, b in zip(dy, dx)}) > 10          # shifts differ between samples
    assert np.array_equal(out, shift_images(x, side, s, (0, 1, 2)))
    assert not np.array_equal(out, shift_images(x, side, s, (0, 1, 3)))


@pytest.mark.parametrize("n, enc, shift, msg", [(10, "none", 1, "needs square images; the dataset has 10"),
                                                (64, "minmax", 1, "needs encoding = 'none'"),
                                                (64, "none", 8, r"must be in \[0, 7\] pixels")])
def test_bad_augmentation_is_one_line(n, enc, shift, msg):
    with pytest.raises(ConfigError, match=msg):
        image_side(n, enc, shift)


def test_augmented_run_resumes_bit_exactly_and_differs_from_plain(tmp_path):
    cfg = apply_overrides(preset("digits"), {"epochs": 2, "hidden": (12,), "batch_size": 64, "augment_shift": 1,
                                             "limit_train": 512, "limit_test": 128})
    ref, resumed = interrupted_and_resumed(cfg, tmp_path, (1, 3))
    assert [r["test_loss"] for r in ref.history] == [r["test_loss"] for r in resumed.history]
    plain = Trainer(apply_overrides(cfg, {"augment_shift": 0}), tmp_path / "plain")
    plain.run()
    assert plain.history[-1]["train_loss"] != ref.history[-1]["train_loss"]
