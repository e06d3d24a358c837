#!/bin/bash
# bad-input checks: expect one line, exit 2, no traceback / nan / negative
. /work/main/.venv/bin/activate
cd /tmp/heldout21i
mk() { cat > $1; }
mk bad_cb32.yaml <<'Y'
name: bad_cb32
pipeline:
  - prune: {method: random, density: 0.1}
  - share: {bits: 5, init: linear, table_bits: 16}
  - encode: {format: interleaved_csc, n_pe: 64, index_bits: 4, pointer_bits: 16}
Y
mk bad_idx0.yaml <<'Y'
name: bad_idx0
pipeline:
  - prune: {method: random, density: 0.1}
  - share: {bits: 4, init: linear, table_bits: 16}
  - encode: {format: interleaved_csc, n_pe: 64, index_bits: 0, pointer_bits: 16}
Y
mk bad_idx17.yaml <<'Y'
name: bad_idx17
pipeline:
  - prune: {method: random, density: 0.1}
  - share: {bits: 4, init: linear, table_bits: 16}
  - encode: {format: interleaved_csc, n_pe: 64, index_bits: 17, pointer_bits: 16}
Y
mk noshare.yaml <<'Y'
name: noshare
pipeline:
  - prune: {method: random, density: 0.1}
  - encode: {format: interleaved_csc, n_pe: 64, index_bits: 4, pointer_bits: 16}
Y
mk q8.yaml <<'Y'
name: q8
pipeline:
  - prune: {method: random, density: 0.1}
  - quantize: {bits: 8}
Y
mk share_only.yaml <<'Y'
name: share_only
pipeline:
  - share: {bits: 4, init: linear, table_bits: 16}
Y
mk nanwl.yaml <<'Y'
name: nanwl
inputs: {x: [20]}
layers:
  - {name: fc, op: linear, inputs: [x], out_features: 10, act_density: 0.5}
Y
python - <<'P'
import numpy as np
w = np.random.default_rng(0).standard_normal((10, 20)).astype(np.float32); w[3, 4] = np.nan
np.savez('/tmp/heldout21i/nanw.npz', fc=w)
P
WL=lenet-300-100
run() { local tag="$1"; shift; out=$(timeout 300 nice -n 10 accelsim "$@" 2>&1); rc=$?; n=$(printf "%s\n" "$out" | wc -l);
  tb=$(printf "%s" "$out" | grep -c Traceback); nanneg=$(printf "%s" "$out" | grep -Eic '\bnan\b|\binf\b| -[0-9]'); 
  verdict=PASS; [ $rc -ne 2 ] && verdict=FAIL; [ $n -ne 1 ] && verdict=FAIL; [ $tb -ne 0 ] && verdict=FAIL
  echo "[$verdict] $tag rc=$rc lines=$n tb=$tb :: $(printf "%s" "$out" | tail -c 400 | tr '\n' '|')"; }
run "codebook 32 > 16" simulate --arch eie --workload $WL --recipe bad_cb32.yaml
run "index_bits 0 (recipe)" simulate --arch eie --workload $WL --recipe bad_idx0.yaml
run "index_bits 17 (recipe)" simulate --arch eie --workload $WL --recipe bad_idx17.yaml
run "row_index_bits 0 (--set)" simulate --arch eie --workload $WL --recipe eie-benchmarks --set encoding.row_index_bits=0
run "row_index_bits 17 (--set)" simulate --arch eie --workload $WL --recipe r10.yaml --set encoding.row_index_bits=17
run "weight_index_bits 17 (--set)" simulate --arch eie --workload $WL --recipe r10.yaml --set encoding.weight_index_bits=17
run "dense model (no recipe)" simulate --arch eie --workload $WL
run "no share step" simulate --arch eie --workload $WL --recipe noshare.yaml
run "quantize instead of share" simulate --arch eie --workload $WL --recipe q8.yaml
run "share only (unpruned)" simulate --arch eie --workload $WL --recipe share_only.yaml
run "SRAM too small, tiling false" simulate --arch eie --workload $WL --recipe r10.yaml --set tiling=false --set spmat.capacity_bytes=128
run "SRAM too small for one column" simulate --arch eie --workload $WL --recipe r10.yaml --set spmat.capacity_bytes=1 --set ptr.capacity_bytes=1
run "spmat 0 bytes" simulate --arch eie --workload $WL --recipe r10.yaml --set spmat.capacity_bytes=0
run "spmat -5 bytes" simulate --arch eie --workload $WL --recipe r10.yaml --set spmat.capacity_bytes=-5
run "n_pe 0" simulate --arch eie --workload $WL --recipe r10.yaml --set n_pe=0
run "n_pe -4" simulate --arch eie --workload $WL --recipe r10.yaml --set n_pe=-4
run "n_pe 1e9" simulate --arch eie --workload $WL --recipe r10.yaml --set n_pe=1000000000
run "n_pe 2^31" simulate --arch eie --workload $WL --recipe r10.yaml --set n_pe=2147483648
run "n_pe 3.5" simulate --arch eie --workload $WL --recipe r10.yaml --set n_pe=3.5
run "n_pe nan" simulate --arch eie --workload $WL --recipe r10.yaml --set n_pe=nan
run "clock_hz nan" simulate --arch eie --workload $WL --recipe r10.yaml --set clock_hz=nan
run "clock_hz 0" simulate --arch eie --workload $WL --recipe r10.yaml --set clock_hz=0
run "queue_depth 0" simulate --arch eie --workload $WL --recipe r10.yaml --set queue_depth=0
run "dram bw 0" simulate --arch eie --workload $WL --recipe r10.yaml --set dram.bandwidth_bytes_per_s=0 --set spmat.capacity_bytes=128
run "act_regs 0" simulate --arch eie --workload $WL --recipe r10.yaml --set act_regs=0
run "batch 0" simulate --arch eie --workload $WL --recipe r10.yaml --batch 0
run "batch -1" simulate --arch eie --workload $WL --recipe r10.yaml --batch -1
run "codebook_entries 0" simulate --arch eie --workload $WL --recipe r10.yaml --set encoding.codebook_entries=0
run "NaN weights (npz)" simulate --arch eie --workload nanwl.yaml --weights nanw.npz --recipe r10.yaml
run "act_density nan (workload)" simulate --arch eie --workload nan_ad.yaml --recipe r10.yaml
