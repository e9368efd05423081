"""From a configuration to the parts of a run: data, circuit, loss, updater, backend.

:func:`build` is what ``ebana train`` and ``ebana netlist`` share; :func:`build_circuit`
refuses a network that would not fit in memory before allocating it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from typing import Sequence

import numpy as np

from ebana import datasets
from ebana.backends import Backend
from ebana.backends import create as create_backend
from ebana.circuit import Circuit
from ebana.config import TrainConfig
from ebana.encoding import Encoder
from ebana.errors import ConfigError
from ebana.local import parse_local
from ebana.datasets.base import split_dataset
from ebana.graphnet import GraphLayout
from ebana.losses import Loss, MultiHead, SingleOutput, create_loss
from ebana.measurement import Readout, make_readout
from ebana.nonideal import dac_features, dac_grid_low
from ebana.topology import Topology
from ebana.updates import IdealUpdate, Updater, pair_index
from ebana.updates.algorithms import create_algorithm
from ebana.updates.faults import with_faults

__all__ = ["RunParts", "build", "build_circuit", "graph_layout", "graph_loss", "graph_classes",
           "make_backend", "estimate_memory", "BYTES_PER_DEVICE"]

BYTES_PER_DEVICE = 64
"""Memory per crossbar device of a training run (B): G, its gradient, optimiser moments and
update temporaries (float64); device runs keep states and pulse arrays too (x2.5)."""


def _available_memory() -> int | None:
    """MemAvailable of /proc/meminfo (B), None where unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def estimate_memory(cfg: TrainConfig, topology: Topology) -> int:
    """Bytes a run of ``cfg`` on ``topology`` needs beyond its dataset (an upper estimate)."""
    n_dev = sum(c.shape[0] * c.shape[1] for c in topology.crossbars)
    per_device = BYTES_PER_DEVICE * (2.5 if cfg.device.model is not None else 1.0)
    n_nodes = sum(topology.layer_size(q) for q in range(topology.n_layers))
    batch = max(cfg.batch_size, 1000)   # evaluation runs in chunks of 1000 samples
    return int(n_dev * per_device + 3 * batch * n_nodes * 8 * 4)


_SHOWN_LAYERS = 4
"""Hidden sizes an error message lists before abbreviating (a 1000-layer list is 15 KB of text)."""


def _short_list(sizes: tuple[int, ...]) -> str:
    """``[a, b, c, d]``, or for long lists ``[a, b, c, d, ...] (N layers)``."""
    if len(sizes) <= 2 * _SHOWN_LAYERS:
        return str(list(sizes))
    return f"[{', '.join(map(str, sizes[:_SHOWN_LAYERS]))}, ...] ({len(sizes)} layers)"


def _short_network(topo: Topology) -> str:
    """:meth:`Topology.describe`, with a long run of hidden layers abbreviated."""
    if len(topo.hidden) <= 2 * _SHOWN_LAYERS:
        return topo.describe()
    head = "-".join(map(str, topo.hidden[:_SHOWN_LAYERS]))
    return f"{topo.n_inputs}x2-{head}-...({len(topo.hidden)} hidden layers)-{topo.n_classes}x2"


def _largest_part(cfg: TrainConfig, topo: Topology, local: list) -> tuple[str, str]:
    """For the memory message: the config key (and layer) whose crossbar has the most devices, and
    which layers to shrink ("conv" when that crossbar feeds a layer of the ``conv`` key, else "hidden")."""
    big = max(topo.crossbars, key=lambda c: c.shape[0] * c.shape[1])
    if 1 <= big.dst <= len(local):
        return f"most in conv layer {big.dst} of conv = {cfg.conv!r}", "conv"
    return f"hidden = {_short_list(cfg.hidden)}", "hidden"


