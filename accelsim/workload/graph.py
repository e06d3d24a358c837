"""LayerGraph: a DAG of frozen layers with checked shapes, weights and activation statistics.

The graph keeps its layers by name (insertion order) and its edges as producer -> consumer maps that carry
the input slot they feed; ``LayerGraph.nx`` gives a ``networkx.DiGraph`` of it (nodes with attribute ``layer``,
edges with ``index``) for graph algorithms. Adding a layer checks that every producer's
output shape equals the shape the layer declares for that slot, so a graph that exists is
consistent. Weights (NumPy, PyTorch layout) and per-layer input-activation densities or samples are
attached by name.
"""

from __future__ import annotations

import copy as _copy
import heapq
import numbers
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

import numpy as np

from accelsim.errors import ShapeError, UnknownNameError, WorkloadError
from accelsim.workload.layers import Input, Layer

if TYPE_CHECKING:
    import networkx as nx

#: layers (inputs included) one graph may hold: over 200x the largest zoo graph (bert-base: 275); bounds what an
#: importer builds before any model runs (a SCALE-Sim DP row with 5e7 channels would expand to 1e8 layers)
MAX_LAYERS = 1 << 16

# The graph is kept in plain dicts, not a networkx.DiGraph: importing networkx costs ~0.07 s of CPU, a tenth of a
# whole small ``accelsim simulate``, and building, sorting and walking a layer DAG needs nothing more (issue 20).


