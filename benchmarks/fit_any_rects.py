"""Calibrate and check ``any_rects_pay`` (docs/models/systolic.md §3.3, "Where they are taken").

On random ws layers with fewer channels than rows, every such layer is run both ways in one process, the ws row
folds forced on (``ws_fold_pass``) and the reuse-distance scan (``reuse_read_pass``), outputs compared, and the
log of the speed-up is fitted by least squares on the features ``any_rects_pay`` reads. The fit comes from one
seed and is checked on another, untouched::

    python benchmarks/fit_any_rects.py --calibrate 301 --check 202 [--layers 300] [--check-layers 100] [--repeats 7]

prints the fitted ``ANY_FIT``, then on the checked seed the geometric mean of the speed-up over the scan alone
of the rule with that fit and with the fit in the code, the worst layer and how many layers each takes. Layers:
rows and columns 8-128, 1-127 channels below the rows, 1x1-7x8 filters, strides 1-2, 4-59 output rows (some with
windows past the input edge), 1-128 kB ifmap SRAMs, 1-299 filters; those the channel classes or the all-fetched
closed form take are left out (the rule is not asked there).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def layers(seed: int, n: int):
    """``n`` random ws layers the rule decides: ``(R, C, geometry, ifmap words, forced plan, the rule's features)``
    (the features from the arguments the plan passes ``any_rects_pay``: :func:`~accelsim.hw.systolic._ws_folds.
    any_rects_features`)."""
    from accelsim.hw.systolic import _ws_folds as WF
    from accelsim.hw.systolic import calc
    from accelsim.hw.systolic._group_reuse import groups_fit_int32, ws_is_groups_pay
    from accelsim.hw.systolic.model import Geometry

    rng = random.Random(seed)
    real, out = WF.any_rects_pay, []
    while len(out) < n:
        R, C = rng.randrange(8, 129), rng.randrange(8, 129)
        Ch = rng.randrange(1, min(127, R - 1) + 1)
        F = rng.choice((1, 2, 3, 3, 4, 5, 5, 7))
        FH, FW = F, rng.choice((F, F, max(1, F - 1), F + 1))
        s = rng.choice((1, 2))
        H = (rng.randrange(4, 60) - 1) * s + FH - rng.choice((0, 0, 0, 1)) * (s > 1)
        W = H + rng.choice((0, 0, 1, -1))
        if W < FW or H < FH:
            continue
        words = rng.choice((1, 2, 4, 8, 16, 32, 64, 128)) * 1024
        K = rng.randrange(1, 300)
        g = Geometry.conv(H, W, FH, FW, Ch, K, s)
        b, H, W, Ch, FH, FW, sh, sw, dh, dw, K, Eh, Ew = g
        npx, win = Eh * Ew, FH * FW * Ch
        if npx * win * -(-K // C) > 3_000_000:
            continue
        inside = (Eh - 1) * sh + (FH - 1) * dh < H and (Ew - 1) * sw + (FW - 1) * dw < W
        if calc.ws_every_access_fetched(R, C, Ch, FH * FW, npx, K, words, inside,
                                        WF.consecutive_reach(FH, FW, sh, sw, dh, dw, Ew)):
            continue
        if ws_is_groups_pay(1, R, Ch, win, npx) and groups_fit_int32(npx * win, H * W * Ch):
            continue
        asked = []
        WF.any_rects_pay = lambda *a: asked.append(a) or True  # (forced on; its arguments kept)
        try:
            plan = WF.ws_folds_plan(1, R, C, b, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, K, words, False)
        finally:
            WF.any_rects_pay = real
        if plan is not None:
            out.append((R, C, g, words, plan, list(WF.any_rects_features(*asked[0]))))
    return out


def timed(R, C, g, words, plan, repeats: int) -> tuple[float, float]:
    """Median seconds of the folds and of the scan, alternating; their outputs compared."""
    from accelsim.hw.systolic import calc

    k = calc._calc_kernels()
    b, H, W, Ch, FH, FW, sh, sw, dh, dw, K, Eh, Ew = g
    steps, within, across, rows_ok, cols_ok = plan
    fold_pass = k.ws_fold_pass if rows_ok is None else k.ws_fold_pass_edge
    block = np.int64(50 * (words // 100))
    npx, win = b * Eh * Ew, FH * FW * Ch

    def folds():
        return fold_pass(R, C, b, Ch, FH, FW, *steps, Eh, Ew, K, block, within, across, rows_ok, cols_ok)

    def scan():
        tabs = k.conv_geometry(b, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew)
        return k.reuse_read_pass(1, R, C, npx, win, K, H, W, *tabs, words, b * H * W * Ch)

    if not all(np.array_equal(x, y) for x, y in zip(folds(), scan())):
        raise SystemExit(f"folds and scan differ on {g} (R={R}, C={C}, {words} words)")
    t_folds, t_scan = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        folds()
        t_folds.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        scan()
        t_scan.append(time.perf_counter() - t0)
    return statistics.median(t_folds), statistics.median(t_scan)


def measure(seed: int, n: int, repeats: int):
    rows = []
    for R, C, g, words, plan, x in layers(seed, n):
        t_folds, t_scan = timed(R, C, g, words, plan, repeats)
        rows.append((x, t_folds, t_scan))
    return rows


def evaluate(rows, fit, threshold: float) -> tuple[float, float, int]:
    """(geometric mean speed-up over the scan alone, worst, layers taken) of the rule with ``fit``."""
    logs, worst, taken = [], math.inf, 0
    for x, t_folds, t_scan in rows:
        take = float(np.dot(fit, x)) > threshold
        t = t_folds if take else t_scan
        taken += take
        logs.append(math.log(t_scan / t))
        worst = min(worst, t_scan / t)
    return math.exp(statistics.mean(logs)), worst, taken


def main(argv=None) -> int:
    from accelsim.hw.systolic import _ws_folds as WF

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calibrate", type=int, default=301, help="seed of the layers the fit comes from")
    ap.add_argument("--check", type=int, default=202, help="seed of the layers it is checked on, untouched")
    ap.add_argument("--layers", type=int, default=300, help="layers the fit comes from")
    ap.add_argument("--check-layers", type=int, default=100, help="layers it is checked on")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    print(f"cores: {os.cpu_count()}  load average: {'/'.join(f'{x:.2f}' for x in os.getloadavg())}")
    calib = measure(args.calibrate, args.layers, args.repeats)
    X = np.array([x for x, _, _ in calib])
    y = np.array([math.log(ts / tf) for _, tf, ts in calib])
    fit, *_ = np.linalg.lstsq(X, y, rcond=None)
    print(f"fit on seed {args.calibrate} ({len(calib)} layers): ANY_FIT = ({', '.join(f'{v:.3f}' for v in fit)}), "
          f"residual {float(np.std(y - X @ fit)):.3f}")
    check = measure(args.check, args.check_layers, args.repeats)
    every = math.exp(statistics.mean(math.log(ts / tf) for _, tf, ts in check))
    for name, w in (("this fit", fit), ("the code's ANY_FIT", WF.ANY_FIT)):
        gm, worst, taken = evaluate(check, w, WF.ANY_MIN_LOG)
        print(f"seed {args.check}, {name}: {gm:.2f}x over the scan alone (geometric mean), worst {worst:.2f}x, "
              f"{taken} of {len(check)} layers taken")
    best = math.exp(statistics.mean(math.log(ts / min(tf, ts)) for _, tf, ts in check))
    print(f"seed {args.check}: the folds on every layer {every:.2f}x, the faster of the two on every layer {best:.2f}x; "
          f"load average now {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
