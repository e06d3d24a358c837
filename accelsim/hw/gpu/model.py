"""The GPU SIMD model: pick the kernel a GPU library would run for each (compressed) layer, cost it
with :mod:`accelsim.hw.gpu.kernel_models`, price its actions. Equations: ``docs/models/gpu.md``.

``GpuModel`` is the ``gpu`` family's :class:`~accelsim.hw.base.HardwareModel`. It times kernels in
seconds: :meth:`GpuModel.count` gives the kernel estimate's time as ``latency_s`` and the shared
:meth:`~accelsim.hw.base.HardwareModel.simulate` prices the actions and holds power at the TDP
(:attr:`GpuModel.power_limit_w`: DVFS lowers the clock, ``t' = E_dynamic / (tdp_w - idle_w)``).

Kernel choice (docs "Kernel choice"), reading the weights through ``layer.view``:

* a weighted layer whose weights are stored CSR / CSC / row-interleaved CSC (or a codebook over
  one, or a SciPy CSR / CSC matrix) and are not Huffman coded runs the cuSPARSE-style CSR kernel
  (csrmv at one column, csrmm otherwise) on the REAL pattern;
* a 2:4 (``nm``) layer runs on sparse tensor cores when the device has them and the pattern is
  2:4-compatible (else ``SimulationError: pattern is not 2:4``);
* weights narrower than the activations (W4A16, codebooks) run a dequantizing GEMV / GEMM;
* everything else is dense: GEMV at one output row, cuDNN-style algorithm choice for convolutions,
  a streaming kernel for depthwise convolutions and element-wise / pooling layers.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from accelsim.energy.actions import ActionCounts
from accelsim.energy.estimate import AreaBreakdown, EnergyBreakdown, estimate_area
from accelsim.errors import SimulationError
from accelsim.hw.base import HardwareModel, LayerCounts, Roof
from accelsim.hw.blocks import DramChannel
from accelsim.hw.gpu import kernel_models as km
from accelsim.hw.gpu.config import DTYPE_BYTES, GpuConfig
from accelsim.workload import layers as L

_VIEW_OPS = (L.Flatten, L.Reshape, L.Identity)
_COPY_OPS = (L.Concat, L.Slice, L.ChannelShuffle, L.Transpose)
_WEIGHT_ONLY_GROUP = 128  # one fp16 scale per 128 weights (GPTQ / AWQ style W4A16)
#: how ``extra.sparse_format`` names the compressed-sparse layouts the CSR kernel runs
#: (row-interleaved CSC is EIE's CSC)
_SPARSE_FORMAT_NAMES = {"csr": "CSR", "csc": "CSC", "interleaved_csc": "InterleavedCSC"}
#: SRAM buffers of ``sram_reads`` and their access widths in bits (L2: one sector, see ``l2_word_bits``)
_WORD_BITS = {"smem": 32, "register_file": 32}


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


class GpuModel(HardwareModel):
    """Stateless: ``simulate(layer, batch)`` (the shared one) -> LayerResult; see the module docstring.

    Blocks: the off-chip memory is a :class:`~accelsim.hw.blocks.DramChannel` (``dram_type`` at
    ``dram_gbs``, action keys ``("dram", "read" | "write", "bit")``); the on-chip levels (register
    file, shared memory, L2) are priced per byte moved from the config's ``energy`` table.
    """

    family = "gpu"

    def __init__(self, config: GpuConfig):
        self.dram = DramChannel(config.dram_type, config.dram_bytes_per_s, variant="bit")
        super().__init__(config)

    # ---- the contract: energy, power, peaks (docs "Energy") ------------------------------------------
    def energy_reference_table(self) -> dict:
        """``{(component, action, variant): (pJ, category)}``: FLOPs per unit and data type, integer
        SIMT ops, register / shared-memory / L2 bytes and DRAM bits."""
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
        ert.update(self.dram.energy_entries(e.dram_pj_per_bit))
        return ert

    def static_power(self) -> float:
        """``idle_w``, charged for the whole (possibly power-capped) latency."""
        return self.config.idle_w

    @property
    def power_limit_w(self) -> float:
        """``tdp_w``: the base stretches the latency to hold power there (DVFS)."""
        return self.config.tdp_w

    def area(self) -> AreaBreakdown | None:
        """The die area ``die_area_mm2`` (cited in the config's ``sources``) as one component ``die``;
        None when the config gives none."""
        area = self.config.die_area_mm2
        return None if area is None else estimate_area({"die": float(area)})

    def roof(self) -> Roof:
        """Dense peak MACs/s of every supported data type (``peak_flops / 2``), twice that on 2:4 weights
        for the tensor-core types when the device has sparse tensor cores, and the DRAM bandwidth."""
        cfg = self.config
        sparse = {d: cfg.peak_flops(d) for d in cfg.supported_dtypes
                  if cfg.sparse_tensor_cores and d in cfg.tensor_flops_per_clk_per_sm}  # 2:4: twice the dense MACs
        return Roof(macs_per_s={d: cfg.peak_flops(d) / 2.0 for d in cfg.supported_dtypes},
                    bytes_per_s={"dram": self.dram.bytes_per_s}, native_dtype=cfg.native_dtype,
                    sparse_macs_per_s=sparse, sparse_pattern="2:4" if sparse else "")

    @property
    def l2_word_bits(self) -> int:
        """Access width of the L2 in ``sram_reads`` (one sector)."""
        return int(self.config.sector_bytes) * 8

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
        view = cl.view
        eb = DTYPE_BYTES[dtype]
        if cl.nm is not None:
            n_keep, m_group = cl.nm
            unit = cfg.math_rate(dtype)[1]
            if cfg.sparse_tensor_cores and unit == "tensor":
                W = view.matrix
                compatible = is_24_compatible(W.toarray() if sp.issparse(W) else W) if W is not None \
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
        # compressed-sparse weights with zeros run cuSPARSE on the real pattern; Huffman-coded streams
        # have no GPU library kernel and fall through to the dequantizing / dense paths
        pattern = view.pattern if view.is_sparse_layout and not view.huffman_streams else None
        if pattern is not None and view.nnz < pattern.shape[0] * pattern.shape[1]:
            codebook = view.codebook_size is not None
            vbits = int(view.value_bits or 32)  # a codebook index when ``codebook``
            ibits = int(view.index_bits or 32)
            info["sparse_format"] = (f"{_SPARSE_FORMAT_NAMES[view.layout]} ({vbits}-bit values, {ibits}-bit indices"
                                     f"{', codebook' if codebook else ''})")
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

    # ---- the contract: count and the extras of the final latency ---------------------------------------
    def count(self, layer, batch: int) -> LayerCounts:
        """The chosen kernel's estimate as counts: ``latency_s`` is the kernel time before the power
        cap, ``compute_cycles`` its compute time in clocks; utilization counts the layer's dense MACs
        against ``peak_flops(dtype) / 2``. SRAM reads are per buffer in words of its width: ``l2`` in
        sectors, ``smem`` and ``register_file`` in 4-byte words."""
        cfg = self.config
        lay = layer.layer
        est, info = self.kernel_for(layer, batch)
        useful_flops = 2.0 * lay.macs * batch
        extra = {
            "bound": est.bound,
            "kernel": est.kernel,
            "waves": round(est.waves, 4),
            "tiles": est.tiles,
            **info,
            "compute_us": est.compute_s * 1e6,
            "memory_us": est.memory_s * 1e6,
            "latency_us": (est.latency_s + est.launch_s) * 1e6,
            "power_w": None,  # finish_extra: from the priced energy and the final latency
            "power_capped": None,
            "achieved_tflops": None,
            "arithmetic_intensity": useful_flops / max(1.0, est.dram_read_bytes + est.dram_write_bytes),
        }
        if "tile" in est.detail:
            extra["tile"] = est.detail["tile"]
        l2_bits = self.l2_word_bits
        return LayerCounts(
            macs=int(lay.macs * batch), effective_macs=int(layer.effective_macs * batch),
            compute_cycles=int(round(est.compute_s * cfg.clock_hz)), stall_cycles=0, actions=self._actions(est),
            useful_macs=lay.macs * batch, peak_macs_per_s=cfg.peak_flops(info["dtype"]) / 2.0,
            sram_reads={"l2": int(est.l2_bytes / cfg.sector_bytes), "smem": int(est.smem_bytes / 4),
                        "register_file": int(est.register_bytes / 4)},
            sram_word_bits={"l2": l2_bits, **_WORD_BITS},
            dram_read_bytes=int(est.dram_read_bytes), dram_write_bytes=int(est.dram_write_bytes),
            weight_storage_bits=int(layer.weight_storage_bits(int(8 * DTYPE_BYTES[cfg.native_dtype]))),
            extra=extra, latency_s=est.time_s,
        )

    def finish_extra(self, counts: LayerCounts, seconds: float, energy: EnergyBreakdown, capped: bool) -> dict:
        """``power_w`` (W, over the final latency), ``power_capped`` (DVFS held power at ``tdp_w``) and
        ``achieved_tflops`` (the layer's dense FLOPs over the final latency)."""
        extra = dict(counts.extra)
        useful_flops = 2.0 * counts.useful_macs
        extra["power_w"] = (energy.total_j / seconds) if seconds > 0 else 0.0
        extra["power_capped"] = capped
        extra["achieved_tflops"] = useful_flops / seconds / 1e12 if seconds > 0 else 0.0
        return extra

    def _actions(self, est: km.KernelEstimate) -> ActionCounts:
        c: dict = {}
        for (unit, dt), f in est.flops.items():
            c[(unit, "flop", dt)] = c.get((unit, "flop", dt), 0.0) + f
        c[("simt", "op", "int")] = est.simt_ops
        c[("register_file", "read", "byte")] = est.register_bytes
        c[("smem", "access", "byte")] = est.smem_bytes
        c[("l2", "access", "byte")] = est.l2_bytes
        c.update(self.dram.action_pairs(est.dram_read_bytes, est.dram_write_bytes))
        return ActionCounts(c)
