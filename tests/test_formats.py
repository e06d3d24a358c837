"""Weight / activation / KV-cache number formats (accelsim.compress.formats, issue 13 items 3, 4, 7).

Element encoders are checked bit for bit against ml_dtypes; every quantizer's dequantized values
against an independent reference built from ml_dtypes casts (or NumPy's float16 / float32); storage
per element on real arrays against the formulas of docs/compression.md section 6. Run with ``-s`` to
see the printed figures (bits per element, round-trip errors).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from accelsim.compress import formats as F
from accelsim.compress.recipe import compress, load_recipe, recipe_names
from accelsim.errors import AccelsimError, CompressionError, ConfigError
from accelsim.workload.io_yaml import graph_from_dict

try:  # the reference implementation of the float formats (a test-only dependency; onnx brings it)
    import ml_dtypes as md
except ImportError:  # pragma: no cover - the reference tests skip, the storage / recipe tests still run
    md = None
needs_md = pytest.mark.skipif(md is None, reason="ml_dtypes (reference FP8 / FP6 / FP4 / E8M0 / bf16 types) not installed")

REF = {} if md is None else {"e4m3": md.float8_e4m3fn, "e5m2": md.float8_e5m2, "e2m1": md.float4_e2m1fn,
                             "e2m3": md.float6_e2m3fn, "e3m2": md.float6_e3m2fn, "bf16": md.bfloat16, "fp16": np.float16}


def _weights(n=256, k=1024, seed=0):
    """A He-normal weight matrix with a few outliers (real-array stand-in, float32)."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n, k)) * math.sqrt(2.0 / k)
    w[rng.integers(0, n, 20), rng.integers(0, k, 20)] *= 25.0
    return w.astype(np.float32)


def _sqnr(ref, approx):
    ref = np.asarray(ref, np.float64)
    return 10 * math.log10(np.sum(ref ** 2) / np.sum((ref - approx) ** 2))


def _ref_cast(x, name):
    """ml_dtypes' value of x in format ``name`` (saturated first: e4m3fn turns overflow into NaN)."""
    mx = F.ELEMENT_FORMATS[name].max_value
    return np.clip(np.asarray(x, np.float32), -mx, mx).astype(REF[name]).astype(np.float64)


# --- element encoders ---------------------------------------------------------------------------
@needs_md
@pytest.mark.parametrize("name", ["bf16", "e2m1", "e2m3", "e3m2", "e4m3", "e5m2", "fp16"])
def test_element_encoder_bit_exact_against_ml_dtypes(name):
    fmt = F.ELEMENT_FORMATS[name]
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.standard_normal(20000) * s for s in (1e-6, 1e-3, 0.1, 1.0, 10.0, 300.0, 1e5)])
    grid = fmt.decode(np.arange(1 << min(fmt.bits, 12)))  # every code (first 4096 for 16-bit)
    grid = grid[np.isfinite(grid)]
    mids = (grid[:-1] + grid[1:]) / 2  # exact ties: round half to even
    over = [fmt.max_value * 2, -fmt.max_value * 3] if fmt.max_value < 1e30 else []  # saturation
    x = np.concatenate([x, grid, mids[np.isfinite(mids)], [0.0, -0.0], over])
    x = x.astype(np.float32)
    ref = np.clip(x, -fmt.max_value, fmt.max_value).astype(REF[name])
    width = {4: np.uint8, 6: np.uint8, 8: np.uint8, 16: np.uint16}[fmt.bits]
    ref_bits = ref.view(width).astype(np.int64) & ((1 << fmt.bits) - 1)
    mine = fmt.encode(x.astype(np.float64)).astype(np.int64)
    assert np.array_equal(mine, ref_bits), f"{name}: {np.sum(mine != ref_bits)} codes differ"
    assert np.array_equal(fmt.decode(mine), ref.astype(np.float64))


@needs_md
def test_e8m0_scale_codes_match_ml_dtypes():
    e = np.arange(-127, 128)
    codes = F.encode_e8m0_exponent(e)
    ref = np.ldexp(1.0, e).astype(np.float32).astype(md.float8_e8m0fnu).view(np.uint8)
    assert np.array_equal(codes, ref)
    assert np.array_equal(F.ELEMENT_FORMATS["e8m0"].decode(codes), np.ldexp(1.0, e))


@needs_md
def test_scale_rounding_fp16_bf16_fp32():
    s = np.abs(np.random.default_rng(2).standard_normal(5000)) * 1e-2
    assert np.array_equal(F.round_scale(s, "fp16"), s.astype(np.float16).astype(np.float64))
    assert np.array_equal(F.round_scale(s, "bf16"), s.astype(np.float32).astype(md.bfloat16).astype(np.float64))
    assert np.array_equal(F.round_scale(s, "fp32"), s.astype(np.float32).astype(np.float64))
    # e8m0 rounds up (no element of the block clipped; DeepGEMM's ceil_to_ue8m0), an exact power stays itself
    assert np.array_equal(F.round_scale(s, "e8m0"), np.ldexp(1.0, np.ceil(np.log2(s)).astype(int)))
    assert np.array_equal(F.round_scale(np.array([0.25, 1.0, 3.0, 0.0]), "e8m0"), [0.25, 1.0, 4.0, 0.0])


