"""Parameter counts of a Hugging Face model from the graph of one of its steps.

``graph`` is the sum of ``layer.params`` over the step's graph. Two corrections give the model's counts:

* tied embeddings (``tie_word_embeddings``): the ``lm_head`` layer reads the embedding table, which
  ``graph`` counts twice: ``total`` subtracts ``vocab * width`` once;
* mixture of experts: a step holds only the experts it routes tokens to; each MoE block adds
  ``(experts - touched) * per_expert`` with ``per_expert = 3 * hidden * expert_intermediate`` (gate, up and
  down matrices, no biases in these families).

So ``total = graph - tied + sum_blocks (E - touched_b) * per_expert``. ``active`` (what one token uses) is
``total - sum_blocks (E - top_k) * per_expert``: every shared parameter plus ``top_k`` routed experts per MoE
block, the whole embedding table included (Mistral's 12.9B for Mixtral-8x7B counts it); ``active_no_embedding``
leaves out the input embedding table, which a token only reads one row of (DeepSeek's 2.4B activated for
DeepSeek-V2-Lite counts this way). ``non_embedding`` leaves out the vocabulary tables: the input embedding
and an untied ``lm_head`` (Pythia's and Gemma's "non-embedding parameters"). ``weight_matrices`` is the parameters of the step's GEMM layers (linear,
grouped linear, conv): the weights one step streams; at batch-1 decode of a MoE model it is ``active`` minus
the embedding table and the norm scales (plus the table again when it is tied, read by ``lm_head``).
"""

from __future__ import annotations

from accelsim.workload.graph import LayerGraph
from accelsim.workload.hf.config import ModelSpec
from accelsim.workload.layers import Conv2d, GroupedLinear, Linear


def param_counts(spec: ModelSpec, graph: LayerGraph) -> dict:
    """``{total, active, active_no_embedding, embedding, non_embedding, graph, weight_matrices, experts_touched}``
    (module docstring)."""
    in_graph = graph.total_params
    width = spec.word_embed_dim or spec.hidden
    embedding = spec.vocab * width
    tied = embedding if spec.tied and spec.is_decoder else 0
    missing = 0
    inactive = 0
    touched: dict[str, int] = {}
    if spec.moe is not None:
        per_expert = 3 * spec.hidden * spec.moe.intermediate
        gate_suffix = "." + spec.names["expert_gate"]
        for layer in graph.layers:
            if isinstance(layer, GroupedLinear) and layer.name.endswith(gate_suffix) and ".g" in layer.name:
                block = layer.name.split("." + spec.names["experts"] + ".")[0]
                touched[block] = touched.get(block, 0) + layer.groups
        for i in spec.moe.layers:
            block = spec.names["block"].format(i=i)
            missing += (spec.moe.experts - touched.get(block, 0)) * per_expert
            inactive += (spec.moe.experts - spec.moe.top_k) * per_expert
    total = in_graph - tied + missing
    matrices = sum(layer.params for layer in graph.layers if isinstance(layer, (Linear, Conv2d)))
    head = embedding if spec.is_decoder and not spec.tied else 0  # an untied lm_head is a second vocab table
    return {"total": total, "active": total - inactive, "active_no_embedding": total - inactive - embedding,
            "embedding": embedding, "non_embedding": total - embedding - head, "graph": in_graph,
            "weight_matrices": matrices, "experts_touched": touched}
