"""The GPU SIMD model: pick the kernel a GPU library would run for each (compressed) layer, cost it
with :mod:`accelsim.hw.gpu.kernel_models`, price its actions. Equations: ``docs/models/gpu.md``.

Kernel choice (docs "Kernel choice"):

* a weighted layer whose compressed tensor is CSR / CSC (or a codebook over one) runs the
  cuSPARSE-style CSR kernel (csrmv at one column, csrmm otherwise) on the REAL pattern;
* a 2:4 (``nm``) layer runs on sparse tensor cores when the device has them and the pattern is
  2:4-compatible (else ``SimulationError: pattern is not 2:4``);
* weights narrower than the activations (W4A16, codebooks) run a dequantizing GEMV / GEMM;
* everything else is dense: GEMV at one output row, cuDNN-style algorithm choice for convolutions,
  a streaming kernel for depthwise convolutions and element-wise / pooling layers.
"""

from __future__ import annotations

import math

import numpy as np

from accelsim.energy.actions import ActionCounts
from accelsim.errors import SimulationError
from accelsim.hw.gpu import kernel_models as km
from accelsim.hw.gpu.config import DTYPE_BYTES, GpuConfig
from accelsim.report.results import LayerResult
from accelsim.workload import layers as L

_VIEW_OPS = (L.Flatten, L.Reshape, L.Identity)
_COPY_OPS = (L.Concat, L.Slice, L.ChannelShuffle, L.Transpose)
_WEIGHT_ONLY_GROUP = 128
#: compressed-sparse formats a GPU runs with the CSR kernel (row-interleaved CSC is EIE's CSC)
_SPARSE_FORMATS = ("CSR", "CSC", "InterleavedCSC")  # one fp16 scale per 128 weights (GPTQ / AWQ style W4A16)


def _bits_dtype(cfg: GpuConfig, bits: int | None) -> str:
    """The device data type that executes values of ``bits`` bits (None = native)."""
    if bits is None:
        return cfg.native_dtype
    supported = cfg.supported_dtypes
    if bits <= 4 and "int4" in supported:
        return "int4"
    if bits <= 8:
        for d in ("int8", "fp8"):
            if d in supported:
                return d
    if bits <= 16:
        if DTYPE_BYTES[cfg.native_dtype] == 2:
            return cfg.native_dtype
        for d in ("fp16", "bf16"):
            if d in supported:
                return d
    return "fp32"


def is_24_compatible(matrix: np.ndarray) -> bool:
    """Every group of 4 consecutive weights along K holds at most 2 non-zeros (K padded to 4)."""
    rows, k = matrix.shape
    pad = (-k) % 4
    nz = matrix != 0
    if pad:
        nz = np.concatenate([nz, np.zeros((rows, pad), bool)], axis=1)
    return bool((nz.reshape(rows, -1, 4).sum(axis=2) <= 2).all())


def _nnz(matrix) -> int:
    import scipy.sparse as sp

    if sp.issparse(matrix):
        return int(sp.csr_matrix(matrix).count_nonzero())
    return int(np.count_nonzero(matrix))


def _pattern(weight):
    """The sparsity pattern of a CSR / CSC tensor when no dense weight matrix is attached."""
    import scipy.sparse as sp

    if sp.issparse(weight):
        return weight
    inner = getattr(weight, "indices", None) if type(weight).__name__ == "Codebook" else weight
    to_scipy = getattr(inner, "to_scipy", None)
    return to_scipy() if callable(to_scipy) else None


def _csr_format(weight) -> tuple[str, int, int, bool] | None:
    """(name, value_bits, index_bits, codebook) when ``weight`` is a CSR / CSC tensor (or a codebook
    over one; or a SciPy CSR / CSC matrix, cuSPARSE's own layout), else None."""
    if weight is None:
        return None
    import scipy.sparse as sp

    if sp.issparse(weight) and weight.format in ("csr", "csc"):
        return weight.format.upper(), 8 * weight.dtype.itemsize, 8 * weight.indices.dtype.itemsize, False
    name = type(weight).__name__
    inner = getattr(weight, "indices", None) if name == "Codebook" else None
    if inner is not None and type(inner).__name__ in _SPARSE_FORMATS:
        return type(inner).__name__, int(weight.index_bits), int(getattr(inner, "index_bits", 32) or 32), True
    if name in _SPARSE_FORMATS:
        return name, int(getattr(weight, "value_bits", 32) or 32), int(getattr(weight, "index_bits", 32) or 32), False
    return None


