"""Hugging Face config reader against transformers itself: 198 random small configs of the 33 families read
(tests/data/hf/transformers_oracle.json, built by benchmarks/build_hf_oracle.py with transformers on the meta
device; transformers is not imported here). Each config's parameter count must equal the count of the model
transformers builds from it, and its sliding-window blocks those transformers' ``layer_types`` marks, and its RoPE features those of
transformers' rotary embedding."""

import json
from pathlib import Path

import pytest

from accelsim.workload.hf import load_hf, model_spec

ORACLE = json.loads((Path(__file__).parent / "data" / "hf" / "transformers_oracle.json").read_text())
CASES = ORACLE["cases"]


def test_oracle_covers_every_family_read():
    from accelsim.workload.hf.config import FAMILIES

    assert {c["family"] for c in CASES} == set(FAMILIES)
    assert sum(1 for c in CASES if c["sliding_blocks"]) >= 20  # windows on some blocks, all, or none


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['family']}-{c['seed']}")
@pytest.mark.parametrize("form", ["config", "saved"])
def test_parameter_count_equals_transformers(case, form):
    """The config as written by hand (few fields) and as ``save_pretrained`` writes it (every field)."""
    graph = load_hf(dict(case[form]))
    assert graph.metadata["hf"]["params"]["total"] == case["params"]


@pytest.mark.parametrize("case", [c for c in CASES if c["config"].get("sliding_window")],
                         ids=lambda c: f"{c['family']}-{c['seed']}")
@pytest.mark.parametrize("form", ["config", "saved"])
def test_sliding_window_blocks_equal_transformers(case, form):
    spec = model_spec(dict(case[form]))
    assert [i for i in range(spec.layers) if spec.window_of(i)] == case["sliding_blocks"]
    if case["sliding_blocks"]:
        assert spec.window == case["window"]


@pytest.mark.parametrize("case", [c for c in CASES if c["rotary"]], ids=lambda c: f"{c['family']}-{c['seed']}")
@pytest.mark.parametrize("form", ["config", "saved"])
def test_rotary_features_equal_transformers(case, form):
    """The features RoPE rotates per head: transformers 5 saves a partial factor inside ``rope_parameters`` (Phi's
    0.5 and GPT-NeoX's 0.25 were read as 1 from the saved form, and from a config leaving them out)."""
    spec = model_spec(dict(case[form]))
    rotary = spec.mla.rope_dim if spec.mla is not None else (spec.rotary_dim or spec.head_dim)
    assert rotary == case["rotary"]
