import pytest

from ebana.errors import TopologyError
from ebana.topology import Topology


def test_crossbars_and_sizes():
    t = Topology(4, (10, 5), 3, skips=((0, 2), (1, 3)), n_bias_input=2, n_bias_hidden=1)
    assert t.n_layers == 4
    assert [(c.src, c.dst, c.shape) for c in t.crossbars] == [
        (0, 1, (10, 10)), (0, 2, (10, 5)), (1, 2, (11, 5)), (1, 3, (11, 6)), (2, 3, (6, 6))]
    assert t.layer_size(0) == 8 and t.layer_size(3) == 6
    assert t.describe() == "4x2-10-5-3x2 skips 0->2,1->3"


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_inputs=4, hidden=(0,), n_classes=3), "hidden layer 1 has size 0"),
    (dict(n_inputs=0, hidden=(3,), n_classes=3), "input layer 0 has size 0"),
    (dict(n_inputs=4, hidden=(3,), n_classes=1), "at least 2 classes"),
    (dict(n_inputs=4, hidden=(3, 3), n_classes=3, skips=((2, 1),)), "skip connection 2->1 points backwards"),
    (dict(n_inputs=4, hidden=(3, 3), n_classes=3, skips=((0, 1),)), "joins adjacent layers"),
    (dict(n_inputs=4, hidden=(3,), n_classes=3, skips=((0, 5),)), "outside 0..2"),
])
def test_bad_topologies_name_the_culprit(kwargs, message):
    with pytest.raises(TopologyError, match=message) as err:
        Topology(**kwargs)
    assert "\n" not in str(err.value)


def test_graph_is_networkx_dag():
    import networkx as nx
    t = Topology(2, (3, 3), 2, skips=((0, 3),))
    assert nx.is_directed_acyclic_graph(t.graph)
    assert t.graph.edges[0, 3]["crossbar"] == [c.index for c in t.crossbars if (c.src, c.dst) == (0, 3)][0]
