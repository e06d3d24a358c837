"""Recipe parameters as sweep axes: ``recipe.<step>.<param>`` sets a parameter of the point's recipe.

An axis ``recipe.prune.density`` over magnitude-2 reproduces the five bundled ShrinkBench recipes
magnitude-2 ... magnitude-32 (they differ only in the prune density: checked here first), resumes
without recomputing or duplicating points, and bad keys fail before anything runs.
"""

import math

import pandas as pd
import pytest

import accelsim
from accelsim.compress.recipe import load_recipe, with_params
from accelsim.dse import Space
from accelsim.dse.evaluate import METRICS, SimulateEvaluator, cache_key
from accelsim.errors import ConfigError, SweepError

WL = "lenet-300-100"
RATIOS = [2, 4, 8, 16, 32]
BASE = {"workload": WL, "arch": "edge-32x32"}
AXIS_SPEC = {"name": "density-axis", "base": {**BASE, "recipe": "magnitude-2"},
             "grid": {"recipe.prune.density": [1 / r for r in RATIOS]}}
NAMED_SPEC = {"name": "bundled", "base": BASE, "grid": {"recipe": [f"magnitude-{r}" for r in RATIOS]}}


class Spy(SimulateEvaluator):
    """The default evaluator, counting the points it simulates."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __call__(self, setting):
        self.calls.append(dict(setting))
        return super().__call__(setting)


def _metrics(df: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in df.columns if c in METRICS or c.startswith("energy.")]
    assert {"latency_s", "energy_j", "cycles", "weight_storage_bits", "speedup_vs_dense"} <= set(cols)
    return df[cols].reset_index(drop=True)


def test_bundled_magnitude_recipes_differ_only_in_density():
    base = load_recipe("magnitude-2")
    for r in RATIOS:
        named, derived = load_recipe(f"magnitude-{r}"), with_params(base, {"prune.density": 1 / r})
        assert [(s.op, dict(s.params)) for s in derived.pipeline] == [(s.op, dict(s.params)) for s in named.pipeline]
        assert [s.label() for s in derived.pipeline] == [s.label() for s in named.pipeline]
        for attr in ("layers", "skip", "seed", "overrides"):
            assert getattr(derived, attr) == getattr(named, attr)
        assert derived.name == f"magnitude-2[prune.density={1 / r}]"  # the name shows the change
    assert with_params(base, {}) is base


def test_density_axis_equals_the_bundled_recipes(tmp_path):
    axis = accelsim.sweep(AXIS_SPEC, store=tmp_path / "axis", progress=False)
    named = accelsim.sweep(NAMED_SPEC, progress=False)
    assert len(axis) == len(named) == 5 and (axis["status"] == "ok").all() and (named["status"] == "ok").all()
    assert axis["recipe.prune.density"].tolist() == [1 / r for r in RATIOS]  # the axis stays a setting column
    assert (axis["recipe"] == "magnitude-2").all()
    pd.testing.assert_frame_equal(_metrics(axis), _metrics(named), check_exact=True)
    # real pruning: fewer weights stored, different points
    bits = axis["weight_storage_bits"].tolist()
    assert bits == sorted(bits, reverse=True) and len(set(bits)) == 5
    assert axis["id"].nunique() == 5
    for r, got in zip(RATIOS, axis["compression_ratio"]):
        assert math.isclose(got, r, rel_tol=0.02)


def test_density_axis_resumes_without_recomputing(tmp_path):
    store = tmp_path / "axis"
    first = Spy()
    full = accelsim.sweep(AXIS_SPEC, evaluate=first, store=store, progress=False)
    assert len(first.calls) == 5
    again = Spy()
    resumed = accelsim.sweep(AXIS_SPEC, evaluate=again, store=store, resume=True, progress=False)
    assert again.calls == []  # nothing recomputed
    pd.testing.assert_frame_equal(resumed, full)
    lines = (store / "results.csv").read_text().splitlines()
    assert len(lines) == 1 + 5  # header + one row per point, nothing duplicated
    # lose two finished rows (as a crash before their write would): resume recomputes those two only
    (store / "results.csv").write_text("\n".join([lines[0], lines[1], lines[3], lines[5]]) + "\n")
    third = Spy()
    healed = accelsim.sweep(AXIS_SPEC, evaluate=third, store=store, resume=True, progress=False)
    assert sorted(c["recipe.prune.density"] for c in third.calls) == sorted([1 / 4, 1 / 16])
    pd.testing.assert_frame_equal(healed, full)
    assert len((store / "results.csv").read_text().splitlines()) == 1 + 5


def test_cache_key_and_compression_follow_the_parameters():
    a = {**BASE, "recipe": "magnitude-2", "recipe.prune.density": 0.25}
    assert cache_key(a) == cache_key(dict(a)) != cache_key({**a, "recipe.prune.density": 0.125})
    assert cache_key(a) != cache_key({**BASE, "recipe": "magnitude-2"})
    row = SimulateEvaluator()(a)["row"]
    assert row == SimulateEvaluator()({**BASE, "recipe": "magnitude-4"})["row"]


@pytest.mark.parametrize("extra, fragment", [
    ({"recipe.prune.densty": 0.5}, "recipe.prune.densty: unknown parameter of step 'prune'; nearest valid names: "
                                   "recipe.prune.density"),
    ({"recipe.prnue.density": 0.5}, "recipe.prnue.density: unknown recipe step 'prnue'; nearest valid names: "
                                    "recipe.prune.<param>"),
    ({"recipe.share.bits": 4}, "recipe.share.bits: recipe 'magnitude-2' has no 'share' step (its pipeline: prune, encode)"),
    ({"recipe.prune.density": 1.5}, "recipe.prune.density must be a number in (0, 1]; got 1.5"),
    ({"recipe.prune.density": "half"}, "recipe.prune.density must be a number in (0, 1]; got 'half'"),
    ({"recipe.prune.method": "nm"}, "pipeline[0].prune.n is required for N:M pruning"),
    ({"recipe": None, "recipe.prune.density": 0.5}, "recipe.prune.density: the point has no recipe to change"),
])
def test_bad_recipe_axis_keys_fail_before_anything_runs(extra, fragment):
    spy = Spy()
    good = Space(base={**BASE, "recipe": "magnitude-2"})
    bad = Space(base={**BASE, "recipe": "magnitude-2", **extra})
    with pytest.raises(SweepError) as err:
        accelsim.sweep(good | bad, evaluate=spy, progress=False)
    assert fragment in str(err.value) and "\n" not in str(err.value)
    assert spy.calls == []


def test_alternatives_and_inline_recipes():
    # setting density clears the step's sparsity (one of a group of alternatives)
    inline = {"name": "mine", "pipeline": [{"prune": {"sparsity": 0.5}}, {"share": {"bits": 4}}]}
    r = with_params(inline, {"prune.density": 0.25, "share.bits": 5})
    assert r.pipeline[0].params["density"] == 0.25 and r.pipeline[0].params["sparsity"] is None
    assert r.pipeline[1].params["bits"] == 5 and r.name == "mine[prune.density=0.25, share.bits=5]"
    # a per-layer override of density replaces the step's sparsity for that layer
    over = with_params({**inline, "overrides": {"fc1": {"prune": {"density": 0.1}}}}, {"prune.sparsity": 0.75})
    assert over.pipeline[0].params["sparsity"] == 0.75
    cg = accelsim.compress(accelsim.load_workload(WL), over)
    assert math.isclose(cg["fc1"].weight_density, 0.1, abs_tol=1e-3)
    assert math.isclose(cg["fc2"].weight_density, 0.25, abs_tol=1e-3)
    with pytest.raises(ConfigError, match=r"x\.prune\.bits: unknown parameter of step 'prune'"):
        with_params(inline, {"prune.bits": 4}, prefix="x.")
