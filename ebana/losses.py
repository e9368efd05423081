"""Losses on the class scores ``pred = V+ - V-`` (V), with their gradients dL/dpred.

The nudged phase injects ``-beta * dL/dpred`` into V+ and ``+beta * dL/dpred`` into V-.

Targets ``y`` are class indices (B,) or, for :class:`BinaryCrossEntropy` only, multi-hot labels
(B, K) of 0/1 (multi-label outputs); :func:`accuracy` scores both. :class:`SingleOutput` is a
binary head of one score (graph heads with ``outputs = 1``), BCE or MSE against a 0/1 target.
"""

from __future__ import annotations

import numpy as np

from ebana.errors import ConfigError
from ebana.registry import Registry

__all__ = ["Loss", "MSE", "CrossEntropy", "BinaryCrossEntropy", "Sparsemax", "sparsemax", "LOSSES", "create_loss",
           "accuracy", "label_correct", "SingleOutput", "MultiHead"]

LOSSES: Registry = Registry("loss", ConfigError)


class Loss:
    """Per-sample loss ``value(pred, y)`` and gradient ``grad(pred, y)`` (y: class indices)."""

    name = "loss"

    def value(self, pred: np.ndarray, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def grad(self, pred: np.ndarray, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @property
    def grad_scale(self) -> float:
        """Typical size of |dL/dpred| (loss units per V) before training: what a nudge current
        beta * dL/dpred is made of (used to bound one-sided nudging, :mod:`ebana.phases`)."""
        raise NotImplementedError

    def correct(self, pred: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per-sample correctness (bool, (B,)): :func:`accuracy`."""
        return accuracy(pred, y)

    def outputs(self, n_classes: int) -> int:
        """Scores (V+ - V- pairs) this loss reads for ``n_classes`` classes: one per class."""
        return n_classes


def _onehot(y: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(y), k))
    out[np.arange(len(y)), y] = 1.0
    return out


@LOSSES.register("mse")
class MSE(Loss):
    """L = 1/2 sum_k (pred_k - target_scale * onehot_k)^2, targets in volts."""

    def __init__(self, target_scale: float = 0.1, **_: float) -> None:
        if target_scale <= 0:
            raise ConfigError(f"mse target_scale must be > 0 V, got {target_scale}")
        self.target_scale = target_scale

    def value(self, pred, y):
        return 0.5 * np.sum((pred - self.target_scale * _onehot(y, pred.shape[1])) ** 2, axis=1)

    def grad(self, pred, y):
        return pred - self.target_scale * _onehot(y, pred.shape[1])

    @property
    def grad_scale(self) -> float:
        """|pred - target| of the true class at pred ~ 0: target_scale (V)."""
        return self.target_scale


@LOSSES.register("ce")
class CrossEntropy(Loss):
    """Softmax cross-entropy on pred / tau (tau in V): L = -log softmax(pred/tau)_y."""

    def __init__(self, tau: float = 0.05, **_: float) -> None:
        if tau <= 0:
            raise ConfigError(f"cross-entropy temperature tau must be > 0 V, got {tau}")
        self.tau = tau

    def _logp(self, pred):
        z = pred / self.tau
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def value(self, pred, y):
        return -self._logp(pred)[np.arange(len(y)), y]

    def grad(self, pred, y):
        return (np.exp(self._logp(pred)) - _onehot(y, pred.shape[1])) / self.tau

    @property
    def grad_scale(self) -> float:
        """|softmax - onehot| / tau <= 1 / tau (1/V): its bound, reached by a wrong confident score."""
        return 1.0 / self.tau


@LOSSES.register("bce")
class BinaryCrossEntropy(Loss):
    """Binary cross-entropy of every output, p_k = sigmoid(pred_k / tau) (tau in V):
    L = -sum_k [t_k ln p_k + (1 - t_k) ln(1 - p_k)], t the one-hot of a class index or the
    multi-hot row of a multi-label target. dL/dpred_k = (p_k - t_k) / tau."""

    def __init__(self, tau: float = 0.05, **_: float) -> None:
        if tau <= 0:
            raise ConfigError(f"bce temperature tau must be > 0 V, got {tau}")
        self.tau = tau

    @staticmethod
    def _target(y: np.ndarray, k: int) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim == 2:
            if y.shape[1] != k:
                raise ConfigError(f"bce: multi-label targets have {y.shape[1]} columns, the network {k} outputs")
            return y.astype(np.float64)
        return _onehot(y, k)

    def value(self, pred, y):
        z, t = pred / self.tau, self._target(y, pred.shape[1])
        # -t ln s(z) - (1-t) ln(1-s(z)) = softplus(z) - t z, softplus stable for any |z|
        return np.sum(np.logaddexp(0.0, z) - t * z, axis=1)

    def grad(self, pred, y):
        z = pred / self.tau
        p = 0.5 * (1.0 + np.tanh(0.5 * z))   # sigmoid without overflow
        return (p - self._target(y, pred.shape[1])) / self.tau

    @property
    def grad_scale(self) -> float:
        """|sigmoid - t| / tau <= 1 / tau (1/V)."""
        return 1.0 / self.tau


def sparsemax(z: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row of z onto the probability simplex (Martins & Astudillo 2016,
    Alg. 1): p = max(z - t, 0) with t such that sum p = 1; exact zeros for low scores."""
    zs = -np.sort(-z, axis=1)
    k = np.arange(1, z.shape[1] + 1)
    cum = np.cumsum(zs, axis=1)
    support = 1.0 + k * zs > cum                     # a prefix of the sorted scores
    n = support.sum(axis=1, keepdims=True)
    t = (np.take_along_axis(cum, n - 1, axis=1) - 1.0) / n
    return np.maximum(z - t, 0.0)


@LOSSES.register("sparsemax")
class Sparsemax(Loss):
    """Sparsemax loss on z = pred / tau (tau in V; Martins & Astudillo 2016, eq. 17):
    L = -z_y + 1/2 sum_{j in S} (z_j^2 - t^2) + 1/2, S the support of sparsemax(z) and t its
    threshold; L >= 0, and L = 0 once z_y exceeds every other score by 1. dL/dpred = (sparsemax(z)
    - onehot_y) / tau: like softmax cross-entropy, but the probabilities are sparse."""

    def __init__(self, tau: float = 0.05, **_: float) -> None:
        if tau <= 0:
            raise ConfigError(f"sparsemax temperature tau must be > 0 V, got {tau}")
        self.tau = tau

    def value(self, pred, y):
        z = pred / self.tau
        p = sparsemax(z)
        on = p > 0
        t = np.max(np.where(on, z - p, -np.inf), axis=1, keepdims=True)   # z_j - p_j = t on S
        sq = np.sum(np.where(on, z * z - t * t, 0.0), axis=1)
        return -z[np.arange(len(y)), y] + 0.5 * sq + 0.5

    def grad(self, pred, y):
        return (sparsemax(pred / self.tau) - _onehot(y, pred.shape[1])) / self.tau

    @property
    def grad_scale(self) -> float:
        """|sparsemax - onehot| / tau <= 1 / tau (1/V)."""
        return 1.0 / self.tau


def accuracy(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-sample correctness (bool, (B,)). Class indices: argmax(pred) == y. Multi-hot (B, K):
    exact match (subset accuracy), every output's decision pred_k > 0 V (p_k > 1/2) equal to y_k."""
    y = np.asarray(y)
    if y.ndim == 2:
        return np.all((pred > 0) == (y > 0.5), axis=1)
    return pred.argmax(1) == y


def label_correct(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Multi-hot targets (B, K) of 0/1: per sample and label, whether the output's decision
    pred_k > 0 V (p_k > 1/2) equals y_k (bool, (B, K)). Its mean over a label's column is that
    label's accuracy; 1 - its overall mean is the hamming loss; all of a row: exact match."""
    return (pred > 0) == (np.asarray(y) > 0.5)


def create_loss(name: str, **params: float) -> Loss:
    return LOSSES.get(name)(**params)


class SingleOutput(Loss):
    """A binary head of one score s = V+ - V- (V) against a 0/1 target y (B,) (class index 1 is
    the positive class). With BCE, p = sigmoid(s / tau) and L = softplus(s / tau) - y s / tau; with
    MSE, L = 1/2 (s - target_scale y)^2 and p = s / target_scale. Correct: (p > 1/2) == y, i.e.
    s above ``v_decision`` (V): 0 for BCE, target_scale / 2 for MSE."""

    name = "single_output"

    def __init__(self, base: Loss, key: str = "loss") -> None:
        if isinstance(base, BinaryCrossEntropy):
            self.v_decision = 0.0
        elif isinstance(base, MSE):
            self.v_decision = 0.5 * base.target_scale
        else:
            raise ConfigError(f"{key} = {base.name!r}: a one-output head needs loss 'bce' or 'mse' (a softmax "
                              f"over one score is constant)")
        self.base = base

    def _target(self, pred: np.ndarray, y: np.ndarray) -> np.ndarray:
        if pred.shape[1] != 1:
            raise ConfigError(f"one-output head: {pred.shape[1]} scores, expected 1")
        return np.asarray(y, dtype=np.float64)[:, None]

    def value(self, pred, y):
        t = self._target(pred, y)
        if isinstance(self.base, BinaryCrossEntropy):
            return self.base.value(pred, t)
        return 0.5 * np.sum((pred - self.base.target_scale * t) ** 2, axis=1)

    def grad(self, pred, y):
        t = self._target(pred, y)
        if isinstance(self.base, BinaryCrossEntropy):
            return self.base.grad(pred, t)
        return pred - self.base.target_scale * t

    @property
    def grad_scale(self) -> float:
        """The base loss's |dL/dpred| scale."""
        return self.base.grad_scale

    def correct(self, pred, y):
        """(p > 1/2) == y: the score above :attr:`v_decision`."""
        return (self._target(pred, y)[:, 0] > 0.5) == (pred[:, 0] > self.v_decision)

    def outputs(self, n_classes: int) -> int:
        """One score, whatever the (two) classes."""
        return 1


def _scaled(w: float, a):
    """w·a, and a itself (bit for bit) for w = 1."""
    return a if w == 1.0 else w * a


class MultiHead(Loss):
    """The summed loss of several output heads (graph networks, :mod:`ebana.graphnet`).

    Head h owns the scores ``pred[:, k0_h:k0_h + n_h]`` (n_h = its loss's :meth:`Loss.outputs` of its
    K_h classes: K_h, or 1 for a :class:`SingleOutput` head) and its own :class:`Loss`; L = sum_h L_h,
    so dL/dpred is the heads' gradients side by side and each head is nudged by its own loss.
    A target is one joint class index (B,) over the heads' class combinations, mixed radix with
    the first head most significant: y = (...(y_1 K_2 + y_2) K_3 + ...) (the data set's classes;
    :meth:`split` returns the per-head indices). A sample is correct when every head is.
    ``weights`` (–, > 0, default 1 each): L = sum_h w_h L_h, so head h is nudged w_h times as hard
    and its share of every gradient scales by w_h (a per-head learning rate).
    """

    name = "multihead"

    def __init__(self, heads: list[tuple[str, int, Loss]], weights: list[float] | None = None) -> None:
        if not heads:
            raise ConfigError("a multi-head loss needs at least one head")
        self.heads = [(name, int(k), loss) for name, k, loss in heads]
        self.offsets = np.cumsum([0] + [loss.outputs(k) for _, k, loss in self.heads])
        self.weights = [1.0] * len(self.heads) if weights is None else [float(w) for w in weights]
        if len(self.weights) != len(self.heads) or not all(w > 0 for w in self.weights):
            raise ConfigError(f"multi-head loss: weights {self.weights!r} must be one number > 0 per head")

    @property
    def n_joint(self) -> int:
        """Number of joint classes: the product of the heads' class counts."""
        return int(np.prod([k for _, k, _ in self.heads]))

    def split(self, y: np.ndarray) -> list[np.ndarray]:
        """Per-head class indices of joint targets y (B,)."""
        y = np.asarray(y, dtype=np.int64)
        out = []
        for _, k, _ in reversed(self.heads):
            y, r = np.divmod(y, k)
            out.append(r)
        return out[::-1]

    def join(self, per_head: list[np.ndarray]) -> np.ndarray:
        """Joint class indices from per-head ones (the inverse of :meth:`split`)."""
        y = np.zeros_like(np.asarray(per_head[0], dtype=np.int64))
        for (_, k, _), yh in zip(self.heads, per_head):
            y = y * k + np.asarray(yh, dtype=np.int64)
        return y

    def _parts(self, pred: np.ndarray, y: np.ndarray):
        if pred.shape[1] != self.offsets[-1]:
            raise ConfigError(f"multi-head loss: {pred.shape[1]} scores, the heads have {self.offsets[-1]} outputs")
        for (name, _, loss), a, b, yh in zip(self.heads, self.offsets[:-1], self.offsets[1:], self.split(y)):
            yield name, loss, pred[:, a:b], yh

    def value(self, pred, y):
        return sum(_scaled(w, loss.value(p, yh)) for w, (_, loss, p, yh) in zip(self.weights, self._parts(pred, y)))

    def grad(self, pred, y):
        return np.concatenate([_scaled(w, loss.grad(p, yh))
                               for w, (_, loss, p, yh) in zip(self.weights, self._parts(pred, y))], axis=1)

    @property
    def grad_scale(self) -> float:
        """The largest head's w_h |dL_h/dpred| (1/V or V, per head loss)."""
        return max(w * loss.grad_scale for w, (_, _, loss) in zip(self.weights, self.heads))

    def correct(self, pred, y):
        """Every head correct (its own loss's :meth:`Loss.correct`)."""
        return np.logical_and.reduce([loss.correct(p, yh) for _, loss, p, yh in self._parts(pred, y)])

    def per_head(self, pred: np.ndarray, y: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """head name -> (per-sample loss (B,), per-sample correctness (B,))."""
        return {name: (loss.value(p, yh), loss.correct(p, yh)) for name, loss, p, yh in self._parts(pred, y)}