def build_circuit(cfg: TrainConfig, n_inputs: int, n_classes: int, rng: np.random.Generator) -> Circuit:
    """Topology + circuit with conductances drawn by ``cfg.init`` in [init_low, init_high] (default [g_min, g_max]).

    Refuses (ConfigError, with the estimate) a network that would not fit in this machine's
    available memory, before allocating it.
    """
    p = cfg.circuit_params
    if cfg.graph.on:
        topo = graph_layout(cfg).topology
        if topo.n_inputs != n_inputs:
            raise ConfigError(f"[graph]: the input groups have {topo.n_inputs} features, the data {n_inputs}")
        return Circuit.random(topo, p, rng, low=cfg.init_low, high=cfg.init_high, init=cfg.init)
    local = parse_local(cfg.conv, n_inputs) if cfg.conv else []
    topo = Topology(n_inputs, tuple(lay.n_out for lay in local) + cfg.hidden, n_classes, skips=cfg.all_skips,
                    n_bias_input=len(p.bias_input), n_bias_hidden=len(p.bias_hidden),
                    local=tuple((q + 1, lay) for q, lay in enumerate(local)))
    need, have = estimate_memory(cfg, topo), _available_memory()
    if have is not None and need > have:
        n_dev = sum(c.shape[0] * c.shape[1] for c in topo.crossbars)
        part, what = _largest_part(cfg, topo, local)
        raise ConfigError(f"network {_short_network(topo)} ({n_dev:.3g} devices, {part}) "
                          f"needs about {need / 2**30:.1f} GiB of memory, this machine has {have / 2**30:.1f} GiB "
                          f"available; use fewer or smaller {what} layers")
    return Circuit.random(topo, p, rng, low=cfg.init_low, high=cfg.init_high, init=cfg.init)


@dataclass
class RunParts:
    """Everything a run needs besides its loop: data (encoded), circuit, loss and updater."""

    data: datasets.Dataset
    encoder: Encoder
    x_train: np.ndarray
    x_test: np.ndarray
    circuit: Circuit
    loss: Loss
    updater: Updater
    rng: np.random.Generator      # the run's generator (initial conductances, then the batch order)
    readout: Readout | None = None   # what the periphery measures (read noise, ADC); None: exact


def _graph_table(cfg: TrainConfig):
    """x, per-head class indices and labels of the ``[graph]`` columns of ``cfg.dataset``."""
    from ebana.datasets.csv import _read_text, parse_columns
    gc = cfg.graph
    targets = {f"graph.heads.{h.name}.column": (h.column, h.classes) for h in gc.head_list}
    return parse_columns(_read_text(cfg.dataset), cfg.dataset, {f"graph.inputs.{k}": v for k, v in gc.inputs.items()},
                         targets)


def graph_classes(cfg: TrainConfig) -> dict[str, tuple[str, ...]]:
    """Class labels of every head: given (``classes``), else the distinct labels of its column."""
    heads = cfg.graph.head_list
    if all(h.classes is not None for h in heads):
        return {h.name: h.classes for h in heads}
    _, _, labels = _graph_table(cfg)
    return {h.name: lab for h, lab in zip(heads, labels)}


def graph_layout(cfg: TrainConfig) -> GraphLayout:
    """Where the nodes of ``cfg.graph`` sit in the layered circuit (:mod:`ebana.graphnet`)."""
    p = cfg.circuit_params
    return cfg.graph.layout({k: len(v) for k, v in graph_classes(cfg).items()}, len(p.bias_input),
                            len(p.bias_hidden))


def graph_loss(cfg: TrainConfig) -> MultiHead:
    """The summed loss of the heads, each with its own loss (default ``cfg.loss``) and classes
    (an ``outputs = 1`` head: :class:`SingleOutput` of its loss)."""
    classes = graph_classes(cfg)
    heads = []
    for h in cfg.graph.head_list:
        loss = create_loss(h.loss or cfg.loss, tau=cfg.tau, target_scale=cfg.target_scale)
        if h.outputs == 1:     # a binary head of one score V+ - V-
            loss = SingleOutput(loss, f"graph.heads.{h.name}.loss" if h.loss else "loss")
        heads.append((h.name, len(classes[h.name]), loss))
    return MultiHead(heads, [h.weight for h in cfg.graph.head_list])


def _graph_data(cfg: TrainConfig, loss: MultiHead) -> datasets.Dataset:
    """The ``[graph]`` data set: input-group features, joint head targets (:class:`MultiHead`)."""
    x, ys, labels = _graph_table(cfg)
    y = loss.join(ys)
    names = tuple(",".join(f"{h}={lab[k]}" for (h, _, _), lab, k in zip(loss.heads, labels, idx))
                  for idx in np.ndindex(*[len(lab) for lab in labels]))
    return split_dataset(os.path.splitext(os.path.basename(cfg.dataset))[0], x, y, names, cfg.graph.input_columns,
                         seed=cfg.seed, test_fraction=cfg.test_fraction, limit_train=cfg.limit_train,
                         limit_test=cfg.limit_test)


