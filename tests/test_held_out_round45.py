"""Findings of the forty-fifth session's held-out rounds (helpers that read none of the tests) and of its
benchmarks, each a check (docs/validation.md, "Held-out rounds of 2026-12-07 (forty-fifth session)")."""

from __future__ import annotations

import numpy as np
import pytest

import accelsim
from accelsim.hw.systolic import _kernels as K
from accelsim.hw.systolic.calc import calc_unit
from accelsim.hw.systolic.model import Geometry


# --- systolic: a unit's work on arrays much larger than the layer (bench_systolic.py on scalesim-google) ---------
def _walk(g, df, R, C, sizes):
    e32 = np.zeros(0, np.int32)
    tabs = K.conv_geometry(g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew)
    return K.simulate_layer(df, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, False, np.array(sizes), np.ones(3, np.int64),
                            e32, e32, e32, g.batch * g.H * g.W * g.C, g.win * g.K, False, True, np.zeros((4, 0), np.int64))


def test_calc_units_on_arrays_wider_than_the_layer_equal_the_row_walk():
    """The OFMAP and distinct passes build the output profile of the fold shapes that occur only, and the ws
    ifmap's first / last valid rows skip the fill and drain rows: every report value as the coupled row walk of
    every buffer, on arrays of 16-96 rows and columns around layers that fill one fold, several, or part of one
    (partial row folds only, full ones only, both)."""
    rng = np.random.default_rng(4501)
    shapes = set()
    for _ in range(60):
        h = int(rng.integers(3, 12))
        f = int(rng.integers(1, min(h, 4) + 1))
        g = Geometry.conv(h, h, f, f, int(rng.integers(1, 12)), int(rng.integers(1, 70)), int(rng.integers(1, 3)))
        df, R, C = int(rng.integers(0, 3)), int(rng.choice([16, 24, 32, 64, 96])), int(rng.choice([16, 20, 32, 96]))
        sizes = (int(rng.choice([200, 1000, 64 * 1024])), int(rng.choice([200, 4096, 64 * 1024])),
                 int(rng.choice([200, 4096, 64 * 1024])))
        inside = (g.Eh - 1) * g.sh + g.FH - 1 < g.H and (g.Ew - 1) * g.sw + g.FW - 1 < g.W
        distinct = inside and (g.Eh == 1 or g.FH - 1 < g.sh) and (g.Ew == 1 or g.FW - 1 < g.sw)
        got = calc_unit(df, R, C, g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew, g.K, *sizes,
                        distinct)
        assert np.array_equal(got, _walk(g, df, R, C, sizes)), (g, df, R, C, sizes)
        sr = (g.npx, g.win, g.win)[df]
        shapes.add((sr >= R, sr % R != 0))
    assert shapes == {(True, True), (True, False), (False, True)}