class LayerGraph:
    """A named DAG of layers; see the module docstring."""

    def __init__(self, name: str, source: str = ""):
        if not isinstance(name, str) or not name:
            raise WorkloadError(f"a LayerGraph's name must be a non-empty string; got {name!r}")
        if not isinstance(source, str):
            raise WorkloadError(f"graph '{name}': source must be a string (a file or a label); got {source!r}")
        self.name = name
        self.source = source
        self._layers: dict[str, Layer] = {}
        self._succ: dict[str, dict[str, list[int]]] = {}  # producer -> {consumer: the input slots it feeds}
        self._pred: dict[str, dict[str, list[int]]] = {}  # consumer -> {producer: the input slots it feeds}
        self._order: list[str] | None = None
        self.weights: dict[str, np.ndarray] = {}
        self.biases: dict[str, np.ndarray] = {}
        self.activation_density: dict[str, float] = {}
        self.activation_samples: dict[str, np.ndarray] = {}
        self.metadata: dict = {}

    # --- construction ---------------------------------------------------------------------------
    def add(self, layer: Layer, inputs: Sequence[str] = ()) -> Layer:
        """Add ``layer`` fed by the named producers (in input-slot order); returns the layer.

        A graph holds at most :data:`MAX_LAYERS` layers (inputs included); one more is a WorkloadError.
        """
        if not isinstance(layer, Layer):
            raise WorkloadError(f"{self._where()}add() takes an accelsim layer (accelsim.workload.layers); got "
                                f"{type(layer).__name__} {layer!r:.60}")
        if len(self._layers) >= MAX_LAYERS:
            raise WorkloadError(f"{self._where()}layer '{layer.name}' would be layer {len(self._layers) + 1} of the graph; a graph "
                                f"holds at most {MAX_LAYERS} layers, inputs included")
        if layer.name in self._layers:
            raise WorkloadError(f"{self._where()}duplicate layer name '{layer.name}'")
        inputs = list(inputs)
        if len(inputs) != len(layer.input_shapes):
            raise ShapeError(
                f"{self._where()}layer '{layer.name}' declares {len(layer.input_shapes)} input shape(s) "
                f"but is fed by {len(inputs)} producer(s)"
            )
        for slot, producer in enumerate(inputs):
            if producer not in self._layers:
                raise WorkloadError(f"{self._where()}layer '{layer.name}' reads unknown layer '{producer}'")
            produced = self.layer(producer).output_shape
            if tuple(produced) != tuple(layer.input_shapes[slot]):
                raise ShapeError(
                    f"{self._where()}layer '{layer.name}' input {slot} expects shape {list(layer.input_shapes[slot])} "
                    f"but '{producer}' produces {list(produced)}"
                )
        self._layers[layer.name] = layer
        self._succ[layer.name] = {}
        self._pred[layer.name] = {}
        for slot, producer in enumerate(inputs):
            self._add_edge(producer, layer.name, slot)
        self._order = None
        return layer

    def _add_edge(self, producer: str, consumer: str, slot: int) -> None:
        # a layer may read one producer in several slots (x + x): the pair keeps every slot
        self._succ[producer].setdefault(consumer, []).append(slot)
        self._pred[consumer].setdefault(producer, []).append(slot)

    def replace_layer(self, name: str, new_layer: Layer) -> None:
        """Swap a layer for one with the same inputs (e.g. a pruned conv); successors are re-checked."""
        old = self.layer(name)
        if new_layer.name != name:
            raise WorkloadError(f"{self._where()}replace_layer keeps the name; got '{new_layer.name}' for '{name}'")
        if tuple(new_layer.input_shapes) != tuple(old.input_shapes):
            raise ShapeError(f"{self._where()}replacement for '{name}' changes its input shapes")
        self._layers[name] = new_layer
        for succ, slot in ((succ, slot) for succ, slots in self._succ[name].items() for slot in slots):
            if tuple(self.layer(succ).input_shapes[slot]) != tuple(new_layer.output_shape):
                raise ShapeError(
                    f"{self._where()}replacement for '{name}' outputs {list(new_layer.output_shape)} "
                    f"but '{succ}' expects {list(self.layer(succ).input_shapes[slot])}"
                )

    def substitute(self, name: str, chain: Sequence[Layer]) -> None:
        """Replace one layer by a chain of layers (low-rank, depthwise-separable substitution).

        The first layer of the chain takes the old layer's inputs, each next one the previous
        output; the last must produce the old output shape and takes over the old successors.
        Weights of the old layer are dropped.
        """
        old = self.layer(name)
        if not chain:
            raise WorkloadError(f"{self._where()}substitute needs at least one layer for '{name}'")
        if tuple(chain[-1].output_shape) != tuple(old.output_shape):
            raise ShapeError(
                f"{self._where()}substitute for '{name}' outputs {list(chain[-1].output_shape)}, expected {list(old.output_shape)}"
            )
        preds = self.inputs_of(name)
        succs = [(succ, slot) for succ, slots in self._succ[name].items() for slot in slots]
        for producer in self._pred.pop(name):
            del self._succ[producer][name]
        for succ in self._succ.pop(name):
            del self._pred[succ][name]
        del self._layers[name]
        self._order = None
        self.weights.pop(name, None)
        self.biases.pop(name, None)
        density = self.activation_density.pop(name, None)
        sample = self.activation_samples.pop(name, None)
        feed = preds
        for layer in chain:
            self.add(layer, feed)
            feed = [layer.name]
        if density is not None:
            self.activation_density[chain[0].name] = density
        if sample is not None:
            self.activation_samples[chain[0].name] = sample
        last = chain[-1].name
        for succ, slot in succs:
            self._add_edge(last, succ, slot)
        self._order = None

    # --- weights and activations ------------------------------------------------------------------
    def set_weight(self, name: str, weight: np.ndarray, bias: np.ndarray | None = None) -> None:
        layer = self.layer(name)
        if layer.weight_shape is None:
            raise WorkloadError(f"{self._where()}layer '{name}' ({layer.op}) has no weights")
        w = np.asarray(weight)
        if tuple(w.shape) != tuple(layer.weight_shape):
            raise ShapeError(f"{self._where()}weight for '{name}' has shape {list(w.shape)}; expected {list(layer.weight_shape)}")
        if not np.issubdtype(w.dtype, np.number):
            raise WorkloadError(f"{self._where()}weight for '{name}' is not numeric (dtype {w.dtype})")
        if not np.all(np.isfinite(w)):
            raise WorkloadError(f"{self._where()}weight for '{name}' contains NaN or infinite values")
        self.weights[name] = w
        if bias is not None:
            self.set_bias(name, bias)

    def set_bias(self, name: str, bias: np.ndarray) -> None:
        """The bias of a layer (one finite value per output); alone for a layer whose weight stays elsewhere (a
        checkpoint's packed weight)."""
        layer = self.layer(name)
        b = np.asarray(bias)
        if b.size != layer.bias_size or not np.all(np.isfinite(b)):
            raise WorkloadError(f"{self._where()}bias for '{name}' must have {layer.bias_size} finite values; got {b.size}")
        self.biases[name] = b

    def weight_matrix(self, name: str) -> np.ndarray:
        """The layer's weight as the ``(N * groups, K)`` matrix of its GEMM view."""
        layer = self.layer(name)
        if name not in self.weights:
            raise WorkloadError(f"{self._where()}layer '{name}' has no weights attached (synthesize or load them first)")
        return self.weights[name].reshape(layer.weight_matrix_shape)

    def set_activation_density(self, name: str, density: float) -> None:
        self.layer(name)
        if isinstance(density, bool) or not isinstance(density, numbers.Real):  # not true, not '0.5'
            raise WorkloadError(f"{self._where()}activation density of '{name}' must be a number in (0, 1]; got "
                                f"{density!r}")
        d = float(density)
        if not 0.0 < d <= 1.0:
            raise WorkloadError(f"{self._where()}activation density of '{name}' must be in (0, 1]; got {density!r}")
        self.activation_density[name] = d

    def input_density(self, name: str) -> float:
        """Input-activation density of a layer (1.0 when none is recorded)."""
        return self.activation_density.get(name, 1.0)

    # --- queries -------------------------------------------------------------------------------
    def layer(self, name: str) -> Layer:
        try:
            return self._layers[name]
        except KeyError:
            raise UnknownNameError("layer", name, list(self._layers)) from None

    def __getitem__(self, name: str) -> Layer:
        return self.layer(name)

    def __contains__(self, name: str) -> bool:
        return name in self._layers

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    @property
    def nx(self) -> nx.DiGraph:
        """A networkx view of the graph, built on each call: nodes are layer names with attribute ``layer``,
        edges carry ``index``, the input slot they feed (the last one when a layer reads a producer twice)."""
        import networkx as nx

        g = nx.DiGraph()
        g.add_nodes_from((name, {"layer": layer}) for name, layer in self._layers.items())
        g.add_edges_from((p, c, {"index": slots[-1]}) for p, succ in self._succ.items() for c, slots in succ.items())
        return g

    @property
    def order(self) -> list[str]:
        """Layer names in a deterministic topological order (insertion order breaks ties)."""
        if self._order is None:
            self._order = self._topological_order()
        return self._order

    def _topological_order(self) -> list[str]:
        # Kahn's algorithm taking the ready layer added first: networkx's lexicographical_topological_sort keyed
        # by insertion position, which is what this replaces (the order of every result table depends on it)
        position = {name: i for i, name in enumerate(self._layers)}
        names = list(self._layers)
        waiting = {name: len(preds) for name, preds in self._pred.items()}
        ready = [position[name] for name, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            name = names[heapq.heappop(ready)]
            order.append(name)
            for succ in self._succ[name]:
                waiting[succ] -= 1
                if waiting[succ] == 0:
                    heapq.heappush(ready, position[succ])
        if len(order) != len(names):  # cannot happen through add(), which only reads existing layers
            raise WorkloadError(f"{self._where()}the layer graph has a cycle")
        return order

    @property
    def layers(self) -> list[Layer]:
        return [self._layers[n] for n in self.order]

    def compute_layers(self) -> list[Layer]:
        """Layers other than graph inputs."""
        return [layer for layer in self.layers if not isinstance(layer, Input)]

    def inputs_of(self, name: str) -> list[str]:
        """Producers of ``name`` in input-slot order."""
        return [p for _, p in sorted((slot, p) for p, slots in self._pred[name].items() for slot in slots)]

    def successors(self, name: str) -> list[str]:
        return list(self._succ[name])

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def total_params(self) -> int:
        return sum(layer.params for layer in self.layers)

    def stats(self) -> list[dict]:
        """Per-layer summary rows (``Layer.describe`` plus the input-activation density)."""
        rows = []
        for layer in self.compute_layers():
            row = layer.describe()
            row["activation_density"] = self.input_density(layer.name)
            rows.append(row)
        return rows

    def copy(self) -> "LayerGraph":
        """A copy sharing the (immutable) layers and weight arrays; safe to transform."""
        new = LayerGraph(self.name, self.source)
        new._layers = dict(self._layers)
        new._succ = {name: {c: list(slots) for c, slots in succ.items()} for name, succ in self._succ.items()}
        new._pred = {name: {p: list(slots) for p, slots in pred.items()} for name, pred in self._pred.items()}
        new.weights = dict(self.weights)
        new.biases = dict(self.biases)
        new.activation_density = dict(self.activation_density)
        new.activation_samples = dict(self.activation_samples)
        new.metadata = _copy.deepcopy(self.metadata)
        return new

    def _where(self) -> str:
        return f"{self.source}: " if self.source else ""

    def unsourced(self, exc: BaseException) -> str:
        """An error this graph raised, without the ``<source>: `` it starts with (for a loader that names the file
        and the entry itself: ``w.yaml: layers[1] (a): duplicate layer name 'a'``, not the file twice)."""
        text, where = str(exc), self._where()
        return text[len(where):] if where and text.startswith(where) else text

    def __repr__(self) -> str:
        return f"LayerGraph({self.name!r}, layers={len(self)}, params={self.total_params:,}, macs={self.total_macs:,})"


def sequential(name: str, layers: Iterable[Layer]) -> LayerGraph:
    """Build a chain graph (each layer fed by the previous one)."""
    graph = LayerGraph(name)
    prev: list[str] = []
    for layer in layers:
        graph.add(layer, prev if layer.input_shapes else [])
        prev = [layer.name]
    return graph