def build(cfg: TrainConfig) -> RunParts:
    """Load and encode the data, draw the circuit, make the loss and the updater (seeded by cfg.seed).

    The updater owns the conductances from here on (ideal: the drawn ones; a device model: those
    of its device states, which the circuit is built with).
    """
    if cfg.graph.on:
        loss: Loss = graph_loss(cfg)
        data = _graph_data(cfg, loss)
    else:
        data = datasets.load(cfg.dataset, seed=cfg.seed, test_fraction=cfg.test_fraction, data_dir=cfg.data_dir,
                             label_column=cfg.label_column, label_columns=cfg.label_names,
                             limit_train=cfg.limit_train, limit_test=cfg.limit_test)
        loss = create_loss(cfg.loss, tau=cfg.tau, target_scale=cfg.target_scale)
    encoder = Encoder.fit(cfg.encoding, data.x_train)
    rng = np.random.default_rng(cfg.seed)
    circuit = build_circuit(cfg, data.n_features, data.n_classes, rng)
    tr = cfg.train
    lr_scale = tr.crossbar_scales(len(circuit.topology.crossbars)) if (tr.layer_lr or tr.freeze) else None
    if cfg.device.model is None:
        t = circuit.topology
        frozen = [None if t.mask(c.index) is None else
                  ~t.mask(c.index) | (False if t.fixed_cells(c.index) is None else t.fixed_cells(c.index))
                  for c in t.crossbars]
        for k in tr.frozen_crossbars():     # train.freeze: every cell of the crossbar keeps its G
            frozen[k] = np.ones(t.crossbars[k].shape, bool)
        updater: Updater = IdealUpdate(cfg.optimizer, circuit.conductances, cfg.circuit.g_min, cfg.circuit.g_max,
                                       lr_scale=lr_scale, frozen=frozen)
    else:   # device runs: a frozen crossbar gets lr factor 0 (no change requested, no pulse); masked
        # crossbars ([graph], local layers) have devices on their mask cells only
        updater = create_algorithm(cfg.device_used, cfg.algorithm, cfg.optimizer, circuit.conductances,
                                   cfg.circuit.g_min, cfg.circuit.g_max, lr_ref=cfg.lr,
                                   pairs=pair_index(circuit.topology),
                                   rng=np.random.default_rng(np.random.SeedSequence(cfg.seed).spawn(1)[0]),
                                   lr_scale=lr_scale, masks=[circuit.topology.mask(c.index)
                                                             for c in circuit.topology.crossbars])
        circuit = Circuit(circuit.topology, circuit.params, updater.conductances())
    ni = cfg.nonideal
    if ni.faulty:   # stuck devices and retention drift: the circuit is built with the pinned conductances
        t = circuit.topology
        updater = with_faults(updater, ni, cfg.circuit.g_min, cfg.circuit.g_max, cfg.seed,
                              masks=[t.mask(c.index) for c in t.crossbars])
        circuit = Circuit(circuit.topology, circuit.params, updater.conductances())
    x_train, x_test = encoder(data.x_train), encoder(data.x_test)
    if ni.dac_bits is not None:   # the input DAC: every wordline voltage on its grid
        lo = dac_grid_low(x_train, x_test)   # 0 V a level for non-negative features (images)
        x_train, x_test = dac_features(x_train, ni.dac_bits, lo), dac_features(x_test, ni.dac_bits, lo)
    readout = make_readout(ni, circuit, cfg.seed)
    return RunParts(data, encoder, x_train, x_test, circuit, loss, updater, rng, readout)


def make_backend(cfg: TrainConfig, circuit: Circuit, failure_dir: str | os.PathLike,
                 conductances: Sequence[np.ndarray] | None = None) -> Backend:
    """The configured solver for ``circuit`` with ``conductances`` (S; default the circuit's)
    (numpy: dtype and sweep budget; ngspice: Norton option)."""
    if cfg.backend in ("auto", "numpy"):
        return create_backend(cfg.backend, circuit, conductances=conductances, dtype=cfg.dtype,
                              max_sweeps=cfg.max_sweeps)
    return create_backend(cfg.backend, circuit, conductances=conductances, norton=cfg.norton,
                          failure_dir=failure_dir)
