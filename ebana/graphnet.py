"""Graph networks: named input groups, hidden layers and output heads joined by edges ``"a -> b"``.

The ``[graph]`` section (:class:`GraphConfig`), as the Keras-style wiring of the EBANA framework::

    [graph]
    edges = ["a -> h", "b -> h", "h -> or", "h -> and", "h -> xor"]
    [graph.inputs]          # group -> feature columns of the CSV file
    a = ["x1"]
    b = ["x2"]
    [graph.hidden]          # layer -> neurons
    h = 10
    [graph.heads]           # head -> its target column (optional: loss, classes, outputs)
    or = {column = "or"}
    and = {column = "and", loss = "bce", outputs = 1}
    xor = {column = "xor", loss = "mse", classes = ["0", "1"]}

An edge may carry a locally connected, convolutional or average-pooling layer
(:mod:`ebana.local`): ``"img -> c : conv8k5s2"``, ``"c -> p : avg2"``, ``"p -> h : local4k3same"``.
Its source needs an image layout (H, W, C): ``[graph.shapes]`` gives it (``img = "28x28x1"``,
EBANA's Reshape: the same nodes read as an image), or the source is itself the target of such an
edge (its output shape). The target is a hidden node whose size is the layer's output size.
Several edges into one node sum their currents on its columns (EBANA's Join); several sources of
one node are its inputs side by side (Concatenate); two conv edges from two images into one node
are one convolution over their channels stacked (Stack). Feature columns can be written as a
range, ``"p{0..783}"`` = p0, p1, ..., p783.

The graph is compiled onto the layered circuit of :mod:`ebana.topology` (no new solver):

* every input group is a block of the input layer 0 (features in group order, each feature two
  wordlines x+ and x-, as always);
* a hidden node sits at circuit layer ``level`` = the longest path from an input; the hidden nodes
  of one level are concatenated into one layer (declared order);
* every head sits in the output layer (level = deepest hidden level + 1), head after head, each
  with its own classes (two nodes V+, V- per class) and loss; a binary head with ``outputs = 1``
  has one pair, one score V+ - V- (:class:`ebana.losses.SingleOutput`: BCE or MSE, 0/1 target);
* every edge u -> v is the block (rows of u) x (columns of v) of the crossbar layer(u) -> layer(v):
  a dense crossbar between adjacent levels or a skip crossbar between others; cells of no edge hold
  no device (a connectivity mask, :func:`ebana.topology.connectivity_ties`: 0 S, no resistor, no
  gradient). A layer edge's block holds its layer's receptive-field mask: a conv edge's copies of
  one kernel weight are one parameter (the gradient sums the copies), an avg edge's devices are
  fixed at g_max. The bias rows of a crossbar reach the columns it feeds (the first trainable
  edge into a column sets its bias cells: per filter for a conv edge; none for pooling only).
  Concatenation (a node fed by several nodes) is a column fed by several blocks or crossbars,
  summing their currents.

Every node of level l + 1 has a predecessor at level l, so every dense crossbar l -> l + 1 has at
least one block. Skips that leave a hidden layer need reciprocal amplifiers (``cccs_gain = gain``,
:meth:`ebana.circuit.Circuit._layer_weights`): the run sets them when ``circuit.cccs_gain`` is
unset, as ``residual`` does, and refuses another value. The training loss is the sum of the heads' losses
(:class:`ebana.losses.MultiHead`); each head is nudged by its own loss with the common beta.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from ebana.errors import ConfigError
from ebana.local import LocalLayer, parse_items
from ebana.topology import Topology

__all__ = ["GraphConfig", "GraphHead", "GraphLayout", "parse_edge", "edge_layer", "HEAD_KEYS"]

_SHAPE = re.compile(r"(\d+)x(\d+)x(\d+)")
_RANGE = re.compile(r"(.*)\{(\d+)\.\.(\d+)\}(.*)")
MAX_RANGE = 1_000_000
"""Most columns one range ``"p{a..b}"`` may name."""

HEAD_KEYS = ("column", "loss", "classes", "outputs", "weight")
MAX_HEAD_WEIGHT = 1e6
"""Largest head loss weight (``graph.heads.NAME.weight``)."""
"""Keys of one ``[graph.heads]`` entry: its target column (required), loss, class labels and
outputs (1: one V+ - V- pair for a binary head; absent: one pair per class)."""


def parse_edge(k: int, text: object) -> tuple[str, str]:
    """``"a -> b"`` or ``"a -> b : layer"`` -> ("a", "b"); ConfigError naming ``graph.edges[k]``
    and the text."""
    body = text.split(":")[0] if isinstance(text, str) and text.count(":") <= 1 else None
    parts = body.split("->") if body is not None else []
    if len(parts) != 2 or not all(p.strip() for p in parts):
        raise ConfigError(f"graph.edges[{k}] = {text!r}: expected 'source -> target' or 'source -> target : layer' "
                          f"(layer: conv<F>k<K>[s<S>][valid|same], local<F>k<K>..., avg<P>...)")
    return parts[0].strip(), parts[1].strip()


def edge_layer(k: int, text: str) -> tuple | None:
    """The layer of edge ``"a -> b : layer"`` as (kind, filters, kernel, stride, padding)
    (:func:`ebana.local.parse_items`); None for a dense edge. ConfigError naming ``graph.edges[k]``."""
    parse_edge(k, text)
    if ":" not in text:
        return None
    item = text.split(":")[1].strip()
    try:
        shape, specs = parse_items(item)
    except ConfigError as e:
        raise ConfigError(f"graph.edges[{k}] = {text!r}: {str(e).removeprefix('conv ')}") from None
    if shape is not None or len(specs) != 1:
        raise ConfigError(f"graph.edges[{k}] = {text!r}: one layer per edge, without a shape (give the source's "
                          f"shape in graph.shapes), got {item!r}")
    return specs[0]


def _expand(name: str) -> list[str]:
    """``"p{0..3}"`` -> p0, p1, p2, p3; any other name -> itself."""
    m = _RANGE.fullmatch(name)
    if not m:
        return [name]
    a, b = int(m.group(2)), int(m.group(3))
    if b < a or b - a >= MAX_RANGE:
        raise ConfigError(f"column range {name!r}: expected {{a..b}} with a <= b and at most {MAX_RANGE} columns")
    return [f"{m.group(1)}{i}{m.group(4)}" for i in range(a, b + 1)]


@dataclass(frozen=True, slots=True)
class GraphHead:
    """One output head: its target column, loss name ("": the run's ``loss``), class labels
    (None: the sorted distinct values of the column) and outputs (1: one score for a binary head,
    the second class positive; None: one score per class) and weight (–, > 0: its loss's factor
    in the summed loss, so its nudge and its share of every gradient; 1 by default)."""

    name: str
    column: str
    loss: str = ""
    classes: tuple[str, ...] | None = None
    outputs: int | None = None
    weight: float = 1.0


def _as_names(key: str, v: object) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, (list, tuple)) or not v or not all(isinstance(e, str) and e for e in v):
        raise ConfigError(f"{key} = {v!r}: expected a non-empty list of column names")
    try:
        return tuple(c for e in v for c in _expand(e))
    except ConfigError as e:
        raise ConfigError(f"{key}: {e}") from None


def _shape_text(key: str, v: object) -> tuple[int, int, int]:
    m = _SHAPE.fullmatch(v) if isinstance(v, str) else None
    if not m or min(int(d) for d in m.groups()) < 1:
        raise ConfigError(f"{key} = {v!r}: expected an image shape 'HxWxC' with every dimension >= 1, e.g. '28x28x1'")
    return tuple(int(d) for d in m.groups())


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphConfig:
    """``[graph]``: a network of named nodes (empty: off, the layered ``hidden`` network).

    inputs : group -> feature columns (CSV column names).
    hidden : layer name -> neurons.
    heads : head name -> ``{column, loss, classes, outputs}`` (:data:`HEAD_KEYS`; loss default: the run's).
    edges : ``"source -> target"`` or ``"source -> target : layer"`` texts (layer: conv / local / avg).
    shapes : input group or hidden layer -> image shape ``"HxWxC"`` (its nodes as an image, row-major,
        channel last), for the layer edges it feeds.
    """

    inputs: dict = field(default_factory=dict)
    hidden: dict = field(default_factory=dict)
    heads: dict = field(default_factory=dict)
    edges: tuple[str, ...] = ()
    shapes: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("inputs", "hidden", "heads", "shapes"):
            v = getattr(self, name)
            if not isinstance(v, dict):
                raise ConfigError(f"graph.{name} must be a table (name = value), got {v!r}")
        if not isinstance(self.edges, (list, tuple)):
            raise ConfigError(f"graph.edges must be a list of 'source -> target' texts, got {self.edges!r}")
        object.__setattr__(self, "edges", tuple(self.edges))
        object.__setattr__(self, "inputs", {k: _as_names(f"graph.inputs.{k}", v) for k, v in self.inputs.items()})
        for k, v in self.hidden.items():
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"graph.hidden.{k} = {v!r}: a hidden layer needs an integer number of neurons >= 1")
        object.__setattr__(self, "heads", {k: self._head(k, v) for k, v in self.heads.items()})
        for k, v in self.shapes.items():
            _shape_text(f"graph.shapes.{k}", v)
        if self.on:
            self.graph()
            self.local_edges()

    @staticmethod
    def _head(name: str, v: object) -> dict:
        """The canonical entry of a head (what config.toml holds)."""
        if isinstance(v, str):
            v = {"column": v}
        if not isinstance(v, dict):
            raise ConfigError(f"graph.heads.{name} = {v!r}: expected {{column = ..., loss = ..., classes = [...]}}")
        for k in v:
            if k not in HEAD_KEYS:
                raise ConfigError(f"graph.heads.{name}.{k}: unknown key; known: {', '.join(HEAD_KEYS)}")
        if not isinstance(v.get("column"), str) or not v["column"]:
            raise ConfigError(f"graph.heads.{name}.column = {v.get('column')!r}: a head needs its target column")
        out = {"column": v["column"]}
        if v.get("loss"):
            from ebana.losses import LOSSES
            if v["loss"] not in LOSSES.names():
                raise ConfigError(f"graph.heads.{name}.loss = {v['loss']!r}: unknown loss; known: "
                                  f"{', '.join(LOSSES.names())}")
            out["loss"] = v["loss"]
        if "classes" in v:
            cls = _as_names(f"graph.heads.{name}.classes", [str(c) for c in v["classes"]]
                            if isinstance(v["classes"], (list, tuple)) else v["classes"])
            if len(cls) < 2 or len(set(cls)) != len(cls):
                raise ConfigError(f"graph.heads.{name}.classes = {list(cls)!r}: a head needs at least 2 distinct "
                                  f"classes")
            out["classes"] = cls
        if "outputs" in v:
            n = v["outputs"]
            if isinstance(n, bool) or n != 1:
                raise ConfigError(f"graph.heads.{name}.outputs = {n!r}: expected 1 (one V+ - V- pair for a binary "
                                  f"head) or no outputs key (one pair per class)")
            if "classes" in out and len(out["classes"]) != 2:
                raise ConfigError(f"graph.heads.{name}.outputs = 1 needs a binary head; classes = "
                                  f"{list(out['classes'])!r} has {len(out['classes'])}")
            out["outputs"] = 1
        if "weight" in v:
            w = v["weight"]
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 < w <= MAX_HEAD_WEIGHT:
                raise ConfigError(f"graph.heads.{name}.weight = {w!r}: expected a number in (0, {MAX_HEAD_WEIGHT:g}] "
                                  f"(the head's factor in the summed loss)")
            out["weight"] = float(w)
        return out

    @property
    def on(self) -> bool:
        return bool(self.inputs or self.hidden or self.heads or self.edges)

    @property
    def head_list(self) -> list[GraphHead]:
        return [GraphHead(k, v["column"], v.get("loss", ""), v.get("classes"), v.get("outputs"), v.get("weight", 1.0))
                for k, v in self.heads.items()]

    @property
    def input_columns(self) -> tuple[str, ...]:
        """Feature columns of the input layer, group after group."""
        return tuple(c for cols in self.inputs.values() for c in cols)

    def graph(self) -> nx.DiGraph:
        """The validated node graph (node attribute ``kind``: input, hidden, head)."""
        if not self.inputs or not self.heads:
            raise ConfigError(f"graph: needs at least one input group (graph.inputs) and one head (graph.heads), got "
                              f"inputs = {list(self.inputs)}, heads = {list(self.heads)}")
        g = nx.DiGraph()
        for kind, names in (("input", self.inputs), ("hidden", self.hidden), ("head", self.heads)):
            for name in names:
                if name in g:
                    raise ConfigError(f"graph.{kind if kind != 'head' else 'heads'}.{name}: duplicate name "
                                      f"(also a {g.nodes[name]['kind']} node)")
                g.add_node(name, kind=kind)
        seen_cols: dict[str, str] = {}
        for key, cols in [(f"graph.inputs.{k}", v) for k, v in self.inputs.items()] + \
                         [(f"graph.heads.{h.name}.column", (h.column,)) for h in self.head_list]:
            for c in cols:
                if c in seen_cols:
                    raise ConfigError(f"{key}: column {c!r} is used twice (also {seen_cols[c]})")
                seen_cols[c] = key
        for k, text in enumerate(self.edges):
            a, b = parse_edge(k, text)
            for n in (a, b):
                if n not in g:
                    raise ConfigError(f"graph.edges[{k}] = {text!r}: unknown node {n!r}; nodes: {', '.join(g)}")
            if g.nodes[b]["kind"] == "input":
                raise ConfigError(f"graph.edges[{k}] = {text!r}: {b!r} is an input group (inputs feed, are never "
                                  f"fed)")
            if g.nodes[a]["kind"] == "head":
                raise ConfigError(f"graph.edges[{k}] = {text!r}: {a!r} is a head (heads are outputs)")
            if g.has_edge(a, b):
                raise ConfigError(f"graph.edges[{k}] = {text!r}: the edge is listed twice")
            g.add_edge(a, b)
        if not nx.is_directed_acyclic_graph(g):
            cycle = [u for u, _ in nx.find_cycle(g)]
            raise ConfigError(f"graph.edges: the graph has a cycle {' -> '.join(cycle + cycle[:1])}")
        for n, kind in g.nodes(data="kind"):
            if kind != "input" and g.in_degree(n) == 0:
                raise ConfigError(f"graph.{'heads' if kind == 'head' else 'hidden'}.{n}: no path from an input "
                                  f"(no edge '... -> {n}' in graph.edges)")
            if kind != "head" and g.out_degree(n) == 0:
                key = "inputs" if kind == "input" else "hidden"
                raise ConfigError(f"graph.{key}.{n}: feeds nothing (no edge '{n} -> ...' in graph.edges)")
        return g

    def _size(self, node: str) -> int:
        return len(self.inputs[node]) if node in self.inputs else self.hidden[node]

    def local_edges(self) -> dict[tuple[str, str], LocalLayer]:
        """The layer of every layer edge (a, b), checked against the shapes; ConfigError naming
        the edge or the node otherwise."""
        g = self.graph()
        for k in self.shapes:
            if g.nodes.get(k, {}).get("kind") not in ("input", "hidden"):
                raise ConfigError(f"graph.shapes.{k}: not an input group or hidden layer of the graph")
            shape = _shape_text(f"graph.shapes.{k}", self.shapes[k])
            if int(np.prod(shape)) != self._size(k):
                what = f"{len(self.inputs[k])} feature columns" if k in self.inputs else f"{self.hidden[k]} neurons"
                raise ConfigError(f"graph.shapes.{k} = {self.shapes[k]!r} has {int(np.prod(shape))} values, {k!r} "
                                  f"has {what}")
        shapes = {k: _shape_text(k, v) for k, v in self.shapes.items()}
        specs = {parse_edge(k, t): (k, t, edge_layer(k, t)) for k, t in enumerate(self.edges)}
        out: dict[tuple[str, str], LocalLayer] = {}
        for n in nx.topological_sort(g):
            for a in g.predecessors(n):
                k, text, spec = specs[(a, n)]
                if spec is None:
                    continue
                if g.nodes[n]["kind"] != "hidden":
                    raise ConfigError(f"graph.edges[{k}] = {text!r}: a {spec[0]} edge ends in a hidden layer; {n!r} "
                                      f"is a head")
                if a not in shapes:
                    raise ConfigError(f"graph.edges[{k}] = {text!r}: {a!r} has no image shape; give "
                                      f"graph.shapes.{a} = 'HxWxC'")
                if spec[0] == "avg" and a in self.inputs:
                    raise ConfigError(f"graph.edges[{k}] = {text!r}: average pooling reads neurons, not the x+/x- "
                                      f"wordlines of input group {a!r}")
                kind, filters, kernel, stride, padding = spec
                try:
                    layer = LocalLayer(kind=kind, in_shape=shapes[a], kernel=kernel, padding=padding,
                                       filters=shapes[a][2] if kind == "avg" else filters,
                                       stride=int(stride) if stride else (kernel if kind == "avg" else 1),
                                       differential=a in self.inputs)
                except ConfigError as e:
                    raise ConfigError(f"graph.edges[{k}] = {text!r}: {str(e).removeprefix('conv: ')}") from None
                got = "x".join(map(str, layer.out_shape))
                if layer.n_out != self.hidden[n]:
                    raise ConfigError(f"graph.hidden.{n} = {self.hidden[n]}: edge {text!r} gives {got} = "
                                      f"{layer.n_out} neurons")
                if n in shapes and shapes[n] != layer.out_shape:
                    given = (f"graph.shapes.{n} = {self.shapes[n]!r}" if n in self.shapes else
                             f"graph.edges[{k}] = {text!r}: another layer edge into {n!r} gives "
                             f"{'x'.join(map(str, shapes[n]))}")
                    raise ConfigError(f"{given}; edge {text!r} gives {got}")
                shapes[n] = layer.out_shape
                out[(a, n)] = layer
        return out

    def levels(self) -> dict[str, int]:
        """Circuit layer of every node: inputs 0, a hidden node its longest path from an input,
        the heads one past the deepest hidden node."""
        g = self.graph()
        level: dict[str, int] = {}
        for n in nx.topological_sort(g):
            preds = list(g.predecessors(n))
            level[n] = 1 + max(level[p] for p in preds) if preds else 0
        depth = 1 + max([level[h] for h in self.hidden] or [0])
        for h in self.heads:
            level[h] = depth
        return level

    def hidden_skips(self) -> list[tuple[int, str]]:
        """(index, text) of the edges that leave a hidden node for a layer beyond the next one:
        skips from a hidden layer, which need reciprocal amplifiers (``cccs_gain = gain``)."""
        level = self.levels()
        out = []
        for k, text in enumerate(self.edges):
            a, b = parse_edge(k, text)
            if a in self.hidden and level[b] > level[a] + 1:
                out.append((k, text))
        return out

    def layout(self, head_classes: dict[str, int], n_bias_input: int, n_bias_hidden: int) -> "GraphLayout":
        """The layered circuit of this graph with ``head_classes[name]`` classes per head."""
        return GraphLayout.build(self, head_classes, n_bias_input, n_bias_hidden)


@dataclass(frozen=True)
class GraphLayout:
    """Where every node sits in the layered circuit, and the topology with its masks.

    ``slices[name]`` = (layer, first node, nodes) in circuit-node units (an input group of f
    features: the nodes of its x+ rows, its x- rows follow at offset n_inputs); ``head_slices``
    = (name, first score, scores) of the heads in the output scores V+ - V- (scores = classes,
    or 1 for an ``outputs = 1`` head).
    """

    topology: Topology
    slices: dict
    head_slices: tuple[tuple[str, int, int], ...]
    levels: dict

    @classmethod
    def build(cls, gc: GraphConfig, head_classes: dict[str, int], n_bias_input: int,
              n_bias_hidden: int) -> "GraphLayout":
        g = gc.graph()
        level = gc.levels()
        depth = 1 + max([level[h] for h in gc.hidden] or [0])
        slices: dict[str, tuple[int, int, int]] = {}
        off = 0
        for name, cols in gc.inputs.items():
            slices[name] = (0, off, len(cols))
            off += len(cols)
        n_inputs = off
        hidden = []
        for lvl in range(1, depth):
            at, size = [n for n in gc.hidden if level[n] == lvl], 0
            for n in at:
                slices[n] = (lvl, size, gc.hidden[n])
                size += gc.hidden[n]
            hidden.append(size)
        heads, k0 = [], 0
        for h in gc.heads:
            k = int(head_classes[h])
            if k < 2:
                raise ConfigError(f"graph.heads.{h}: its column {gc.heads[h]['column']!r} has {k} class; a head "
                                  f"needs at least 2")
            if gc.heads[h].get("outputs") == 1:
                if k != 2:
                    raise ConfigError(f"graph.heads.{h}.outputs = 1 needs a binary head; its column "
                                      f"{gc.heads[h]['column']!r} has {k} classes")
                k = 1
            slices[h] = (depth, 2 * k0, 2 * k)
            heads.append((h, k0, k))
            k0 += k
        pairs = sorted({(level[a], level[b]) for a, b in g.edges})
        missing = [(p, p + 1) for p in range(depth) if (p, p + 1) not in pairs]
        if missing:  # pragma: no cover - excluded by the longest-path levels
            raise ConfigError(f"graph: no edge between levels {missing[0]}")
        skips = tuple((p, q) for p, q in pairs if q > p + 1)
        dense = Topology(n_inputs, tuple(hidden), k0, skips=skips, n_bias_input=n_bias_input,
                         n_bias_hidden=n_bias_hidden)
        layers = gc.local_edges()
        edges = [parse_edge(k, t) for k, t in enumerate(gc.edges)]
        masks, fixed = [], []
        for spec in dense.crossbars:
            here = [(a, b) for a, b in edges if (level[a], level[b]) == (spec.src, spec.dst)]
            tie = -np.ones(spec.shape, dtype=np.int64)
            cells = np.zeros(spec.shape, dtype=bool)
            biased = np.zeros(spec.n_cols, dtype=bool)
            n_id = 0
            for a, b in here:
                _, ra, na = slices[a]
                _, cb, nb = slices[b]
                rows = np.r_[ra:ra + na, n_inputs + ra:n_inputs + ra + na] if spec.src == 0 else np.r_[ra:ra + na]
                layer = layers.get((a, b))
                block = (layer.ties(spec.n_bias) if layer is not None and layer.kind != "avg" else
                         layer.ties(0) if layer is not None else
                         np.arange((len(rows) + spec.n_bias) * nb).reshape(-1, nb))
                sig, bias = block[:len(rows)], block[len(rows):]
                tie[np.ix_(rows, np.arange(cb, cb + nb))] = np.where(sig >= 0, sig + n_id, -1)
                if layer is not None and layer.kind == "avg":
                    cells[np.ix_(rows, np.arange(cb, cb + nb))] = sig >= 0
                else:           # bias rows: set by the first trainable edge into a column
                    new = ~biased[cb:cb + nb]
                    tie[spec.n_rows:, cb:cb + nb][:, new] = bias[:, new] + n_id
                    biased[cb:cb + nb] = True
                n_id += int(block.max()) + 1
            if layers.keys() & set(here):     # shared or fixed cells: the tie array itself
                tie.setflags(write=False)
                masks.append((spec.src, spec.dst, tie))
                if cells.any():
                    cells.setflags(write=False)
                    fixed.append((spec.src, spec.dst, cells))
            elif not (tie >= 0).all():       # dense blocks only: every device its own parameter
                mask = tie >= 0
                mask.setflags(write=False)
                masks.append((spec.src, spec.dst, mask))
        topo = Topology(n_inputs, tuple(hidden), k0, skips=skips, n_bias_input=n_bias_input,
                        n_bias_hidden=n_bias_hidden, masks=tuple(masks), fixed=tuple(fixed))
        return cls(topo, slices, tuple(heads), level)