# --- storage per element on real arrays ---------------------------------------------------------
def test_storage_per_element_headline_formats():
    w = _weights()
    n, k = w.shape
    mx = F.quantize_mx(w, "mxfp4")
    nv = F.quantize_nvfp4(w)
    g128 = F.quantize_int(w, 4, 128, symmetric=False, scale_format="fp16", zero_point_bits=4)
    print(f"\nbits/element on a {n}x{k} array: mxfp4 {mx.bits_per_element()}, "
          f"nvfp4 {(nv.storage_bits().total - 32) / w.size} (+32 bits/tensor: {nv.bits_per_element()}), "
          f"int4-g128 fp16 scale + 4-bit zp {g128.bits_per_element()}")
    assert mx.bits_per_element() == 4.25
    assert mx.storage_bits().payload == 4 * w.size and mx.storage_bits().metadata == 8 * w.size // 32
    assert nv.storage_bits().total == 4.5 * w.size + 32
    assert nv.spec.bits_per_element() == 4.5
    assert g128.bits_per_element() == 4.15625
    assert g128.storage_bits().metadata == n * (k // 128) * (16 + 4)


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("group", [32, 64, 128, None])
@pytest.mark.parametrize("scale", ["fp16", "bf16", "fp32"])
@pytest.mark.parametrize("symmetric", [True, False])
def test_group_int_storage_formula(bits, group, scale, symmetric):
    w = _weights(64, 256)
    q = F.quantize_int(w, bits, group, symmetric=symmetric, scale_format=scale)
    g = group or 256
    zp = 0 if symmetric else bits
    expect = bits + (F.element_format(scale).bits + zp) / g
    assert q.bits_per_element() == expect == q.spec.bits_per_element()
    assert q.codes.min() >= (-(1 << (bits - 1)) + 1 if symmetric else 0)
    assert q.codes.max() <= ((1 << (bits - 1)) - 1 if symmetric else (1 << bits) - 1)


# --- round trips against independent references -------------------------------------------------
def _ref_int(w, bits, group, symmetric, scale_format):
    """Group-wise integer quantization, one group at a time (independent of the vectorized code)."""
    cast = {"fp16": lambda v: float(np.float16(v)), "fp32": lambda v: float(np.float32(v)),
            "bf16": lambda v: float(np.float32(v).astype(md.bfloat16))}[scale_format]
    out = np.empty(w.shape)
    for r in range(w.shape[0]):
        for c0 in range(0, w.shape[1], group):
            x = w[r, c0:c0 + group].astype(np.float64)
            if symmetric:
                qmax = 2 ** (bits - 1) - 1
                s = cast(np.max(np.abs(x)) / qmax)
                out[r, c0:c0 + group] = np.clip(np.round(x / s), -qmax, qmax) * s
            else:
                qmax = 2 ** bits - 1
                lo, hi = min(x.min(), 0.0), max(x.max(), 0.0)
                s = cast((hi - lo) / qmax)
                z = min(max(round(-lo / s), 0), qmax)
                out[r, c0:c0 + group] = (np.clip(np.round(x / s) + z, 0, qmax) - z) * s
    return out


@pytest.mark.parametrize("bits,group,symmetric,scale", [(4, 128, False, "fp16"), (4, 32, True, "bf16"),
                                                        (3, 64, False, "fp32"), (8, 128, True, "fp16"),
                                                        (2, 32, False, "fp16")])
@needs_md
def test_group_int_round_trip_matches_reference(bits, group, symmetric, scale):
    w = _weights(32, 256)
    q = F.quantize_int(w, bits, group, symmetric=symmetric, scale_format=scale)
    ref = _ref_int(w, bits, group, symmetric, scale)
    assert np.array_equal(q.to_dense(), ref)
    print(f"\nint{bits} g{group} {'sym' if symmetric else 'asym'} {scale}: SQNR {_sqnr(w, q.to_dense()):.2f} dB")


@pytest.mark.parametrize("block", ["tensor", "channel", (128, 128), (1, 32)])
@pytest.mark.parametrize("element", ["e4m3", "e5m2"])
@needs_md
def test_fp8_round_trip_matches_ml_dtypes(element, block):
    w = _weights(200, 384)  # 200 rows: partial 128x128 edge blocks
    shape = {"tensor": w.shape, "channel": (1, w.shape[1])}.get(block, block)
    q = F.quantize_float(w, element, shape, "fp32")
    mx = F.ELEMENT_FORMATS[element].max_value
    ref = np.empty(w.shape)
    for r0 in range(0, w.shape[0], shape[0]):
        for c0 in range(0, w.shape[1], shape[1]):
            x = w[r0:r0 + shape[0], c0:c0 + shape[1]].astype(np.float64)
            s = float(np.float32(np.max(np.abs(x)) / mx))
            ref[r0:r0 + shape[0], c0:c0 + shape[1]] = _ref_cast(x / s, element) * s
    assert np.array_equal(q.to_dense(), ref)
    blocks = -(-w.shape[0] // shape[0]) * -(-w.shape[1] // shape[1])
    assert q.storage_bits().total == 8 * w.size + 32 * blocks
    print(f"\nfp8-{element} scale per {block}: SQNR {_sqnr(w, q.to_dense()):.2f} dB, "
          f"{q.bits_per_element():.6f} bits/element")


@pytest.mark.parametrize("name", sorted(F.MX_FORMATS))
@needs_md
def test_mx_round_trip_matches_reference(name):
    w = _weights(64, 512)
    q = F.quantize_mx(w, name)
    elem = F.MX_FORMATS[name]
    emax = {"e4m3": 8, "e5m2": 15, "e2m3": 2, "e3m2": 4, "e2m1": 2}[elem]  # OCP MX v1.0 Table 1
    ref = np.empty(w.shape)
    for r in range(w.shape[0]):
        for c0 in range(0, w.shape[1], 32):
            x = w[r, c0:c0 + 32].astype(np.float64)
            scale = 2.0 ** (math.floor(math.log2(np.max(np.abs(x)))) - emax)
            ref[r, c0:c0 + 32] = _ref_cast(x / scale, elem) * scale
    assert np.array_equal(q.to_dense(), ref)
    bpe = F.element_format(elem).bits + 8 / 32
    assert q.bits_per_element() == bpe
    print(f"\n{name}: {bpe} bits/element, SQNR {_sqnr(w, q.to_dense()):.2f} dB")


@needs_md
def test_nvfp4_round_trip_matches_reference():
    w = _weights(64, 512)
    q = F.quantize_nvfp4(w)
    gs = float(np.float32(np.max(np.abs(w)) / (6 * 448)))
    ref = np.empty(w.shape)
    for r in range(w.shape[0]):
        for c0 in range(0, w.shape[1], 16):
            x = w[r, c0:c0 + 16].astype(np.float64)
            sb = float(_ref_cast(np.max(np.abs(x)) / (6 * gs), "e4m3"))
            ref[r, c0:c0 + 16] = _ref_cast(x / (sb * gs), "e2m1") * sb * gs
    assert np.allclose(q.to_dense(), ref, rtol=0, atol=0)
    print(f"\nnvfp4: SQNR {_sqnr(w, q.to_dense()):.2f} dB")


def test_quantize_dispatches_on_the_spec():
    w = _weights(16, 256)
    for q in (F.quantize_int(w, 4, 64, symmetric=False, scale_format="bf16"), F.quantize_int(w, 8, None),
              F.quantize_mx(w, "mxfp6"), F.quantize_nvfp4(w), F.quantize_float(w, "e5m2", (8, 128))):
        again = F.quantize(w, q.spec)
        assert again.spec == q.spec and np.array_equal(again.codes, q.codes) and np.array_equal(again.scales, q.scales)
        assert again.storage_bits() == q.storage_bits()


def test_act_order_groups_follow_the_permutation():
    w = _weights(16, 256)
    order = np.random.default_rng(3).permutation(256)
    q = F.quantize_int(w, 4, 64, symmetric=False, order=order)
    assert np.array_equal(np.bincount(q.g_idx), [64] * 4)
    assert np.array_equal(q.g_idx[order], np.arange(256) // 64)
    plain = F.quantize_int(w[:, order], 4, 64, symmetric=False)
    assert np.array_equal(q.to_dense()[:, order], plain.to_dense())
    assert q.storage_bits().metadata == plain.storage_bits().metadata + 256 * F.G_IDX_BITS


def test_pruned_zeros_stay_exact_in_every_format():
    w = _weights(32, 256)
    w[:, ::3] = 0.0
    for q in (F.quantize_int(w, 4, 128, symmetric=False), F.quantize_int(w, 3, 32), F.quantize_mx(w, "mxfp4"),
              F.quantize_nvfp4(w), F.quantize_float(w, "e4m3", (128, 128))):
        assert np.all(q.to_dense()[:, ::3] == 0.0), q.spec.name


# --- activations, SmoothQuant, KV cache ---------------------------------------------------------
@pytest.mark.parametrize("element", ["int8", "e4m3"])
def test_activation_per_token_dynamic(element):
    x = np.random.default_rng(4).standard_normal((16, 512)) * np.linspace(0.1, 20, 512)
    af = F.ActivationFormat(element, "per_token", dynamic=True)
    q = af.quantize(x)
    assert q.scales.shape == (16, 1)
    assert q.bits_per_element() == af.bits_per_element(16, 512) == 8 + 32 / 512
    if element == "int8":
        step = np.max(np.abs(x), axis=1, keepdims=True) / 127
        assert np.all(np.abs(q.to_dense() - x) <= step / 2 * (1 + 1e-6))
    print(f"\nactivations {af.label}: SQNR {_sqnr(x, q.to_dense()):.2f} dB")


def test_activation_tiles_1x128():
    x = np.random.default_rng(8).standard_normal((8, 512))
    af = F.ActivationFormat("e4m3", "per_token", dynamic=True, group_size=128)
    q = af.quantize(x)
    assert q.scales.shape == (8, 4) and af.scales_for(8, 512) == 32
    assert q.bits_per_element() == af.bits_per_element(8, 512) == 8 + 32 / 128
    # a group that does not divide K ends each token in a partial group with its own scale (as weight groups do),
    # stored as counted: ceil(K / g) scales a token
    part = af.quantize(x[:, :100])
    assert part.scales.shape == (8, 1) and part.bits_per_element() == af.bits_per_element(8, 100) == 8 + 32 / 100


def test_partial_activation_and_kv_groups_take_their_own_scale():
    x = np.random.default_rng(9).standard_normal((8, 100))
    af = F.ActivationFormat("int8", "per_token", dynamic=True, group_size=48)
    q = af.quantize(x)
    assert q.scales.shape == (8, 3) and af.scales_for(8, 100) == 24
    assert np.allclose(q.scales[:, 2], np.max(np.abs(x[:, 96:]), axis=1) / 127, rtol=1e-6)  # the 4-element group
    assert np.max(np.abs(q.to_dense() - x) / np.repeat(q.scales, 48, axis=1)[:, :100]) <= 0.5 + 1e-9
    kv = F.KVFormat("int4", key="per_channel", value="per_token", group_size=32)
    cache = np.random.default_rng(10).standard_normal((50, 128))  # 50 cached tokens: a group of 32 and one of 18
    k = kv.quantize(cache, "key")
    assert k.scales.shape == (2, 128) and k.bits_per_element() == kv.bits_per_element("key", 50, 128) == 5.28


def test_smoothing_factors_equation():
    rng = np.random.default_rng(5)
    w, amax = rng.standard_normal((8, 16)), np.abs(rng.standard_normal(16)) * 10
    s = F.smoothing_factors(amax, w, 0.5)
    assert np.allclose(s, np.sqrt(amax) / np.sqrt(np.max(np.abs(w), axis=0)))
    # migration: max|X/s| and max|W*s| meet at the same value per channel (alpha 0.5)
    assert np.allclose(amax / s, np.max(np.abs(w * s), axis=0))


@pytest.mark.parametrize("fmt,key,group,bpe", [("int4", "per_channel", 32, 5.0), ("int2", "per_channel", 32, 3.0),
                                               ("int8", "per_token", 128, 8.25), ("int4", "per_token", None, 4.25)])
def test_kv_formats_storage_and_round_trip(fmt, key, group, bpe):
    kv = F.KVFormat(fmt, key=key, value="per_token", group_size=group)
    cache = np.random.default_rng(6).standard_normal((256, 128))
    q = kv.quantize(cache, "key")
    assert q.bits_per_element() == bpe == kv.bits_per_element("key", 256, 128)
    step = (cache.max() - cache.min()) / ((1 << kv.bits) - 1)
    assert np.max(np.abs(q.to_dense() - cache)) <= step  # half a step per group, at most
    print(f"\nkv {fmt} key {key} group {group}: {bpe} bits/element, SQNR {_sqnr(cache, q.to_dense()):.2f} dB")


@pytest.mark.parametrize("tokens,expected", [(64, 5.0), (50, 4 + 32 * 2 / 50), (16, 6.0), (1, 36.0), (33, 4 + 64 / 33)])
def test_kv_partial_group_stores_its_scale_and_zero_point(tokens, expected):
    # keys grouped per channel along 32 tokens: a cache of a length not a multiple of 32 stores ceil(L / 32) groups
    # per channel (was charged 5 bits at any length: 2.7% low at 50 tokens, 7x at one)
    kv = F.KVFormat("int4", key="per_channel", value="per_token", group_size=32)
    assert kv.bits_per_element("key", tokens, 128) == pytest.approx(expected)
    assert kv.bits_per_element("value", tokens, 128) == 4 + 32 * 4 / 128  # 128 channels: four whole groups
    assert kv.bits_per_element("value", tokens, 100) == pytest.approx(4 + 32 * 4 / 100)  # three and a part


def test_kv_fp8():
    kv = F.KVFormat("fp8-e4m3")
    cache = np.random.default_rng(7).standard_normal((64, 128))
    q = kv.quantize(cache)
    assert q.storage_bits().total == 8 * cache.size + 32
    assert kv.bits_per_element() == 8.0


# --- recipes ------------------------------------------------------------------------------------
BUNDLED = {  # recipe: bits per weight of the tiny model's fc2 (N 512 x K 256; per-tensor terms aside)
    "w4a16-g128": 4.15625, "w4a16-g32": 4.625, "w8a16": 8 + 16 / 256, "w8a8-int8": 8 + 32 / 256,
    "fp8-e4m3": 8.0, "fp8-block128": 8 + 32 / (128 * 128), "mxfp4": 4.25, "nvfp4": 4.5, "2of4-w4a16": 3.125,
}


@pytest.fixture(scope="module")
def tiny():
    g = graph_from_dict({"name": "tiny-mlp", "inputs": {"x": [4, 512]}, "layers": [
        {"name": "fc1", "op": "linear", "out_features": 256, "bias": False},
        {"name": "fc2", "op": "linear", "out_features": 512, "bias": False},
        {"name": "fc3", "op": "linear", "out_features": 256, "bias": False}]})
    from accelsim.workload.weights import sample_graph_activations, synthesize_weights

    return sample_graph_activations(synthesize_weights(g, seed=0), seed=0)


def test_bundled_recipes_exist_and_cite():
    names = set(recipe_names())
    assert set(BUNDLED) | {"kv-int4", "w4a16"} <= names
    for name in list(BUNDLED) + ["kv-int4"]:
        r = load_recipe(name)
        assert r.source and r.description, name


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_recipe_compresses_with_exact_storage(tiny, name):
    cg = compress(tiny, name)
    cl = cg["fc2"]  # 512 x 256 (N x K)
    v = cl.view
    n, k = v.shape
    per_tensor = 32 if name in ("fp8-e4m3", "nvfp4") else 0  # one fp32 scale per tensor
    assert (n, k) == (512, 256)
    assert v.stored_bits == BUNDLED[name] * n * k + per_tensor
    assert v.element_format and v.scale_format and v.group_size
    assert v.value_bits == cl.weight_bits
    assert cl.stats["bits_per_element"] == v.bits_per_element
    assert cl.quant_ops
    print(f"\n{name}: fc2 {v.element_format} scale {v.scale_format}/{v.group_size} "
          f"{v.bits_per_element:.6f} bits/weight, weight SQNR {cl.stats['quant_sqnr_db']:.2f} dB, "
          f"ops {[f'{o.kind}:{o.tensor}' for o in cl.quant_ops]}")


def test_w8a8_smoothing_and_quant_ops(tiny):
    cg = compress(tiny, "w8a8-int8")
    cl = cg["fc1"]
    assert any(t.startswith("smooth(alpha=0.5, sample") for t in cl.transforms)
    # the effective matrix is in the original basis: dequantized smoothed weights / s
    w = tiny.weight_matrix("fc1")
    assert _sqnr(w, cl.weight_matrix) > 35
    sample = tiny.activation_samples["fc1"].reshape(-1, 512)
    s = F.smoothing_factors(np.max(np.abs(sample), axis=0), w, 0.5)
    stored = cl.weight.to_dense()
    assert np.allclose(stored / s, cl.weight_matrix, rtol=1e-6, atol=1e-7)
    kinds = [(o.kind, o.tensor) for o in cl.quant_ops]
    assert kinds == [("quantize", "input"), ("dequantize", "output")]  # dynamic: no requantize fusion
    assert cl.quant_ops[0].scales == 4 and cl.quant_ops[0].dynamic  # one scale per token
    assert cl.quant_ops[0].elements == 4 * 512 and cl.quant_ops[0].elements_at(8) == 8 * 4 * 512
    assert cl.quant_ops[1].elements == 4 * 256 and cl.quant_ops[1].scales == 256 + 4  # weight + token scales
    w_only = compress(tiny, "w4a16-g128")["fc1"].quant_ops
    assert len(w_only) == 1 and w_only[0].elements_at(8) == w_only[0].elements == 256 * 512


def test_static_int8_chain_fuses_requantize(tiny):
    recipe = {"name": "w8a8-static", "pipeline": [{"quantize": {"bits": 8, "per_channel": True, "scale_format": "fp32"}},
                                                  {"activations": {"bits": 8, "granularity": "per_tensor"}}]}
    cg = compress(tiny, recipe)
    assert [(o.kind, o.tensor) for o in cg["fc1"].quant_ops] == [("quantize", "input"), ("requantize", "output")]
    assert [(o.kind, o.tensor) for o in cg["fc2"].quant_ops] == [("requantize", "output")]
    assert [(o.kind, o.tensor) for o in cg["fc3"].quant_ops] == [("dequantize", "output")]


TINY_DECODER = {
    "name": "tiny-decoder", "inputs": {"x": [1, 64], "k_cache": [2, 32, 16], "v_cache": [2, 16, 32]},
    "layers": [{"name": "q", "op": "linear", "inputs": ["x"], "out_features": 64, "bias": False},
               {"name": "q_heads", "op": "reshape", "shape": [1, 2, 32]},
               {"name": "q_t", "op": "transpose", "perm": [1, 0, 2]},
               {"name": "scores", "op": "matmul", "inputs": ["q_t", "k_cache"]},
               {"name": "softmax", "op": "softmax"},
               {"name": "context", "op": "matmul", "inputs": ["softmax", "v_cache"]}],
}


def test_kv_recipe_records_the_format():
    cg = compress(graph_from_dict(TINY_DECODER, "tiny-decoder.yaml"), "kv-int4")
    assert cg.kv_format == F.KVFormat("int4", "per_channel", "per_token", 32, 16, 16)
    assert cg.kv_format.bits_per_element("key") == 5.0
    assert cg.recipe["kv"]["format"] == "int4"
    assert all(cl.view.element_format is None for cl in cg if cl.layer.has_weights)  # weights untouched


def test_old_w4a16_unchanged_and_exposes_its_scales(tiny):
    cl = compress(tiny, "w4a16")["fc2"]
    v = cl.view
    assert (v.scale_format, v.scale_bits, v.group_size, v.element_format) == ("fp32", 32, 256, "int4")
    assert v.stored_bits == 512 * 256 * 4 + 512 * 32  # 32-bit per-channel scales (the original accounting)
    assert cl.transforms == ("quantize:int4-sym-per-channel", "activations:int16", "encode:lowbit")


def test_2of4_w4a16_view_exposes_nm_and_scales(tiny):
    v = compress(tiny, "2of4-w4a16")["fc2"].view
    assert v.layout == "nm" and v.nm == (2, 4) and v.value_bits == 4
    assert (v.element_format, v.scale_format, v.group_size) == ("int4", "fp16", 128)
    assert v.bits.metadata == 512 * 256 // 2 * 2 + 512 * 2 * 16  # selectors + fp16 scales


@pytest.mark.parametrize("quant,elem,meta_per_row", [
    ({"format": "mxfp4"}, "e2m1", 256 // 32 * 8), ({"format": "nvfp4"}, "e2m1", 256 // 16 * 8),
    ({"format": "fp8-e4m3", "per_channel": True}, "e4m3", 32), ({"bits": 4, "symmetric": False, "group_size": 64}, "uint4", 4 * 20),
])
def test_nm_composes_with_every_format(tiny, quant, elem, meta_per_row):
    recipe = {"name": "nm-any", "pipeline": [{"prune": {"method": "nm", "n": 2, "m": 4}}, {"quantize": quant},
                                             {"encode": {"format": "nm"}}]}
    cl = compress(tiny, recipe)["fc2"]  # 512 x 256
    v = cl.view
    bits = F.element_format(elem).bits
    tensor_scale = 32 if quant.get("format") == "nvfp4" else 0
    assert v.layout == "nm" and v.element_format == elem and v.value_bits == bits
    assert v.bits.payload == 512 * 256 // 2 * bits
    assert v.bits.metadata == 512 * 256 // 2 * 2 + 512 * meta_per_row + tensor_scale  # selectors + scales (+ zp)
    w = cl.weight_matrix.reshape(512, 64, 4)
    assert np.all(np.count_nonzero(w, axis=2) <= 2)  # pruned entries stay exact zeros


def test_sparse_csr_with_group_int4_and_packing(tiny):
    recipe = {"name": "csr-int4", "pipeline": [{"prune": {"method": "magnitude", "density": 0.5}},
                                               {"quantize": {"bits": 4, "group_size": 128}}, {"encode": {"format": "csr"}}]}
    cl = compress(tiny, recipe)["fc2"]
    v = cl.view
    assert v.layout == "csr" and v.element_format == "int4" and v.group_size == 128
    assert v.bits.metadata == 512 * 2 * 16  # fp16 scale per 128 of the dense K = 256
    q = F.quantize_int(_weights(16, 256), 4, 128, symmetric=False)
    words, n_bits = q.packed()["payload"]
    assert n_bits == q.storage_bits().payload and words.size == -(-n_bits // 64)
    f = F.quantize_mx(_weights(16, 256), "mxfp4")
    assert f.packed()["payload"][1] == f.storage_bits().payload


# --- bad input ----------------------------------------------------------------------------------
def test_a_group_not_dividing_k_ends_each_row_in_a_partial_group(tiny, tmp_path):
    """K = 512 in groups of 100: five whole groups and one of 12 per row, ceil(512 / 100) = 6 scales per row (as
    GPTQ stores ceil(in_features / group_size) groups); the elements are stored once, no padding. A group size
    that did not divide K was refused, so the bundled w4a16-g128 / mxfp4 / nvfp4 recipes failed on any CNN."""
    p = tmp_path / "g100.yaml"
    p.write_text("name: g100\npipeline: [{quantize: {bits: 4, group_size: 100}}]\n")
    cl = compress(tiny, str(p))["fc1"]
    n, k = 256, 512
    assert cl.weight.scales.shape == (n, 6)
    assert cl.weight.storage_bits().total == n * k * 4 + n * 6 * 16  # int4 codes, one fp16 scale per group


@pytest.mark.parametrize("quantizer, block", [(lambda x: F.quantize_mx(x, "mxfp4"), 32),
                                              (lambda x: F.quantize_nvfp4(x), 16),
                                              (lambda x: F.quantize_int(x, 4, 32, symmetric=False), 32)])
def test_a_partial_last_block_is_the_block_padded_with_zeros(quantizer, block):
    """The partial block of a row quantizes as that block padded with zeros would (its amax, its scale), and
    only its real elements are stored."""
    x = _weights(6, 100)
    whole = quantizer(np.pad(x, ((0, 0), (0, 128 - 100))))
    part = quantizer(x)
    assert part.codes.shape == (6, 100) and part.scales.shape == (6, -(-100 // block))
    np.testing.assert_array_equal(part.codes, whole.codes[:, :100])
    np.testing.assert_array_equal(part.scales, whole.scales[:, :part.scales.shape[1]])
    assert part.storage_bits().payload == 6 * 100 * part.spec.value_bits


@pytest.mark.parametrize("step,field", [
    ({"quantize": {"format": "mxfp4", "group_size": 16}}, "pipeline[0].quantize.group_size"),
    ({"quantize": {"format": "fp8-e4m3", "scale_format": "e8m0", "group_size": 64}}, "pipeline[0].quantize.scale_format"),
    ({"quantize": {"format": "nvfp4", "scale_format": "e8m0"}}, "pipeline[0].quantize.scale_format"),
    ({"quantize": {"format": "fp8-e4m3", "bits": 4}}, "pipeline[0].quantize.bits"),
    ({"quantize": {"bits": 4, "group_size": 128, "zero_point_bits": 4}}, "pipeline[0].quantize.zero_point_bits"),
    ({"activations": {"bits": 4, "format": "e4m3"}}, "pipeline[0].activations.bits"),
])
def test_bad_format_fields_are_config_errors(step, field):
    with pytest.raises(ConfigError) as exc:
        load_recipe({"name": "bad", "pipeline": [step]})
    assert field in str(exc.value) and "\n" not in str(exc.value)


def test_bad_kv_section():
    with pytest.raises(ConfigError, match=r"kv\.format must be one of"):
        load_recipe({"name": "bad", "pipeline": [], "kv": {"format": "int3"}})


def test_e8m0_non_32_block_in_the_api():
    with pytest.raises(CompressionError, match="blocks of 32"):
        F.quantize_mx(_weights(4, 64), "mxfp4", block=16)
    with pytest.raises(CompressionError, match="blocks of 32"):
        F.quantize_float(_weights(4, 64), "e4m3", (1, 16), "e8m0")
    assert issubclass(CompressionError, AccelsimError)


def test_cli_bad_format_exits_2_with_one_line(run_cli, tmp_path):
    p = tmp_path / "mx16.yaml"
    p.write_text("name: mx16\npipeline: [{quantize: {format: mxfp4, group_size: 16}}]\n")
    code, _, err = run_cli("compress", "--workload", "lenet-300-100", "--recipe", str(p))
    assert code == 2 and err.count("\n") == 1 and "mx16.yaml: pipeline[0].quantize.group_size" in err
    p.write_text("name: g0\npipeline: [{quantize: {bits: 4, group_size: 0}}]\n")
    code, _, err = run_cli("compress", "--workload", "lenet-300-100", "--recipe", str(p))
    assert code == 2 and err.count("\n") == 1 and "mx16.yaml: pipeline[0].quantize.group_size must be an int in [1" in err


def test_kv_format_without_a_cache_is_one_line_error_and_zoo_cache_inputs_count():
    """A KV format on a workload with no KV cache (a CNN, an encoder, a zoo YAML) is refused in one line
    naming the workload; the zoo's decode block (graph inputs ``k_cache`` / ``v_cache``) takes it."""
    from accelsim.workload.zoo import load_workload

    for name in ("lenet5", "bert-base"):
        with pytest.raises(ConfigError, match=rf"kv-int4.yaml: kv format int4 applies to a KV cache; workload '{name}' has none"):
            compress(load_workload(name), "kv-int4")
    cg = compress(load_workload("llama2-7b-decoder"), "kv-int4")
    scores, context = cg["scores"].layer, cg["context"].layer
    # 4-bit keys per channel over the 2048 tokens, values per token over head_dim 128, group 32: 4 + 32 / 32 = 5
    assert scores.kv_bits == pytest.approx(5.0) and context.kv_bits == pytest.approx(5.0)


def test_layers_a_recipe_leaves_at_the_source_width_are_stored_at_the_hardware_width():
    """A recipe with no weight step (activations and KV only) keeps every weight as the dense baseline does
    (native width), and a pruned layer stored dense keeps native-width zeros, not 32-bit floats."""
    from accelsim.simulate import simulate

    only_acts = {"name": "acts", "pipeline": [{"activations": {"bits": 8}}]}
    r = simulate("edge-32x32", "lenet5", recipe=only_acts)
    assert r.total["weight_storage_bits"] == r.dense.total["weight_storage_bits"] == 8 * 430_500
    pruned = {"name": "pruned-dense", "pipeline": [{"prune": {"method": "magnitude", "density": 0.5}},
                                                   {"encode": {"format": "dense"}}]}
    r = simulate("edge-32x32", "lenet5", recipe=pruned)
    assert r.total["weight_storage_bits"] == r.dense.total["weight_storage_bits"]
    assert simulate("a100-80gb", "lenet5", recipe=only_acts).total["weight_storage_bits"] == 16 * 430_500


@pytest.mark.parametrize("kind", ["int4-sym-g32", "int4-asym-g32-zp", "int4-act-order", "fp8-block", "fp8-tensor"])
def test_nm_of_group_codes_decodes_to_the_quantized_matrix(kind):
    """An N:M tensor holding a GroupQuant's kept codes with its decoder (no dense codes) gives the quantizer's
    values at the kept positions, whole or by rows, in the decoder's type; its fillers decode to zero."""
    from accelsim.compress.prune import nm_mask
    from accelsim.compress.tensors import NM, Scattered

    rng = np.random.default_rng(3)
    k = 128
    x = rng.standard_normal((48, k)).astype(np.float32)
    mask = nm_mask(np.abs(x), 2, 4)
    pruned = np.where(mask, x, 0)
    if kind == "int4-sym-g32":
        q = F.quantize_int(pruned, 4, 32, symmetric=True)
    elif kind == "int4-asym-g32-zp":
        q = F.quantize_int(pruned, 4, 32, symmetric=False, zero_point_bits=4)
    elif kind == "int4-act-order":
        q = F.quantize_int(pruned, 4, 32, order=rng.permutation(k))
    elif kind == "fp8-block":
        q = F.quantize_float(pruned, "e4m3", (16, 32))
    else:
        q = F.quantize_float(pruned, "e4m3", pruned.shape)
    q = q.with_mask(mask)
    expect = np.where(mask, q.to_dense(), 0).astype(np.float32)
    t = NM(Scattered(mask, q.codes[mask]), 2, 4, value_bits=q.spec.value_bits, decode=q.decoder(np.float32))
    assert t.values.dtype == q.codes.dtype and np.array_equal(t.to_dense(), expect)
    assert np.array_equal(t.dense_rows(5, 21), expect[5:21]) and t.nnz == np.count_nonzero(expect)
    r, c, v = t.entries()
    assert np.array_equal(expect[r, c], v)
    # a tensor with fillers (a group keeping fewer than N): they hold the code of zero at their position
    sparse = mask.copy()
    sparse[:, 0::4] = False
    t2 = NM(Scattered(sparse, q.codes[sparse]), 2, 4, value_bits=q.spec.value_bits, decode=q.decoder(np.float32))
    assert t2.is_padding.any() and np.array_equal(t2.to_dense(), np.where(sparse, expect, 0))
    fill = t2.is_padding.reshape(t2.values.shape)
    rows, cols = t2._positions(0, 48)
    assert np.array_equal(q.decoder(np.float32).values(t2.values[fill], rows[fill], cols[fill]), np.zeros(int(fill.sum()), np.float32))
    tall = np.vstack([mask, mask])  # scales of a 48-row matrix do not decode a 96-row one
    with pytest.raises(CompressionError, match="do not fit"):
        NM(Scattered(tall, np.vstack([q.codes, q.codes])[tall]), 2, 4, decode=q.decoder(np.float32))


def test_with_mask_sets_the_zero_code_in_the_codes_type():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((20, 64))
    mask = rng.random((20, 64)) < 0.5
    for q in (F.quantize_int(x, 4, 32, symmetric=False, zero_point_bits=4), F.quantize_int(x, 8, 64),
              F.quantize_float(x, "e4m3", (1, 64))):
        m = q.with_mask(mask)
        assert m.codes.dtype == q.codes.dtype
        assert np.array_equal(m.codes, np.where(mask, q.codes, q.zero_codes()))


def test_a_scale_past_its_format_is_refused_not_saturated():
    """A held-out round (2026-12-05) found fp16 scales clamped at 65,504 without a word: 1e7 in 4-bit groups
    decoded as 458,528. Refused in one line naming the format; fp32 scales store it."""
    x = np.full((1, 32), 1e7)
    with pytest.raises(CompressionError, match=r"exceeds the largest fp16 value \(65504\)"):
        F.quantize_int(x, 4, 32, True, "fp16")
    np.testing.assert_allclose(F.quantize_int(x, 4, 32, True, "fp32").to_dense(), x, rtol=1e-6)


def test_nvfp4_tensor_scale_at_the_ends_of_fp32():
    """``amax / 2688`` below fp32's range is its smallest positive value (weights of 1e-43 were refused as NaN);
    above it (float64 weights) a one-line error, not NaN values."""
    x = np.full((2, 16), 1e-43, np.float32)
    x[0, 0] = -1e-43
    q = F.quantize_nvfp4(x)
    assert q.tensor_scale == math.ldexp(1.0, -149)
    assert np.allclose(q.to_dense(), x, rtol=0.1, atol=0) and np.isfinite(q.to_dense()).all()
    with pytest.raises(F.CompressionError, match="nvfp4: the per-tensor scale .* exceeds the largest fp32 value"):
        F.quantize_nvfp4(np.full((1, 16), 1e300))
