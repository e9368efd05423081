"""Ideal conductance updates (the "linear baseline"): an optimiser step on G, clipped.

``Updater`` is the replaceable component of the training loop: it owns the conductances
(S) of the network (ideal updates hold them directly, device updates as device states);
``step`` takes the EqProp gradients and returns the new conductances. Device- and
pulse-programmed updates implement the same protocol.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from ebana.errors import ConfigError
from ebana.registry import Registry

__all__ = ["Updater", "IdealUpdate", "OPTIMIZERS", "SGD", "Momentum", "Adam"]

OPTIMIZERS: Registry = Registry("optimizer", ConfigError)


class Updater(Protocol):
    def conductances(self) -> list[np.ndarray]:
        """The current conductances (S), one array per crossbar."""

    def step(self, grads: Sequence[np.ndarray], lr: float) -> list[np.ndarray]:
        """Apply one update for the gradients ``grads`` at learning rate ``lr``; the new conductances."""

    def state_dict(self) -> dict[str, np.ndarray]: ...

    def load_state_dict(self, state: dict[str, np.ndarray], conductances: Sequence[np.ndarray]) -> None:
        """Restore a checkpoint: the state and the conductances it saved (device updates
        recompute theirs from their device states)."""


@OPTIMIZERS.register("sgd")
class SGD:
    """dG = -lr * grad."""

    def __init__(self, shapes: Sequence[tuple[int, ...]]) -> None:
        self.t = 0

    def direction(self, k: int, grad: np.ndarray) -> np.ndarray:
        """A new array (the caller scales it in place)."""
        return grad.copy()

    def tick(self) -> None:
        self.t += 1

    def scale(self) -> float:
        """Factor the caller applies to ``direction`` (folded into the step's one multiply)."""
        return 1.0

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"t": np.array(self.t)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.t = int(state["t"])


@OPTIMIZERS.register("momentum")
class Momentum(SGD):
    """Heavy-ball momentum 0.9: m = 0.9 m + grad; dG = -lr m."""

    def __init__(self, shapes, mu: float = 0.9) -> None:
        super().__init__(shapes)
        self.mu = mu
        self.m = [np.zeros(s) for s in shapes]

    def direction(self, k, grad):
        self.m[k] = self.mu * self.m[k] + grad
        return self.m[k].copy()

    def state_dict(self):
        return {"t": np.array(self.t), **{f"m{k}": m for k, m in enumerate(self.m)}}

    def load_state_dict(self, state):
        self.t = int(state["t"])
        self.m = [np.array(state[f"m{k}"]) for k in range(len(self.m))]


@OPTIMIZERS.register("adam")
class Adam(SGD):
    """Standard Adam (0.9, 0.999, eps) with bias correction; lr is then in S per step."""

    def __init__(self, shapes, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> None:
        super().__init__(shapes)
        self.b1, self.b2, self.eps = b1, b2, eps
        # moments in float32: they only scale the step (G itself stays float64); halves memory traffic
        self.m = [np.zeros(s, dtype=np.float32) for s in shapes]
        self.v = [np.zeros(s, dtype=np.float32) for s in shapes]

    def direction(self, k, grad):
        m, v = self.m[k], self.v[k]
        b1, b2, t = self.b1, self.b2, self.t + 1
        g = np.multiply(grad, 1.0 - b1, dtype=np.float32)          # (1 - b1) g
        m *= b1
        m += g                                                      # m = b1 m + (1 - b1) g
        np.multiply(g, g, out=g)
        g *= (1.0 - b2) / (1.0 - b1) ** 2                          # (1 - b2) g^2
        v *= b2
        v += g
        np.sqrt(v, out=g)                                           # mh / (sqrt(vh) + eps), with
        g *= 1.0 / np.sqrt(1.0 - b2 ** t)                           # mh = m / (1 - b1^t),
        g += self.eps                                               # vh = v / (1 - b2^t);
        np.divide(m, g, out=g)                                      # returns (1 - b1^t) times it
        return g

    def scale(self) -> float:
        """Factor the caller applies to ``direction`` (Adam's first-moment bias correction)."""
        return 1.0 / (1.0 - self.b1 ** (self.t + 1))

    def state_dict(self):
        d = {"t": np.array(self.t)}
        d.update({f"m{k}": m for k, m in enumerate(self.m)})
        d.update({f"v{k}": v for k, v in enumerate(self.v)})
        return d

    def load_state_dict(self, state):
        self.t = int(state["t"])
        self.m = [np.array(state[f"m{k}"], dtype=np.float32) for k in range(len(self.m))]
        self.v = [np.array(state[f"v{k}"], dtype=np.float32) for k in range(len(self.v))]


class IdealUpdate:
    """G <- clip(G - lr * scale_k * direction(grad), g_min, g_max) for every crossbar k, except
    its ``frozen`` cells (no device: G stays 0 S; fixed pooling devices). Copies of a shared
    weight get the same gradient and stay equal: every step is elementwise."""

    def __init__(self, optimizer: str, conductances: Sequence[np.ndarray], g_min: float, g_max: float,
                 lr_scale: Sequence[float] | None = None,
                 frozen: Sequence[np.ndarray | None] | None = None) -> None:
        shapes = [np.shape(g) for g in conductances]
        self.opt = OPTIMIZERS.get(optimizer)(shapes)
        self.g_min, self.g_max = g_min, g_max
        self.g = [np.array(g, dtype=np.float64) for g in conductances]
        self.lr_scale = [1.0] * len(shapes) if lr_scale is None else list(lr_scale)
        if len(self.lr_scale) != len(shapes):
            raise ConfigError(f"lr_scale has {len(self.lr_scale)} entries for {len(shapes)} crossbars")
        self.frozen = [None] * len(shapes) if frozen is None else list(frozen)
        """Per crossbar, cells (bool) that keep their G (no device of a local crossbar, pooling); None: none."""

    def conductances(self) -> list[np.ndarray]:
        return self.g

    def step(self, grads, lr):
        out = []
        for k, (g, d) in enumerate(zip(self.g, grads)):
            factor = -lr * self.lr_scale[k] * self.opt.scale()
            step = np.multiply(self.opt.direction(k, d), factor, dtype=np.float64)
            step += g
            np.maximum(step, self.g_min, out=step)
            np.minimum(step, self.g_max, out=step)
            if self.frozen[k] is not None:
                np.copyto(step, g, where=self.frozen[k])
            out.append(step)
        self.opt.tick()
        self.g = out   # new arrays: the ones handed out before are never changed
        return out

    def state_dict(self):
        return self.opt.state_dict()

    def load_state_dict(self, state, conductances):
        if [np.shape(g) for g in conductances] != [g.shape for g in self.g]:
            raise ConfigError(f"conductances of shapes {[np.shape(g) for g in conductances]}, "
                              f"expected {[g.shape for g in self.g]}")
        self.opt.load_state_dict(state)
        self.g = [np.array(g, dtype=np.float64) for g in conductances]
