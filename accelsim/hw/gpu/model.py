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
* a 2:4 (``nm``) layer runs the stack's 2:4 family (cuSPARSELt / CUTLASS; Sparse-MARLIN for 2:4 +
  int4) when the device has sparse tensor cores and the pattern is 2:4-compatible (else
  ``SimulationError: pattern is not 2:4``);
* weights narrower than the activations run the stack's weight-only family (MARLIN, GEMV, tinygemm,
  AWQ-GEMM, dequantize + cuBLAS; :mod:`accelsim.hw.gpu.families`), codebooks a lookup GEMV / GEMM;
* fused attention runs the stack's attention family (math, FlashAttention-2 / -3, FlashDecoding);
* everything else is dense: GEMV at one output row, cuDNN-style algorithm choice for convolutions,
  a streaming kernel for depthwise convolutions and element-wise / pooling layers.

The software stack (``config.stack``, :mod:`accelsim.hw.gpu.stacks`) decides which families exist,
what fuses and the launch mode (eager: host dispatch per kernel; CUDA graph); every result says
which kernel ran (``kernel``, ``kernel_class``) and why a compressed kernel was not used
(``kernel_fallback``). Equations and constants: ``docs/models/gpu.md``.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from accelsim.energy.actions import ActionCounts
from accelsim.energy.estimate import AreaBreakdown, EnergyBreakdown, estimate_area
from accelsim.errors import ConfigError, SimulationError
from accelsim.hw.base import HardwareModel, LayerCounts, Roof
from accelsim.hw.blocks import DramChannel
from accelsim.hw.gpu import families as fam
from accelsim.hw.gpu import kernel_models as km
from accelsim.hw.gpu.config import DTYPE_BYTES, GpuConfig
from accelsim.hw.gpu.stacks import SPARSE_MARLIN_STACKS, Stack
from accelsim.hw.gpu.stacks import stack as get_stack
from accelsim.workload import layers as L

_VIEW_OPS = (L.Flatten, L.Reshape, L.Identity)
_COPY_OPS = (L.Concat, L.Slice, L.ChannelShuffle, L.Transpose)
#: query tokens per sequence up to which an attention layer is a decode step (docs "Kernel choice")
DECODE_MAX_Q = 16
_WEIGHT_ONLY_GROUP = 128  # one fp16 scale per 128 weights (GPTQ / AWQ style W4A16)
#: how ``extra.sparse_format`` names the compressed-sparse layouts the CSR kernel runs
#: (row-interleaved CSC is EIE's CSC)
_SPARSE_FORMAT_NAMES = {"csr": "CSR", "csc": "CSC", "interleaved_csc": "InterleavedCSC"}
#: SRAM buffers of ``sram_reads`` and their access widths in bits (L2: one sector, see ``l2_word_bits``)
_WORD_BITS = {"smem": 32, "register_file": 32}


def _sixteen_bit(cfg: GpuConfig) -> str:
    """The device's 16-bit type for activations (native if 16-bit, else fp16 / bf16, else fp32)."""
    if DTYPE_BYTES[cfg.native_dtype] == 2:
        return cfg.native_dtype
    for d in ("fp16", "bf16"):
        if d in cfg.supported_dtypes:
            return d
    return "fp32"


def _bits_dtype(cfg: GpuConfig, bits: int | None, is_float: bool = False) -> tuple[str, str | None]:
    """The device data type that executes values of ``bits`` bits (None = native) and, when the
    recipe's type is not available, one line saying why another one runs. ``is_float``: the recipe's
    8- / 6- / 4-bit values are floats (E4M3, E2M1, MX): they run FP8 / FP6 / FP4, never int8."""
    if bits is None:
        return cfg.native_dtype, None
    supported = cfg.supported_dtypes
    if bits <= 4:
        if is_float and "fp4" in supported:
            return "fp4", None
        if not is_float and "int4" in supported:
            return "int4", None
    if bits <= 6 and is_float and "fp6" in supported:
        return "fp6", None
    if bits <= 8:
        if is_float:
            if "fp8" in supported:
                return "fp8", None
            return _sixteen_bit(cfg), f"device has no FP8 tensor cores ({cfg.arch}): 8-bit float weights dequantized to 16 bits"
        for d in ("int8", "fp8"):
            if d in supported:
                return d, None
    if bits <= 16:
        return _sixteen_bit(cfg), None
    return "fp32", None