def test_user_units_whose_ifmap_order_fits_need_no_set_table():
    """USER mode: where the ifmap's whole prefetch order fits the active half of its buffer (tpu-v1's 12 MB) the
    window never slides, so no word's sets are looked up and the set table is not built (its fill was 200 of a
    36x36x19 stride-2 unit's 280 us): the same report as the walk given the full table, on units with repeated
    words (kmax > 1), windows inside and past the edge, one and two images, each dataflow."""
    k = K._user_kernels()
    rng = np.random.default_rng(4502)
    checked = 0
    while checked < 40:
        h = int(rng.integers(5, 20))
        f = int(rng.integers(2, min(h, 4) + 1))
        g = Geometry.conv(h, h, f, f, int(rng.integers(1, 20)), int(rng.integers(1, 60)), int(rng.integers(1, 3)),
                          batch=int(rng.integers(1, 3)))
        df, R, C = int(rng.integers(0, 3)), int(rng.choice([8, 32, 256])), int(rng.choice([8, 32, 256]))
        sizes = np.array([int(rng.choice([64, 512, 12288])) * 1024, 4096, 4096], np.int64)
        bws = np.array([int(rng.choice([2, 16]))] * 3, np.int64)
        kmax = K.copies_bound(g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew)
        if kmax < 2 or not K.ifmap_order_fits(g.npx, g.win, sizes[0]):
            continue
        args = (g.batch, g.H, g.W, g.C, g.FH, g.FW, g.sh, g.sw, g.dh, g.dw, g.Eh, g.Ew)
        tabs = k.conv_geometry(*args)
        space = g.batch * g.H * g.W * g.C
        meta, slots = np.empty(2 * space, np.int32), np.empty(space * kmax, np.int32)
        k.fill_sets(meta, slots, df, R, C, g.npx, g.win, g.K, *tabs, g.H, g.W, (int(sizes[0]) + 99) // 100, kmax)
        inside = (g.Eh - 1) * g.sh + g.FH - 1 < g.H and (g.Ew - 1) * g.sw + g.FW - 1 < g.W
        vc = np.zeros(0, np.int32) if inside else k.edge_stretches(df, R, C, g.npx, g.win, g.K, tabs[1], tabs[2],
                                                                    tabs[4], tabs[5], g.H, g.W)
        rows = np.zeros((4, 0), np.int64)
        full = k.walk_layer(df, R, C, g.npx, g.win, g.K, g.H, g.W, *tabs, sizes, bws, meta, slots, vc, True, True, rows,
                            None, None, np.zeros(0, np.int64))
        got = K.user_unit(df, R, C, *args, g.K, sizes, bws, rows)
        assert np.array_equal(got, full), (g, df, R, C, sizes, bws)
        checked += 1


def test_gpu_24_check_by_blocks_and_by_keep_mask():
    """The 2:4 pattern check a block of rows at a time and, on a compact pruned matrix, from its keep mask without
    building it (a whole-layer check of a 58 M-weight tied LM head took about 1 GB of temporaries): the same verdict
    as the check of the dense matrix, K a multiple of 4 or not, blocks of one row or many."""
    import scipy.sparse as sp

    from accelsim.compress.compressed import MaskedMatrix
    from accelsim.hw.gpu import model as G

    rng = np.random.default_rng(4503)

    def dense_check(w):
        rows, k = w.shape
        nz = np.concatenate([w != 0, np.zeros((rows, (-k) % 4), bool)], axis=1)
        return bool((nz.reshape(rows, -1, 4).sum(axis=2) <= 2).all())

    verdicts = set()
    for _ in range(60):
        rows, k = int(rng.integers(1, 40)), int(rng.integers(1, 30))
        w = rng.standard_normal((rows, k)).astype(np.float32)
        keep = np.zeros((rows, -(-k // 4) * 4), bool)
        for g in range(keep.shape[1] // 4):
            for r in range(rows):
                keep[r, 4 * g + rng.choice(4, size=2, replace=False)] = True
        keep = keep[:, :k]
        if rng.random() < 0.4:  # some third non-zero in a group
            keep[rng.integers(rows), rng.integers(k)] = True
        w = np.where(keep, w, 0.0).astype(np.float32)
        want = dense_check(w)
        verdicts.add(want)
        for block in (1, 7, 1 << 22):
            G._ROWS_BLOCK_WEIGHTS = block
            try:
                assert G.is_24_compatible(w) == want
                assert G.is_24_compatible(sp.csr_array(w)) == want
                assert G.is_24_compatible(MaskedMatrix(keep, source=w)) == want
            finally:
                G._ROWS_BLOCK_WEIGHTS = 1 << 22
    assert verdicts == {True, False}


@pytest.mark.parametrize("recipe", ["magnitude-4", "w4a16-g128", "global"])
def test_compressing_a_packed_checkpoint_compresses_its_values(tmp_path, recipe):
    """A recipe on a GPTQ checkpoint's packed layers compressed synthesized random weights (the packed layers hold
    no float weights, so they were taken for layers without any): pruning kept the largest of random values, the
    errors were against them. Now a packed layer's values are its codes dequantized, one layer at a time (and all
    at once for a global threshold)."""
    from test_deployed_formats import TINY, write_gptq_checkpoint

    from accelsim.workload.hf import load_hf
    from accelsim.workload.weights import load_checkpoint

    graph = load_hf(TINY, phase="decode", context=8)
    group, packed = 8, {}
    for name, (codes, zeros, scales) in write_gptq_checkpoint(tmp_path, graph, group, seed=4504).items():
        groups = np.arange(codes.shape[1]) // group
        packed[name] = (codes.astype(np.float64) - zeros[:, groups]) * scales.T.astype(np.float64)[:, groups]
    out = load_checkpoint(graph, tmp_path / "model.safetensors")
    if recipe == "global":
        recipe = {"name": "global", "pipeline": [{"prune": {"method": "magnitude", "scope": "global", "density": 0.3}}]}
    cg = accelsim.compress(out, recipe)
    for name, values in packed.items():
        w = cg[name].view.matrix
        w = np.asarray(w.toarray() if hasattr(w, "toarray") else w, np.float64)
        kept = w != 0
        assert kept.any() and not kept.all() or recipe == "w4a16-g128"
        # the kept values are the dequantized weights (re-quantized by w4a16: within one step of its grid)
        tol = 1e-6 if recipe != "w4a16-g128" else 0.5 * np.abs(values).max() / 7
        assert np.abs(w[kept] - values[kept]).max() <= tol * (1 + np.abs(values).max()), name
        if recipe == "magnitude-4":  # the largest magnitudes of the layer's own values
            assert np.abs(values[kept]).min() >= np.abs(values[~kept]).max() - 1e-9, name


def test_gpu_24_guarantee_of_an_nm_pattern_without_values():
    """On the statistics path (no weight values) a layer pruned n:m is 2:4-compatible when every n:m pattern is:
    2:8 was refused there as "not 2:4" (only 1:2, 1:4, 2:4 were taken) while real weights of it passed. Checked
    against the worst patterns of every n:m up to m = 12: each group keeps its first or its last n columns (all
    alike, or alternating), which puts the most kept columns of the groups an aligned 4 overlaps inside it."""
    from accelsim.hw.gpu.model import is_24_compatible, nm_guarantees_24

    for m in range(1, 13):
        for n in range(1, m + 1):
            k = 4 * m * 3
            worst = True
            for pick in ("first", "last", 0, 1):  # (0 / 1: the groups of that parity keep their last n)
                keep = np.zeros((1, k), bool)
                for g, g0 in enumerate(range(0, k, m)):
                    cols = np.arange(g0, min(g0 + m, k))
                    tail = pick == "last" or g % 2 == pick
                    keep[0, cols[-n:] if tail else cols[:n]] = True
                worst &= is_24_compatible(keep.astype(np.float32))
            assert nm_guarantees_24(n, m) == worst, (n, m)
    assert nm_guarantees_24(2, 8) and not nm_guarantees_24(3, 8)


def _mlp(widths):
    from accelsim.workload.layers import Input, Linear

    g = accelsim.LayerGraph("mlp")
    g.add(Input(name="x", shape=(widths[0],)))
    prev = "x"
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        g.add(Linear(name=f"fc{i + 1}", input_shapes=((a,),), out_features=b), [prev])
        prev = f"fc{i + 1}"
    return g


# --- GPU: one row never slower than several (helper's MLP: batch 16 took less time than batch 1) --------------------
@pytest.mark.parametrize("arch", ["h100-sxm", "a100-40gb", "jetson-agx-orin", "l4", "v100"])
def test_gpu_batch_one_never_slower_than_a_larger_batch(arch):
    """cuBLAS at one row took the GEMV always, whose dependent-load chain outlasts one 64-row tile on tiny products
    (64 x 128: 3.33 against 3.17 us on h100-sxm), so 16 rows finished before 1; now the faster of the two."""
    g = _mlp((64, 128, 64, 10))
    for recipe in (None, "int8"):
        one = accelsim.simulate(arch, g, recipe=recipe, batch=1).total["latency_s"]
        for batch in (2, 8, 16, 64):
            assert one <= accelsim.simulate(arch, g, recipe=recipe, batch=batch).total["latency_s"], (recipe, batch)


def test_gpu_one_row_takes_the_gemv_where_it_is_faster():
    """The GEMV stays the kernel of every realistic one-row product (a 4096 x 4096 decode projection)."""
    g = _mlp((4096, 4096))
    res = accelsim.simulate("h100-sxm", g, batch=1)
    assert res.layers[-1].extra["kernel"].startswith("gemv")


# --- ONNX files of torch's default (dynamo) exporter: layers named by module path -----------------------------------
torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 6, 3)
        self.bn1 = torch.nn.BatchNorm2d(6)
        self.block = torch.nn.Sequential(torch.nn.Conv2d(6, 5, 3, stride=2), torch.nn.ReLU())
        self.fc1 = torch.nn.Linear(5, 7)
        self.fc2 = torch.nn.Linear(7, 3)

    def forward(self, x):
        x = self.block(torch.relu(self.bn1(self.conv1(x))))
        return self.fc2(torch.relu(self.fc1(x.mean((2, 3)))))


def _export(tmp_path, dynamo: bool):
    import contextlib
    import io
    import warnings

    torch.manual_seed(0)
    net = _Net().eval()
    path = tmp_path / f"net_{'dynamo' if dynamo else 'ts'}.onnx"
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.randn(1, 3, 16, 16),), str(path), dynamo=dynamo)
    return net, path


def test_dynamo_export_layers_named_by_module_path(tmp_path):
    """torch >= 2.9 exports with dynamo by default: node names ``node_linear_1``, the module path in the
    ``pkg.torch.onnx.name_scopes`` metadata. They imported as ``node_linear`` ..., so a recipe naming ``fc1`` matched
    no layer of the file although it matched the module. A Conv its optimizer fused with the BatchNorm after it
    (scoped ``bn1``) takes its weight's parameter name."""
    net, dynamo = _export(tmp_path, True)
    _, script = _export(tmp_path, False)
    weighted = lambda graph: [layer.name for layer in graph.compute_layers() if layer.has_weights]  # noqa: E731
    names = {p: weighted(accelsim.load_workload(str(p))) for p in (dynamo, script)}
    assert names[dynamo] == ["conv1", "block.0", "fc1", "fc2"]
    assert names[dynamo] == names[script]
    assert weighted(accelsim.load_workload(net, example_input=torch.randn(1, 3, 16, 16))) == names[dynamo]
    recipe = {"name": "fc1-only", "layers": ["fc1"], "pipeline": [{"prune": {"method": "magnitude", "density": 0.5}}]}
    graph = accelsim.compress(accelsim.load_workload(str(dynamo)), recipe)
    assert graph["fc1"].weight_density == pytest.approx(0.5, abs=0.03) and graph["fc2"].weight_density == 1.0


def test_torch_param_note_names_folded_batch_norms():
    """load_torch's note on a Conv + BatchNorm module blamed position embeddings and reused parameters for a gap
    that is exactly the batch norm's scale and shift, folded into the conv."""
    net = _Net().eval()
    graph = accelsim.load_workload(net, example_input=torch.randn(1, 3, 16, 16))
    held = sum(p.numel() for p in net.parameters())
    assert held - graph.total_params == 12  # bn1: 6 scales, 6 shifts
    note = next(n for n in graph.metadata["notes"] if "metadata['torch']['params']" in n)
    assert "batch norms folded into the layers before them (their 12 scales and shifts gone" in note
    assert "position embeddings" not in note and "constant indices" not in note


class _Routes(torch.nn.Module):
    """A module called twice next to modules named like its repeats, a ModuleDict's members called through it and a
    module reached through a container that is never called itself."""

    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(8, 8)
        self.fc1_2 = torch.nn.Linear(8, 8)
        self.fc1_1 = torch.nn.Linear(8, 8)
        self.heads = torch.nn.ModuleDict({"cls": torch.nn.Linear(8, 4), "reg": torch.nn.Linear(8, 2)})
        self.stage = torch.nn.Module()
        self.stage.block = torch.nn.Module()
        self.stage.block.proj = torch.nn.Linear(8, 8)

    def forward(self, x):
        x = self.fc1_1(self.fc1_2(self.fc1(self.fc1(x))))
        x = self.stage.block.proj(x)
        return torch.cat([self.heads["cls"](x), self.heads["reg"](x)], dim=-1)


def test_layer_names_agree_across_torch_routes(tmp_path):
    """A module called twice took the name of another module ('fc1_2': the real 'fc1_2' became 'fc1_2_2'), its repeat
    was 'fc1_1' in a TorchScript export and 'fc1_2' in the others, and TorchScript exports lost the prefix of modules a
    container calls without being called itself ('cls' for 'heads.cls'): every route now gives the weight's module
    path, a repeat numbered past every module's name."""
    import contextlib
    import io
    import warnings

    torch.manual_seed(0)
    net, x = _Routes().eval(), torch.randn(1, 8)
    names = {}
    for dynamo in (True, False):
        path = tmp_path / f"routes_{dynamo}.onnx"
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (x,), str(path), dynamo=dynamo)
        names[dynamo] = [layer.name for layer in accelsim.load_workload(str(path)).compute_layers() if layer.has_weights]
    names["module"] = [layer.name for layer in accelsim.load_workload(net, example_input=x).compute_layers()
                       if layer.has_weights]
    assert names[True] == names[False] == names["module"] == [
        "fc1", "fc1_3", "fc1_2", "fc1_1", "stage.block.proj", "heads.cls", "heads.reg"]