class GpuModel:
    """Stateless: ``simulate(layer, batch)`` -> LayerResult."""

    def __init__(self, config: GpuConfig):
        self.config = config
        self.ert = self._build_ert()

    # ---- energy reference table (docs "Energy") ----------------------------------------------------
    def _build_ert(self) -> dict:
        e = self.config.energy
        ert: dict = {}
        for d in self.config.supported_dtypes:
            unit = "tensor" if d in self.config.tensor_flops_per_clk_per_sm else "simt"
            table = e.tensor_flop_pj if unit == "tensor" else e.simt_flop_pj
            ert[(unit, "flop", d)] = (float(table.get(d, 0.0)), "compute")
        for d, v in e.simt_flop_pj.items():
            ert[("simt", "flop", d)] = (float(v), "compute")
        ert[("simt", "op", "int")] = (e.simt_op_pj, "compute")
        ert[("register_file", "read", "byte")] = (e.register_pj_per_byte, "register")
        ert[("smem", "access", "byte")] = (e.smem_pj_per_byte, "sram")
        ert[("l2", "access", "byte")] = (e.l2_pj_per_byte, "sram")
        ert[("dram", "read", "bit")] = (e.dram_pj_per_bit, "dram")
        ert[("dram", "write", "bit")] = (e.dram_pj_per_bit, "dram")
        return ert

    def _price(self, counts: ActionCounts, seconds: float):
        try:
            from accelsim.energy.estimate import estimate
        except ImportError:  # pragma: no cover - the energy core is part of the package
            estimate = None
        if estimate is not None:
            br = estimate(counts, self.ert, static_power_w=self.config.idle_w, seconds=seconds)
            return br.total_j, dict(br.by_category)
        by_cat: dict[str, float] = {}
        for key, n in counts.items():
            pj, cat = self.ert[key]
            by_cat[cat] = by_cat.get(cat, 0.0) + n * pj * 1e-12
        by_cat["static"] = self.config.idle_w * seconds
        return sum(by_cat.values()), by_cat

    # ---- dispatch ------------------------------------------------------------------------------
    def dtype_for(self, cl) -> str:
        cfg = self.config
        if cfg.dtype != "auto":
            return cfg.dtype
        return _bits_dtype(cfg, cl.activation_bits)

    def kernel_for(self, cl, batch: int) -> tuple[km.KernelEstimate, dict]:
        """The kernel estimate for one layer and the extra facts to report."""
        cfg = self.config
        layer = cl.layer
        dtype = self.dtype_for(cl)
        cfg.math_rate(dtype)  # raises for a data type the device cannot execute
        eb = DTYPE_BYTES[dtype]
        info: dict = {"dtype": dtype}
        if isinstance(layer, _VIEW_OPS):
            return km.view(f"{layer.op}_view"), info
        if isinstance(layer, L.Embedding):
            n = float(np.prod(layer.output_shape)) * batch * eb
            return km.stream(cfg, n, n, dtype=dtype, name="embedding_gather"), info
        if isinstance(layer, _COPY_OPS):
            n = float(np.prod(layer.output_shape)) * batch * eb
            return km.stream(cfg, n, n, dtype=dtype, name=f"{layer.op}_copy"), info
        g = layer.gemm(batch)
        if cfg.fuse_pointwise and isinstance(layer, (L.BatchNorm, L.Activation)):
            info["fused"] = "into the producer's epilogue"
            return km.view(f"{layer.op}_fused"), info
        if cfg.fuse_pointwise and isinstance(layer, L.Eltwise):
            info["fused"] = "into the producer's epilogue (reads the other operands)"
            other = float(layer.input_elements - layer.output_elements) * batch * eb
            return km.epilogue(cfg, other, float(layer.elementwise_ops) * batch, dtype, f"{layer.op}_fused"), info
        if g is None:  # element-wise, pooling, normalisation
            read = float(layer.input_elements) * batch * eb
            write = float(layer.output_elements) * batch * eb
            ops = float(layer.elementwise_ops) * batch
            return km.stream(cfg, read, write, simt_ops=ops, dtype=dtype, name=f"{layer.op}_kernel"), info
        if not layer.has_weights:  # batched activation x activation matmul (attention)
            return km.gemm(cfg, g.m, g.n, g.k, g.groups, dtype, name="batched_gemm"), info
        return self._weighted(cl, batch, dtype, g, info)

    def _weighted(self, cl, batch, dtype, g, info):
        cfg = self.config
        layer = cl.layer
        W = cl.weight_matrix
        eb = DTYPE_BYTES[dtype]
        fmt = _csr_format(cl.weight)
        if cl.nm is not None:
            n_keep, m_group = cl.nm
            unit = cfg.math_rate(dtype)[1]
            if cfg.sparse_tensor_cores and unit == "tensor":
                compatible = is_24_compatible(W.toarray() if hasattr(W, "toarray") else W) if W is not None \
                    else m_group in (2, 4) and n_keep * 2 <= m_group
                if not compatible:
                    raise SimulationError(
                        f"layer '{layer.name}': weight pattern is not 2:4 (recipe N:M = {n_keep}:{m_group}); "
                        f"sparse tensor cores need at most 2 non-zeros in every 4 weights along K")
                info["sparsity"] = "2:4 sparse tensor cores"
                if isinstance(layer, L.Conv2d) and not layer.is_depthwise:
                    return km.conv_implicit_gemm(cfg, layer, batch, dtype, sparse24=True), info
                return km.gemm(cfg, g.m, g.n, g.k, g.groups, dtype, sparse24=True, name="gemm"), info
            info["sparsity"] = f"{n_keep}:{m_group} pattern run dense (no sparse tensor cores for {dtype} on this device)"
        pattern = W if W is not None else _pattern(cl.weight) if fmt is not None else None
        if fmt is not None and pattern is not None and _nnz(pattern) < pattern.shape[0] * pattern.shape[1]:
            name, vbits, ibits, codebook = fmt
            info["sparse_format"] = f"{name} ({vbits}-bit values, {ibits}-bit indices{', codebook' if codebook else ''})"
            est = km.csr_spmm(cfg, pattern, batch=g.m, dtype=dtype, value_bytes=max(vbits, 8) / 8.0 if not codebook else vbits / 8.0,
                              index_bytes=ibits / 8.0, extra_simt_ops_per_nz=1.0 if codebook else 0.0)
            info.update(threads_per_row=est.detail["threads_per_row"], sm_imbalance=est.detail["sm_imbalance"])
            return est, info
        wbits = cl.weight_bits
        if cl.codebook_size:
            wbits = max(1, math.ceil(math.log2(max(2, cl.codebook_size))))
        low_bit_w = wbits is not None and wbits < 8.0 * eb  # weights narrower than the math type
        if low_bit_w:
            scale_b = 2.0 / _WEIGHT_ONLY_GROUP
            w_b = wbits / 8.0 + scale_b
            ops = 1.0 if cl.codebook_size else 2.0  # lookup vs unpack + scale
            info["weights"] = f"{wbits}-bit {'codebook' if cl.codebook_size else 'weight-only'} (dequantized on the fly)"
            if g.m <= 8 and g.groups == 1:
                return km.gemv(cfg, g.n, g.k, dtype, w_bytes=w_b, batch=g.m, extra_simt_ops_per_w=ops,
                               name="gemv_dequant"), info
            return km.gemm(cfg, g.m, g.n, g.k, g.groups, dtype, b_bytes=w_b, extra_simt_ops_per_b=ops,
                           name="gemm_dequant"), info
        if isinstance(layer, L.Conv2d):
            if layer.groups > 1 and g.k <= 9 * 4:  # depthwise / few channels per group: no GEMM reuse
                return km.depthwise(cfg, layer, batch, dtype), info
            est, options = km.conv_dense(cfg, layer, batch, dtype)
            info["conv_algo"] = est.kernel
            info["conv_algo_times_us"] = {k: round(v * 1e6, 3) for k, v in options.items()}
            return est, info
        if g.m == 1 and g.groups == 1:
            return km.gemv(cfg, g.n, g.k, dtype, name="gemv"), info
        return km.gemm(cfg, g.m, g.n, g.k, g.groups, dtype, name="gemm"), info

    # ---- the contract -------------------------------------------------------------------------------
    def simulate(self, layer, batch: int = 1) -> LayerResult:
        cfg = self.config
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise SimulationError(f"batch must be an int >= 1; got {batch!r}")
        lay = layer.layer
        est, info = self.kernel_for(layer, batch)
        counts = self._actions(est)
        seconds = est.time_s
        total_j, by_cat = self._price(counts, seconds)
        dynamic_j = total_j - cfg.idle_w * seconds
        capped = False
        if seconds > 0 and cfg.idle_w + dynamic_j / seconds > cfg.tdp_w:
            seconds = dynamic_j / (cfg.tdp_w - cfg.idle_w)  # DVFS holds power at TDP: the clock drops
            total_j, by_cat = self._price(counts, seconds)
            capped = True
        clk = cfg.clock_hz
        cycles = int(round(seconds * clk))
        compute_cycles = min(cycles, int(round(est.compute_s * clk)))
        useful_flops = 2.0 * lay.macs * batch
        peak = cfg.peak_flops(info["dtype"])
        extra = {
            "bound": "compute" if capped and est.bound == "compute" else est.bound,
            "kernel": est.kernel,
            "waves": round(est.waves, 4),
            "tiles": est.tiles,
            **{k: v for k, v in info.items()},
            "compute_us": est.compute_s * 1e6,
            "memory_us": est.memory_s * 1e6,
            "latency_us": (est.latency_s + est.launch_s) * 1e6,
            "power_w": (total_j / seconds) if seconds > 0 else 0.0,
            "power_capped": capped,
            "achieved_tflops": useful_flops / seconds / 1e12 if seconds > 0 else 0.0,
            "arithmetic_intensity": useful_flops / max(1.0, est.dram_read_bytes + est.dram_write_bytes),
        }
        if "tile" in est.detail:
            extra["tile"] = est.detail["tile"]
        return LayerResult(
            name=lay.name, op=lay.op, macs=int(lay.macs * batch), effective_macs=int(layer.effective_macs * batch),
            cycles=cycles, compute_cycles=compute_cycles, stall_cycles=cycles - compute_cycles, latency_s=seconds,
            energy_j=total_j, energy_breakdown_j=by_cat,
            sram_reads={"l2_sectors": int(est.l2_bytes / cfg.sector_bytes), "smem_words": int(est.smem_bytes / 4),
                        "register_words": int(est.register_bytes / 4)},
            sram_writes={},
            dram_read_bytes=int(est.dram_read_bytes), dram_write_bytes=int(est.dram_write_bytes),
            utilization=min(1.0, useful_flops / (peak * seconds)) if seconds > 0 and peak > 0 else 0.0,
            weight_storage_bits=int(layer.weight_storage_bits(int(8 * DTYPE_BYTES[cfg.native_dtype]))),
            extra=extra, actions=counts,
        )

    def _actions(self, est: km.KernelEstimate) -> ActionCounts:
        c: dict = {}
        for (unit, dt), f in est.flops.items():
            c[(unit, "flop", dt)] = c.get((unit, "flop", dt), 0.0) + f
        c[("simt", "op", "int")] = est.simt_ops
        c[("register_file", "read", "byte")] = est.register_bytes
        c[("smem", "access", "byte")] = est.smem_bytes
        c[("l2", "access", "byte")] = est.l2_bytes
        c[("dram", "read", "bit")] = 8.0 * est.dram_read_bytes
        c[("dram", "write", "bit")] = 8.0 * est.dram_write_bytes
        return ActionCounts(c)