def nm_guarantees_24(n: int, m: int) -> bool:
    """Whether every ``n``:``m`` pattern along K (groups of ``m`` from column 0, at most ``n`` kept in each) holds at
    most 2 non-zeros in every aligned group of 4: the most an aligned 4 can take from the groups it overlaps, over
    one period of both (``lcm(4, m)`` columns). 2:8 and 1:2 do, 3:8 does not (a statistics-path layer has no
    values to test; until 2026-12-07 only 1:2, 1:4 and 2:4 were taken)."""
    period = math.lcm(4, m)
    for start in range(0, period, 4):
        kept = sum(min(n, min(start + 4, (g + 1) * m) - max(start, g * m))
                   for g in range(start // m, (start + 3) // m + 1))
        if kept > 2:
            return False
    return True


#: rows of a weight matrix :func:`is_24_compatible` tests at a time (a block of about 4 M weights)
_ROWS_BLOCK_WEIGHTS = 1 << 22


def is_24_compatible(matrix) -> bool:
    """Every group of 4 consecutive weights along K holds at most 2 non-zeros (K padded to 4). ``matrix``: an
    ndarray, a SciPy sparse matrix, or a compact one's keep mask (``mask_rows``: its kept entries, a superset of
    its non-zeros), tested a block of rows at a time (a whole-matrix test of a 58 M-weight LM head took 17-21
    bytes a weight of temporaries)."""
    rows, k = matrix.shape
    pad = (-k) % 4
    step = max(1, _ROWS_BLOCK_WEIGHTS // max(k, 1))
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        if hasattr(matrix, "mask_rows"):
            nz = matrix.mask_rows(r0, r1)
            if nz is None:  # every entry kept
                nz = np.ones((r1 - r0, k), bool)
        else:
            block = matrix[r0:r1]
            nz = (block.toarray() if sp.issparse(block) else np.asarray(block)) != 0
        if pad:
            nz = np.concatenate([nz, np.zeros((r1 - r0, pad), bool)], axis=1)
        if (nz.reshape(r1 - r0, -1, 4).sum(axis=2, dtype=np.int8) > 2).any():
            return False
    return True


def _repeated_kv(layer: L.Attention) -> L.Attention:
    """The attention layer as its kernel sees it after ``repeat_kv``: K and V expanded from ``kv_heads`` to
    every query head (multi-head attention over the same queries, keys and mask)."""
    rep = layer.heads // layer.kv_heads
    q, k, v = layer.input_shapes
    return replace(layer, kv_heads=layer.heads,
                   input_shapes=(q, (*k[:-1], k[-1] * rep), (*v[:-1], v[-1] * rep)))


#: WeightView -> whether its pattern is 2:4 along K (tested once per layer, kept while the layer lives)
_COMPATIBLE_24: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _depthwise(layer, g) -> bool:
    """A depthwise convolution, or one of few channels per group (K <= 36): the streaming kernel, no GEMM reuse."""
    return isinstance(layer, L.Conv2d) and layer.groups > 1 and g.k <= 9 * 4


def _with_scales(est: km.KernelEstimate, cl, g) -> km.KernelEstimate:
    """Quantized weights at the math width (W8A8, FP8; dense or 2:4) carry their scales and zero points, which the
    epilogue reads once (docs step 7: what weight_storage_bits counts besides the values); the time is the kernel's."""
    view = cl.view
    if not cl.weight_bits:
        return est
    if view.layout == "nm":  # the 2:4 format keeps its scales in the metadata, after the 2-bit selectors (1 a weight)
        scale_bytes = max(0.0, view.bits.metadata - g.n * g.k * g.groups) / 8
    else:
        scale_bytes = view.scale_bits_per_weight * g.n * g.k * g.groups / 8
    return replace(est, dram_read_bytes=est.dram_read_bytes + scale_bytes) if scale_bytes else est


def _with_column_map(est: km.KernelEstimate, cl, g) -> km.KernelEstimate:
    """Act-order weights (GPTQ's ``g_idx`` orders the columns): the weight-only kernel reads the column map, one
    ``view.g_idx_bits``-bit entry (int32) per input column (exllama's ``q_perm``, MARLIN's sorted ``g_idx``, a
    dequantizing kernel's group lookup), besides the codes and scales: ``K x 4`` bytes a layer; the time is the
    kernel's (docs/models/gpu.md "Weight-only")."""
    view = cl.view
    if not view.act_order:
        return est
    return replace(est, dram_read_bytes=est.dram_read_bytes + view.g_idx_bits / 8 * g.k * g.groups)


class GpuModel(HardwareModel):
    """Stateless: ``simulate(layer, batch)`` (the shared one) -> LayerResult; see the module docstring.

    Blocks: the off-chip memory is a :class:`~accelsim.hw.blocks.DramChannel` (``dram_type`` at
    ``dram_gbs``, action keys ``("dram", "read" | "write", "bit")``); the on-chip levels (register
    file, shared memory, L2) are priced per byte moved from the config's ``energy`` table.
    """

    family = "gpu"

    def __init__(self, config: GpuConfig):
        unpriced = config.unpriced_flops()  # (a config without energy tables loads; it cannot be priced)
        if unpriced:
            raise ConfigError(f"gpu '{config.name}': {'; '.join(unpriced)}")
        self.dram = DramChannel(config.dram_type, config.dram_bytes_per_s, variant="bit")
        super().__init__(config)

    def simulate_network(self, layers, batch: int = 1) -> list:
        """Every layer of a network in order. Eager launch: the layers share one asynchronous launch queue
        (docs "Software stacks", "Launch"): the host dispatches kernels one after another and runs ahead of
        the GPU, so a layer's latency is the time it adds to the network (:meth:`_queued`), and the layers'
        latencies sum to the time of the whole queue. CUDA graphs, and a lone layer (``simulate``): each
        layer on its own (a lone eager layer in a timing loop: the longer of host and GPU time). In any launch
        mode, the stack's fused projections (:meth:`_fused_projections`) run as one GEMM per group."""
        layers = list(layers)
        net = self._network
        net.fused = self._fused_projections(layers)
        net.queue = [0.0, 0.0] if self.launch_mode == "eager" else None  # [GPU done, host dispatched] (s)
        try:
            return [self.simulate(cl, batch) for cl in layers]
        finally:
            net.queue, net.fused = None, {}

    def _fused_projections(self, layers) -> dict[str, str]:
        """``{projection: the first of its group, whose GEMM it joins}`` for the stack's ``fused_projections``:
        consecutive Linear layers of one block named as a group (:data:`~accelsim.hw.gpu.stacks.QKV_NAMES`,
        :data:`~accelsim.hw.gpu.stacks.GATE_UP_NAMES`), reading the same input and computing in the same data
        type (one concatenated weight, as AutoAWQ's ``fuse_qkv`` and vLLM's merged linears hold it)."""
        out: dict[str, str] = {}
        for names in self.stack.fused_projections:
            width = len(names)
            for i in range(len(layers) - width + 1):
                group = layers[i:i + width]
                if not all(isinstance(cl.layer, L.Linear) for cl in group):
                    continue
                parts = [cl.layer.name.rpartition(".") for cl in group]
                if (tuple(p[2] for p in parts) != names or len({p[0] for p in parts}) != 1
                        or len({cl.layer.input_shapes for cl in group}) != 1 or len({self._dtype(cl)[0] for cl in group}) != 1):
                    continue
                for cl in group[1:]:
                    out[cl.layer.name] = group[0].layer.name
        return out

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
    @property
    def stack(self) -> Stack:
        """The software stack (``config.stack``; docs "Software stacks")."""
        return get_stack(self.config.stack)

    @property
    def launch_mode(self) -> str:
        """``eager`` or ``cuda-graph``: ``config.launch``, else the stack's."""
        return self.config.launch if self.config.launch != "auto" else self.stack.launch

    @property
    def fuse(self) -> bool:
        """Pointwise fusion: ``config.fuse_pointwise``, else the stack's."""
        f = self.config.fuse_pointwise
        return self.stack.fuse_pointwise if f is None else bool(f)

    @property
    def host_us(self) -> float:
        """Host dispatch per kernel in eager launch: ``config.host_overhead_us``, else the stack's."""
        h = self.config.host_overhead_us
        return self.stack.host_us if h is None else float(h)

    @property
    def subclass_us(self) -> float:
        """Host dispatch per tensor-subclass call in eager launch: ``config.subclass_host_us``, else the stack's."""
        h = self.config.subclass_host_us
        return self.stack.subclass_host_us if h is None else float(h)

    @staticmethod
    def _act_is_float(cl) -> bool:
        """The recipe's narrow activations / weights are floats (E4M3 / E5M2 / E2M1 / MX)."""
        element = getattr(cl.activation_format, "element", None)
        if element:
            return str(element)[0] in ("e", "f")
        fmt = cl.view.element_format
        return bool(fmt) and str(fmt)[0] in ("e", "f") and (cl.activation_bits or 16) <= 8

    def _dtype(self, cl) -> tuple[str, str | None]:
        cfg = self.config
        if cfg.dtype != "auto":
            return cfg.dtype, None
        dtype, note = _bits_dtype(cfg, cl.activation_bits, self._act_is_float(cl))
        if isinstance(cl.layer, L.Conv2d) and DTYPE_BYTES[dtype] < 2 and not self.stack.quantized_convs:
            wide = _sixteen_bit(cfg)
            return wide, (f"stack {self.stack.name} runs {dtype} math on linear layers only (torch._int_mm, _scaled_mm, "
                          f"torchao quantize_); the convolution runs in {wide}")
        return dtype, note

    def _pointwise_dtype(self, dtype: str) -> str:
        """Element-wise / norm / softmax layers run at least ``stack.pointwise_min_bits`` wide."""
        if 8 * DTYPE_BYTES[dtype] >= self.stack.pointwise_min_bits:
            return dtype
        return _sixteen_bit(self.config)

    def kernel_for(self, cl, batch: int) -> tuple[km.KernelEstimate, dict]:
        """The kernel estimate for one layer and the extra facts to report (``kernel_class``,
        ``kernel_fallback`` and the private ``_subclass`` flag: a tensor-subclass call in eager mode)."""
        cfg = self.config
        layer = cl.layer
        dtype, note = self._dtype(cl)
        cfg.math_rate(dtype)  # raises for a data type the device cannot execute
        info: dict = {"dtype": dtype, "kernel_class": "dense", "kernel_fallback": note, "_subclass": False}
        g = layer.gemm(batch)
        if g is None or isinstance(layer, _VIEW_OPS + _COPY_OPS + (L.Embedding,)):
            pdt = self._pointwise_dtype(dtype)
            eb = DTYPE_BYTES[pdt]
            info.update(dtype=pdt, kernel_class="pointwise", kernel_fallback=None)
            if isinstance(layer, _VIEW_OPS):
                info["kernel_class"] = "view"
                return km.view(f"{layer.op}_view"), info
            if isinstance(layer, L.Embedding):
                n = float(np.prod(layer.output_shape)) * batch * eb
                info["kernel_class"] = "copy"
                return km.stream(cfg, n, n, dtype=pdt, name="embedding_gather"), info
            if isinstance(layer, _COPY_OPS):
                n = float(np.prod(layer.output_shape)) * batch * eb
                info["kernel_class"] = "copy"
                return km.stream(cfg, n, n, dtype=pdt, name=f"{layer.op}_copy"), info
            if self.stack.decode_fuses_rope_kv and self._decode_rope_kv(layer):
                info["fused"] = "into the decode attention kernel (rotary embedding and cache append inside it)"
                return km.view(f"{layer.op}_fused"), info
            if self.fuse and isinstance(layer, (L.BatchNorm, L.Activation)):
                info["fused"] = "into the producer's epilogue"
                return km.view(f"{layer.op}_fused"), info
            if self.fuse and isinstance(layer, L.Eltwise):
                info["fused"] = "into the producer's epilogue (reads the other operands)"
                other = float(layer.input_elements - layer.output_elements) * batch * eb
                return km.epilogue(cfg, other, float(layer.elementwise_ops) * batch, pdt, f"{layer.op}_fused"), info
            if self.stack.decomposed_modules and (isinstance(layer, L.Rope) or (
                    isinstance(layer, L.LayerNorm) and layer.rms)):
                return self._decomposed(layer, batch, pdt), info
            read = float(layer.input_elements) * batch * eb
            write = float(layer.output_elements) * batch * eb
            if isinstance(layer, L.KVAppend):  # the cache's own width (layer attribute)
                write = float(layer.write_bytes) * batch
                if self.kv_cache == "concat":  # torch.cat: the old cache read and the whole cache written again
                    info["kv_cache"] = "concat: the whole cache copied"
                    read += float(layer.cache_bytes - layer.write_bytes) * batch
                    write = float(layer.cache_bytes) * batch
            ops = float(layer.elementwise_ops) * batch
            return km.stream(cfg, read, write, simt_ops=ops, dtype=pdt, name=f"{layer.op}_kernel"), info
        if isinstance(layer, L.Attention):
            return self._attention(cl, batch, dtype, info)
        if not layer.has_weights:  # batched activation x activation matmul (unfused attention)
            kv_bits = float(getattr(layer, "kv_bits", 0.0) or 0.0)  # a quantized KV-cache operand (layer attribute)
            return km.gemm(cfg, g.m, g.n, g.k, g.groups, dtype, b_bytes=kv_bits / 8.0 if kv_bits else None,
                           name="batched_gemm"), info
        return self._weighted(cl, batch, dtype, g, info)

    @staticmethod
    def _decode_rope_kv(layer) -> bool:
        """A rotary embedding or KV-cache append of a decode step: at most ``DECODE_MAX_Q`` new tokens per
        sequence (a rope layer's rows are the batch's tokens, so at most ``DECODE_MAX_Q`` rows)."""
        if isinstance(layer, L.KVAppend):
            return layer.input_shape[-2] <= DECODE_MAX_Q
        return isinstance(layer, L.Rope) and int(np.prod(layer.input_shape[:-1])) <= DECODE_MAX_Q

    def _choose(self, forced: str, preferred: tuple[str, ...], reason_of, cost_of, what: str):
        """The kernel family to run: the forced one, else the stack's first applicable one (``best``:
        the fastest applicable). Returns ``(family, estimate, fallback line or None)``; family None
        when nothing applies."""
        candidates = (forced,) if forced != "auto" else preferred
        reasons, options = [], []
        for fam_name in candidates:
            why = reason_of(fam_name)
            if why is not None:
                reasons.append(why)
                continue
            options.append((fam_name, cost_of(fam_name)))
            if not self.stack.bound:
                break
        if forced != "auto" and not options:  # the forced kernel cannot run: the stack's choice
            fam_name, est, more = self._choose("auto", preferred, reason_of, cost_of, what)
            return fam_name, est, "; ".join(reasons + ([more] if more else []))
        reasons = list(dict.fromkeys(reasons))  # one line per distinct reason
        if not options:
            why = "; ".join(reasons) if reasons else f"stack {self.config.stack} ships no {what} kernel"
            return None, None, why
        fam_name, est = min(options, key=lambda o: o[1].time_s)
        first_choice = candidates[0] if candidates else None
        return fam_name, est, ("; ".join(reasons) if fam_name != first_choice and reasons else None)

    def _attention(self, cl, batch, dtype, info):
        """Fused attention (``L.Attention``): the stack's attention family (docs "Attention")."""
        cfg = self.config
        layer = cl.layer
        decode = layer.q_len <= DECODE_MAX_Q
        preferred = self.stack.decode_attention if decode else self.stack.attention
        fa3 = cfg.arch == "hopper" and (cfg.kernels.attention == "flash3" or
                                        (cfg.kernels.attention == "auto" and "flash3" in preferred))
        if DTYPE_BYTES[dtype] < 2 and not (dtype == "fp8" and fa3):
            # no int8 / Ada-FP8 flash kernel in these libraries: attention runs on 16-bit Q / K / V
            info["attention_dtype_note"] = f"attention in {_sixteen_bit(cfg)}: no {dtype} flash attention kernel"
            dtype = _sixteen_bit(cfg)
            info["dtype"] = dtype
        kv_bits = float(getattr(layer, "kv_bits", None) or 8 * DTYPE_BYTES[dtype])
        rep = layer.heads // max(layer.kv_heads, 1)
        repeated = self.stack.repeat_kv and rep > 1
        # after repeat_kv the attention kernel is handed K / V at every query head: it runs (and reads) MHA
        kernel_layer = _repeated_kv(layer) if repeated else layer
        fam_name, est, why = self._choose(
            cfg.kernels.attention, preferred, lambda f: fam.attention_applicable(cfg, f, dtype, decode),
            lambda f: fam.attention(cfg, f, kernel_layer, batch, dtype, kv_bits), "attention")
        info.update(kernel_class="attention", kernel_fallback=why, attention=fam_name, kv_bits=kv_bits)
        if est is not None and repeated:
            # K and V copied from kv_heads to every query head before the attention kernel (repeat_kv)
            kv = float(layer.kv_len) * layer.gemm(batch).groups * kv_bits / 8.0  # bytes per head dimension
            copies = [km.stream(cfg, kv * d, kv * d * rep, dtype=dtype, name=f"repeat_kv_{w}",
                                bandwidth_fraction=km.STRIDED_COPY_BANDWIDTH)  # an expand + reshape: a strided copy
                      for w, d in (("k", layer.head_dim), ("v", layer.v_head_dim))]
            est = km.combine([*copies, est], kernel=est.kernel)
            info["repeat_kv"] = f"K and V copied to {layer.heads} query heads ({rep} per KV head) before attention"
        if est is not None and self.stack.decomposed_modules:  # attn_output.transpose(1, 2).contiguous()
            out = float(np.prod(layer.output_shape)) * batch * DTYPE_BYTES[dtype]
            est = km.combine([est, km.stream(cfg, out, out, dtype=dtype, name="attn_output_transpose")], kernel=est.kernel)
        if fam_name == "cudnn" and decode and self.kv_cache == "concat":
            # a cache grown by torch.cat has a new KV length every step: cuDNN builds a graph for each call
            est.host_plan_us += fam.CUDNN_PLAN_HOST_US
            info["cudnn_plan"] = (f"cuDNN SDPA plans a new KV length on the host every step "
                                  f"({fam.CUDNN_PLAN_HOST_US:.0f} us a call in eager launch)")
        return est, info

    def _decomposed(self, layer, batch: int, pdt: str) -> km.KernelEstimate:
        """An RMSNorm or a rotary embedding as Hugging Face's PyTorch module runs it, one kernel per op
        (``Stack.decomposed_modules``; docs "Software stacks"): bytes per element of the layer's input ``E``."""
        cfg, eb = self.config, DTYPE_BYTES[pdt]
        e = float(layer.input_elements) * batch
        if isinstance(layer, L.LayerNorm):  # LlamaRMSNorm: in fp32 between an upcast and a downcast
            rows = e / max(int(layer.input_shape[-1]), 1)
            passes = [("rms_upcast", eb * e, 4 * e), ("rms_pow", 4 * e, 4 * e), ("rms_mean", 4 * e, 4 * rows),
                      ("rms_add_eps", 4 * rows, 4 * rows), ("rms_rsqrt", 4 * rows, 4 * rows),
                      ("rms_mul", 4 * e + 4 * rows, 4 * e), ("rms_downcast", 4 * e, eb * e),
                      ("rms_weight", eb * e, eb * e)]
        else:  # apply_rotary_pos_emb: x * cos + rotate_half(x) * sin, rotate_half = cat(-x2, x1)
            passes = [("rope_mul_cos", eb * e, eb * e), ("rope_neg", eb * e / 2, eb * e / 2),
                      ("rope_cat", eb * e, eb * e), ("rope_mul_sin", eb * e, eb * e), ("rope_add", 2 * eb * e, eb * e)]
        return km.combine([km.stream(cfg, r, w, dtype=pdt, name=n) for n, r, w in passes],
                          kernel=f"{layer.op}_{len(passes)}_kernels")

    @property
    def kv_cache(self) -> str:
        """The decode step's KV-cache update: ``config.kernels.kv_cache``, else the stack's."""
        forced = self.config.kernels.kv_cache
        return self.stack.kv_cache if forced == "auto" else forced

    def _wide_conv(self, cl) -> bool:
        """A convolution on a stack whose narrow-math and weight-only kernels are linear-layer kernels:
        its weights and math stay at 16 bits (``Stack.quantized_convs``)."""
        return isinstance(cl.layer, L.Conv2d) and not self.stack.quantized_convs

    def _weight_format(self, cl, dtype: str) -> fam.WeightFormat | None:
        """The weight-only format from ``cl.view`` when the weights are narrower than the math type."""
        view = cl.view
        bits = view.value_bits if view.layout not in ("none", "dense") and view.value_bits else cl.weight_bits
        if bits is None or bits >= 8.0 * DTYPE_BYTES[dtype] or self._wide_conv(cl):
            return None
        return fam.WeightFormat(bits=int(bits), group_size=int(view.group_size or _WEIGHT_ONLY_GROUP),
                                scale_bits=int(view.scale_bits or 16), zero_point_bits=int(view.zero_point_bits or 0),
                                element_format=view.element_format, nm=view.nm or cl.nm)

    def _weighted(self, cl, batch, dtype, g, info):
        cfg = self.config
        st = self.stack
        layer = cl.layer
        view = cl.view
        eb = DTYPE_BYTES[dtype]
        fallback = info.get("kernel_fallback")
        if cl.nm is not None:
            n_keep, m_group = cl.nm
            unit = cfg.math_rate(dtype)[1]
            if cfg.sparse_tensor_cores and unit == "tensor":
                compatible = _COMPATIBLE_24.get(view)
                if compatible is None:  # once per layer's view
                    held = view.held
                    if held is None:  # no values (the statistics path): whether n:m guarantees it
                        compatible = nm_guarantees_24(n_keep, m_group)
                    else:
                        # a compact matrix by its keep mask, without building it; built (not kept) only where the
                        # mask keeps more than 2 in some 4 (kept entries may hold zeros)
                        compatible = ((hasattr(held, "mask_rows") and is_24_compatible(held))
                                      or is_24_compatible(view.matrix))
                    _COMPATIBLE_24[view] = compatible
                if not compatible:
                    raise SimulationError(
                        f"layer '{layer.name}': weight pattern is not 2:4 (recipe N:M = {n_keep}:{m_group}); "
                        f"sparse tensor cores need at most 2 non-zeros in every 4 weights along K")
            fmt = self._weight_format(cl, dtype)
            conv_why = None
            if isinstance(layer, L.Conv2d) and not st.sparse24_convs:
                conv_why = (f"stack {st.name} runs 2:4 weights on linear layers only (PyTorch's semi-structured "
                            "tensor and torchao's sparsify_ handle F.linear / mm); the convolution runs dense")
            if fmt is not None and not cl.codebook_size:  # 2:4 + low-bit values: Sparse-MARLIN
                why = conv_why or self._sparse_marlin_reason(g, fmt, dtype)
                if why is None:
                    info.update(sparsity="2:4 sparse tensor cores", kernel_class="sparse24_weight_only",
                                weights=f"{fmt.bits}-bit 2:4 weight-only (Sparse-MARLIN)", kernel_fallback=fallback,
                                _subclass=st.name == "pytorch-eager")
                    return fam.marlin(cfg, g.m, g.n, g.k, g.groups, dtype, fmt, sparse24=True), info
                info["sparsity"] = f"{n_keep}:{m_group} pattern not used ({why}); weight-only kernel on the decompressed values"
                fallback = why
            else:
                fam_name, est, why = self._choose(
                    cfg.kernels.sparse24, st.sparse24, lambda f: conv_why or fam.sparse24_applicable(cfg, f, dtype),
                    lambda f: self._sparse24_cost(f, cl, batch, g, dtype), "2:4 sparse")
                if est is not None and st.times_tactics and fmt is None:
                    dense_est, _ = self._dense(layer, batch, dtype, g)
                    if dense_est.time_s < est.time_s:  # the builder keeps the faster tactic
                        est, why = None, (f"the dense kernel is faster at this shape ({dense_est.time_s * 1e6:.3g} us "
                                          f"vs {fam_name} 2:4 {est.time_s * 1e6:.3g} us); stack {st.name} keeps the faster")
                if est is not None:
                    info.update(sparsity=f"2:4 sparse tensor cores ({fam_name})", kernel_class="sparse24",
                                kernel_fallback=why, _subclass=st.name == "pytorch-eager")
                    return _with_scales(est, cl, g), info
                info["sparsity"] = f"{n_keep}:{m_group} pattern run dense"
                fallback = why
                info["kernel_fallback"] = why
        # compressed-sparse weights with zeros run cuSPARSE on the real pattern; Huffman-coded streams
        # have no GPU library kernel and fall through to the dequantizing / dense paths
        pattern = view.pattern if view.is_sparse_layout and not view.huffman_streams else None
        if pattern is not None and view.nnz < pattern.shape[0] * pattern.shape[1]:
            codebook = view.codebook_size is not None
            vbits = int(view.value_bits or 32)  # a codebook index when ``codebook``
            if cl.weight_bits is None and not codebook:  # values no step gave a width: at the math type's width,
                vbits = min(vbits, int(8 * eb))  # as weight_storage_bits counts them (docs step 5)
            ibits = int(view.index_bits or 32)
            info["sparse_format"] = (f"{_SPARSE_FORMAT_NAMES[view.layout]} ({vbits}-bit values, {ibits}-bit indices"
                                     f"{', codebook' if codebook else ''})")
            est = km.csr_spmm(cfg, pattern, batch=g.m, dtype=dtype, value_bytes=max(vbits, 8) / 8.0 if not codebook else vbits / 8.0,
                              index_bytes=ibits / 8.0, extra_simt_ops_per_nz=1.0 if codebook else 0.0)
            info.update(threads_per_row=est.detail["threads_per_row"], sm_imbalance=est.detail["sm_imbalance"],
                        kernel_class="csr")
            return est, info
        # codebook lookup GEMV / GEMM (no library kernel class: docs "Low-bit weights"); a depthwise convolution's few
        # weights are decoded into its streaming kernel instead (a GEMM per channel group cost binary MobileNet-v2's
        # 17 depthwise layers 17.8 us each on an H100, against 3.6 us)
        if cl.codebook_size and not _depthwise(layer, g):
            wbits = max(1, math.ceil(math.log2(max(2, cl.codebook_size))))
            if wbits < 8.0 * eb:
                w_b = wbits / 8.0 + 2.0 / _WEIGHT_ONLY_GROUP
                info.update(weights=f"{wbits}-bit codebook (dequantized on the fly)", kernel_class="codebook")
                if g.m <= 8 and g.groups == 1:
                    return km.gemv(cfg, g.n, g.k, dtype, w_bytes=w_b, batch=g.m, extra_simt_ops_per_w=1.0,
                                   name="gemv_dequant"), info
                return km.gemm(cfg, g.m, g.n, g.k, g.groups, dtype, b_bytes=w_b, extra_simt_ops_per_b=1.0,
                               name="gemm_dequant"), info
        fmt = self._weight_format(cl, dtype)
        if fmt is None and self._wide_conv(cl) and (cl.weight_bits or 32) < 8 * DTYPE_BYTES[dtype] \
                and not info.get("kernel_fallback"):
            info["kernel_fallback"] = (f"stack {st.name} runs {cl.weight_bits}-bit weights on linear layers only "
                                       f"(tinygemm, MARLIN, torchao quantize_); the convolution's weights run in {dtype}")
        if fmt is not None:  # weights narrower than the math type: weight-only kernel families
            fam_name, est, why = self._choose(
                cfg.kernels.weight_only, st.weight_only,
                lambda f: fam.weight_only_applicable(cfg, f, g.m, g.n, g.k, fmt, dtype, st.gemv_kind),
                lambda f: fam.weight_only(cfg, f, g.m, g.n, g.k, g.groups, dtype, fmt, st.gemv_kind), "weight-only")
            if est is None:  # nothing ships for this format: dequantize, then cuBLAS
                fam_name, est = "gemv-dequant", fam.weight_only(cfg, "gemv-dequant", g.m, g.n, g.k, g.groups, dtype, fmt)
            reasons = "; ".join(r for r in (fallback, why) if r)
            info.update(weights=f"{fmt.bits}-bit weight-only ({fam_name}, dequantized on the fly)",
                        kernel_class="weight_only", kernel_fallback=reasons or None,
                        _subclass=st.name == "pytorch-eager" and fam_name in ("tinygemm", "gemv-dequant"))
            return _with_column_map(est, cl, g), info
        if dtype in ("fp8", "fp6", "fp4") and cfg.kernels.dense == "cublas":
            info["kernel_fallback"] = f"cuBLAS (legacy API) has no {dtype} GEMM; ran {_sixteen_bit(cfg)} (cuBLASLt needed)"
            dtype = _sixteen_bit(cfg)
            info["dtype"] = dtype
        est, extra = self._dense(layer, batch, dtype, g)
        info.update(extra)
        return _with_scales(est, cl, g), info

    def _dense(self, layer, batch, dtype, g):
        """The dense library kernel of a weighted layer: ``(estimate, extra per-layer fields)``."""
        cfg = self.config
        if isinstance(layer, L.Conv2d):
            if _depthwise(layer, g):  # depthwise / few channels per group: no GEMM reuse
                return km.depthwise(cfg, layer, batch, dtype), {}
            est, options = km.conv_dense(cfg, layer, batch, dtype)
            return est, {"conv_algo": est.kernel,
                         "conv_algo_times_us": {k: round(v * 1e6, 3) for k, v in options.items()}}
        return fam.dense_kernel(cfg, g.m, g.n, g.k, g.groups, dtype), {}

    def _sparse_marlin_reason(self, g, fmt, dtype) -> str | None:
        cfg = self.config
        if self.config.stack not in SPARSE_MARLIN_STACKS:
            return f"stack {cfg.stack} ships no 2:4 + int4 kernel (Sparse-MARLIN)"
        if fmt.bits != 4 or fmt.is_float:
            return f"Sparse-MARLIN runs int4 values; got {fmt.element_format or str(fmt.bits) + '-bit'}"
        if cfg.arch not in fam.SM80_PLUS or not cfg.sparse_tensor_cores:
            return f"Sparse-MARLIN needs sparse tensor cores on sm80+; device is {cfg.arch}"
        if DTYPE_BYTES[dtype] != 2:
            return f"Sparse-MARLIN needs 16-bit activations; got {dtype}"
        if g.n % 64 or g.k % 128:
            return f"Sparse-MARLIN needs N % 64 == 0 and K % 128 == 0; got N={g.n} K={g.k}"
        return None

    def _sparse24_cost(self, family, cl, batch, g, dtype):
        layer = cl.layer
        if isinstance(layer, L.Conv2d) and not layer.is_depthwise:
            scale, _ = fam.sparse24_scale(self.config, family, g.k)
            return km.conv_implicit_gemm(self.config, layer, batch, dtype, sparse24=True, eff_scale=scale)
        return fam.sparse24(self.config, family, g.m, g.n, g.k, g.groups, dtype, self.stack.layout_copies)

    # ---- the contract: count and the extras of the final latency ---------------------------------------
    def count(self, layer, batch: int) -> LayerCounts:
        """The chosen kernel's estimate as counts: ``latency_s`` is the kernel time before the power
        cap, ``compute_cycles`` its compute time in clocks; utilization counts the layer's dense MACs
        against ``peak_flops(dtype) / 2``. SRAM reads are per buffer in words of its width: ``l2`` in
        sectors, ``smem`` and ``register_file`` in 4-byte words."""
        cfg = self.config
        lay = layer.layer
        est, info = self.kernel_for(layer, batch)
        subclass = info.pop("_subclass", False)
        into = getattr(self._network, "fused", {}).get(lay.name)
        if into is not None:  # its GEMM's work joins its group's first kernel: no launch, latency or dispatch
            # what is left is its throughput time: a family that adds the DRAM latency in series loses it, one
            # whose latency is a term of its max (GEMV: the rows' load chains) keeps max(compute, memory)
            work = max(est.compute_s, est.memory_s, est.time_s - est.launch_s - est.latency_s)
            est = replace(est, time_s=max(0.0, work), launch_s=0.0, latency_s=0.0, kernels=0)
            info["fused"] = f"into {into}: one GEMM over the concatenated weights (the stack's fused_projections)"
        time_s, launch_s, host_s, launch = self._launched(est, subclass)
        queue = getattr(self._network, "queue", None)
        if queue is not None and host_s > 0:
            time_s = self._queued(queue, est, host_s)
            host_bound = time_s > est.time_s * (1.0 + 1e-9)  # the GPU waited for this layer's dispatch
        else:
            host_bound = host_s > 0 and host_s >= time_s - 1e-15 and host_s > est.time_s
        useful_flops = 2.0 * lay.macs * batch
        bound = est.bound
        if host_bound:
            bound = "host"
        elif time_s <= 0.0:
            bound = "none"  # nothing runs (a view): no time for anything to bound
        elif launch_s + est.latency_s >= max(est.compute_s, est.memory_s):
            bound = "latency"
        extra = {
            "bound": bound,
            "kernel": est.kernel,
            "waves": round(est.waves, 4),
            "tiles": est.tiles,
            **info,
            "stack": cfg.stack + (" (achievable bound, not a measured stack)" if self.stack.bound else ""),
            "launch": launch,
            "kernels": est.kernels,
            "host_us": host_s * 1e6,
            "compute_us": est.compute_s * 1e6,
            "memory_us": est.memory_s * 1e6,
            "latency_us": (est.latency_s + launch_s) * 1e6,
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
            extra=extra, latency_s=time_s,
        )

    def _launched(self, est: km.KernelEstimate, subclass: bool) -> tuple[float, float, float, str]:
        """``(time, launch part, host time, mode)`` of a layer's kernels under the launch mode (docs
        "Software stacks"): CUDA graph: each kernel's launch becomes ``graph_launch_us``; eager: the host
        needs ``dispatches x host_us`` (a library call launching several kernels is one dispatch; +
        ``subclass_host_us`` for a tensor-subclass weight) and the layer
        takes the longer of host and GPU time."""
        launch = self.launch_mode
        if est.kernels == 0:
            return est.time_s, est.launch_s, 0.0, launch
        if launch == "cuda-graph":
            gap = self.config.graph_launch_us
            graph = est.kernels * (self.config.launch_overhead_us if gap is None else gap) * 1e-6
            return est.time_s - est.launch_s + graph, graph, 0.0, launch
        host = (est.dispatches * self.host_us + est.host_plan_us + (self.subclass_us if subclass else 0.0)) * 1e-6
        return max(est.time_s, host), est.launch_s, host, launch

    def _queued(self, queue: list, est: km.KernelEstimate, host_s: float) -> float:
        """Seconds an eager layer adds to its network's launch queue ``[GPU done, host dispatched]`` (updated):
        the host dispatches the layer's kernels after the previous layer's (``host_s``: a tensor subclass's
        dispatch, then ``host_us`` per kernel), the GPU runs them in order, each once it is dispatched and the
        previous kernel is done. With the layer's GPU time ``g`` spread evenly over its ``k`` kernels, the layer is
        done at ``max(GPU done + g, first dispatch + g, host dispatched + host_s + g / k)`` (docs "Launch")."""
        gpu_done, host_done = queue
        kernels = max(1, est.kernels)
        first = host_done + host_s - (max(1, est.dispatches) - 1) * self.host_us * 1e-6
        done = max(gpu_done + est.time_s, first + est.time_s, host_done + host_s + est.time_s / kernels)
        queue[0], queue[1] = done, host_done + host_s
        return done - gpu_done

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
