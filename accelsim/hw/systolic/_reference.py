"""Pure NumPy / Python twins of ``_kernels.py`` (slow; for tests on small layers only).

The twin of ``simulate_layer`` is written the other way round from the kernel: it materialises
SCALE-Sim's operand, prefetch and demand matrices with NumPy (skews, flips, padding, per-fold
concatenation, as ``systolic_compute_{os,ws,is}`` build them) and runs set-based buffer models
row by row. Agreement between the two therefore checks the kernel's on-the-fly address
arithmetic, its range shortcuts, its set-table hit test and its pass skipping.
"""

from __future__ import annotations

import math

import numpy as np

from accelsim.hw.systolic import _kernels as K


def conv_geometry(batch, H, W, C, FH, FW, sh, sw, dh, dw, Eh, Ew):
    p = np.arange(batch * Eh * Ew)
    b, q = np.divmod(p, Eh * Ew)
    orow, ocol = np.divmod(q, Ew)
    pix_r, pix_c = orow * sh, ocol * sw
    pix_base = b * H * W * C + (pix_r * W + pix_c) * C
    j = np.arange(FH * FW * C)
    cr, k = np.divmod(j, FW * C)
    cc, ch = np.divmod(k, C)
    return (pix_base.astype(np.int64), pix_r.astype(np.int64), pix_c.astype(np.int64),
            ((cr * dh * W + cc * dw) * C + ch).astype(np.int64), (cr * dh).astype(np.int64), (cc * dw).astype(np.int64))


def operand_matrices(npx, win, nfilt, tabs, H, W):
    """SCALE-Sim's ifmap (npx x win, -1 past the edge), filter (win x K) and ofmap (npx x K) indices."""
    pix_base, pix_r, pix_c, win_off, win_r, win_c = tabs
    valid = (pix_r[:, None] + win_r[None, :] < H) & (pix_c[:, None] + win_c[None, :] < W)
    ifmap = np.where(valid, pix_base[:, None] + win_off[None, :], -1)
    filt = np.arange(nfilt)[None, :] * win + np.arange(win)[:, None]
    ofmap = np.arange(npx)[:, None] * nfilt + np.arange(nfilt)[None, :]
    return ifmap, filt, ofmap


def _pad(m, rows, cols):
    out = np.full((rows, cols), -1, np.int64)
    out[: m.shape[0], : m.shape[1]] = m
    return out


def _skew(m):
    rows, cols = m.shape
    out = np.full((rows + cols - 1, cols), -1, np.int64)
    for c in range(cols):
        out[c:c + rows, c] = m[:, c]
    return out


def _diag(m):
    M, N = m.shape
    out = []
    for d in range(M + N):
        for row in range(min(d, M - 1), max(0, d - N + 1) - 1, -1):
            out.append(m[row, d - row])
    return np.asarray(out, np.int64)


def _dims(df, npx, win, nfilt, R, C):
    """(Sr, Sc, T, row folds, column folds) of the operand matrices under dataflow ``df``."""
    if df == 0:
        Sr, Sc, T = npx, nfilt, win
    elif df == 1:
        Sr, Sc, T = win, nfilt, npx
    else:
        Sr, Sc, T = win, npx, nfilt
    return Sr, Sc, T, -(-Sr // R), -(-Sc // C)


def prefetch_sequence(df, operand, R, C, npx, win, nfilt, pix_base, pix_r, pix_c, win_off, win_r, win_c, H, W):
    ifm, fil, _ = operand_matrices(npx, win, nfilt, (pix_base, pix_r, pix_c, win_off, win_r, win_c), H, W)
    Sr, Sc, T, rf, cf = _dims(df, npx, win, nfilt, R, C)
    if df == 0 and operand == 0:
        return _diag(np.concatenate([_pad(ifm.T[:, f * R:(f + 1) * R], T, R) for f in range(rf)]))
    if df == 0:
        return _diag(np.concatenate([_pad(fil[:, f * C:(f + 1) * C], T, C) for f in range(cf)]))
    if df == 1 and operand == 0:
        return _diag(np.concatenate([_pad(ifm[:, f * R:(f + 1) * R], T, R) for f in range(rf)]))
    if df == 1:
        return np.concatenate([_pad(fil[:, f * C:(f + 1) * C], win, C) for f in range(cf)]).ravel()
    if operand == 0:
        return np.concatenate([_pad(ifm.T[:, f * C:(f + 1) * C], win, C) for f in range(cf)]).ravel()
    return _diag(np.concatenate([_pad(fil[f * R:(f + 1) * R, :].T, nfilt, R) for f in range(rf)]))


def ifmap_sets(df, R, C, npx, win, nfilt, pix_base, pix_r, pix_c, win_off, win_r, win_c, H, W, space, eps):
    """Twin of ``_kernels.ifmap_sets``: ``(sets, stretches)``, the ascending distinct sets holding each ifmap
    index (SCALE-Sim's prepare_hashed_buffer: valid entries grouped ``eps`` at a time, duplicates
    count) and the valid-entry counts per stretch of the prefetch order (:func:`ifmap_stretches`)."""
    seq = prefetch_sequence(df, 0, R, C, npx, win, nfilt, pix_base, pix_r, pix_c, win_off, win_r, win_c, H, W)
    sets: list[set] = [set()]
    ctr = 0
    for x in seq:
        if x >= 0:
            sets[-1].add(int(x))
            ctr += 1
        if ctr >= eps:
            sets.append(set())
            ctr = 0
    holders: list[list[int]] = [[] for _ in range(space)]
    for sid, members in enumerate(sets):
        for a in members:
            holders[a].append(sid)
    return [sorted(h) for h in holders], ifmap_stretches(df, R, C, npx, win, nfilt, seq)


def ifmap_stretches(df, R, C, npx, win, nfilt, seq):
    """Valid entries of the ifmap's materialised prefetch order ``seq`` per stretch: the part of one
    anti-diagonal of the stacked matrix inside one fold block (os, ws: stretch ``f (Tm + N - 1) + d - f Tm``)
    or one row (is, row-major): ``[before_0, in_0, before_1, in_1, ..., total]``."""
    Sr, Sc, T, rf, cf = _dims(df, npx, win, nfilt, R, C)
    if df == 2:
        M, N, Tm = cf * win, C, win
        ids = np.repeat(np.arange(M), N)
        n = M
    else:
        M, N, Tm = rf * T, R, T
        n = rf * (Tm + N - 1)
        ids = np.asarray([(row // Tm) * (Tm + N - 1) + d - (row // Tm) * Tm
                          for d in range(M + N) for row in range(min(d, M - 1), max(0, d - N + 1) - 1, -1)], np.int64)
    valid = (np.asarray(seq) >= 0).astype(np.int64)
    before = np.concatenate([[0], np.cumsum(valid)])
    out = np.zeros(2 * n + 1, np.int64)
    first = np.full(n, -1)
    for k, i in enumerate(ids):
        if first[i] < 0:
            first[i] = k
            out[2 * i] = before[k]
        out[2 * i + 1] += valid[k]
    out[-1] = before[-1]
    return out


def word_sets(df, R, C, npx, win, nfilt, pix_base, pix_r, pix_c, win_off, win_r, win_c, H, W, space, eps):
    """Twin of ``_kernels.word_sets`` over every ifmap index: the distinct sets holding each, from the
    materialised prefetch order (the same lists as :func:`ifmap_sets`; the kernel finds them from the
    geometry, one word at a time)."""
    return ifmap_sets(df, R, C, npx, win, nfilt, pix_base, pix_r, pix_c, win_off, win_r, win_c, H, W, space, eps)[0]

def demand_matrices(df, R, C, ifm, fil, ofm):
    """SCALE-Sim's three demand matrices (rows = cycles), built fold by fold."""
    npx, win = ifm.shape
    Sr, Sc, T, rf, cf = _dims(df, npx, win, fil.shape[1], R, C)
    I, F, O = [], [], []
    for fc in range(cf):
        for fr in range(rf):
            rs, cs = slice(fr * R, fr * R + R), slice(fc * C, fc * C + C)
            if df == 0:
                I.append(_skew(np.concatenate([_pad(ifm.T[:, rs], T, R), np.full((C - 1, R), -1)])))
                F.append(_skew(np.concatenate([_pad(fil[:, cs], T, C), np.full((R - 1, C), -1)])))
                O.append(_skew(np.concatenate([np.full((T - 1, C), -1), np.flip(_pad(ofm[rs, cs], R, C), 0)])))
            elif df == 1:
                I.append(_skew(np.concatenate([np.full((R, R), -1), _pad(ifm[:, rs], T, R), np.full((C - 1, R), -1)])))
                F.append(np.concatenate([np.flip(_pad(fil[rs, cs], R, C), 0), np.full((R + C + T - 2, C), -1)]))
                O.append(_skew(np.concatenate([np.full((2 * R - 1, C), -1), _pad(ofm[:, cs], T, C)])))
            else:
                I.append(np.concatenate([np.flip(_pad(ifm.T[rs, cs], R, C), 0), np.full((R + C + T - 2, C), -1)]))
                F.append(_skew(np.concatenate([np.full((R, R), -1), _pad(fil[rs, :].T, T, R), np.full((C - 1, R), -1)])))
                O.append(_skew(np.concatenate([np.full((2 * R - 1, C), -1), _pad(ofm[cs, :].T, T, C)])))
    return np.concatenate(I), np.concatenate(F), np.concatenate(O)


class _UserRead:
    def __init__(self, seq, total, bw):
        self.total, self.bw = total, bw
        self.act = math.ceil(total * 0.5)
        self.pre = total - self.act
        eps = math.ceil(total / 100)
        self.sets = [set()]
        ctr = 0
        for x in seq:
            if x >= 0:
                self.sets[-1].add(int(x))
                ctr += 1
            if ctr >= eps:
                self.sets.append(set())
                ctr = 0
        n = len(self.sets)
        self.nA = min(math.ceil(self.act / eps), n)
        self.nP = min(math.ceil(self.pre / eps), n - self.nA)
        self.n = n
        self.s, self.e = 0, self.nA
        n0 = min(math.ceil(self.act / bw), math.ceil(len(seq) / bw))
        self.acc = n0 * bw
        self.start, self.last, self.stop = -n0, -1, -1

    def hit(self, a):
        ids = range(self.s, self.e) if self.s < self.e else list(range(self.s, self.n)) + list(range(self.e))
        return any(a in self.sets[i] for i in ids)

    def service(self, row, cycle):
        offset = 1
        for a in row:
            if a < 0:
                continue
            while not self.hit(a):
                self.s = (self.s + self.nP) % self.n
                self.e = (self.s + self.nA) % self.n
                k = math.ceil(self.pre / self.bw)
                self.acc += k * self.bw
                self.last += k + 1
                self.stop = max(self.stop, self.last)
                pot = self.last - (cycle + offset)
                offset += pot
                if pot > 0:
                    offset += pot
        return cycle + offset


class _CalcRead:
    def __init__(self, total):
        self.eps = total // 100
        self.sets: list[set] = []
        self.cur_set: set = set()
        self.cur, self.rs, self.re = 0, 0, 49
        self.done, self.lps, self.lpe = False, -2, -1
        self.first, self.seen = 0, False
        self.acc = 0
        self.trace: list[int] = []

    def _prefetch(self, n_rows):
        self.trace.extend(self.lps + i + 1 for i in range(n_rows))

    def service(self, row, cycle):
        if not self.seen and row.max() > -1:
            self.first, self.seen = cycle, True
        for a in row:
            if a < 0:
                continue
            end = min(self.cur, self.re + 1)
            if any(a in self.sets[i] for i in range(self.rs, end)) or a in self.cur_set:
                continue
            self.cur_set.add(int(a))
            self.acc += 1
            if len(self.cur_set) == self.eps:
                self.sets.append(self.cur_set)
                self.cur_set = set()
                self.cur += 1
                if self.cur == self.re + 1:
                    if not self.done:
                        self.lpe = self.first - 2
                        cn = math.ceil(50 * self.eps / 10)
                        self.lps = self.lpe - cn + 1
                        self.done = True
                    else:
                        cn = max(1, self.lpe - self.lps + 1)
                    self._prefetch(cn)
                    self.rs += 50
                    self.re += 50
                    self.lps, self.lpe = self.lpe + 1, cycle
        return cycle + 1

    def finish(self):
        last = self.cur if self.cur_set else self.cur - 1
        if not self.done:
            self.lpe = -2
            cn = math.ceil((last + 1) * self.eps / 10)
            self.lps = self.lpe - cn + 1
        else:
            cn = self.lpe - self.lps + 1
        if cn >= 1:
            self._prefetch(cn)
        return self.trace[0], self.trace[-1]


class _Write:
    def __init__(self, total, bw):
        self.total, self.bw = total, bw
        self.act = math.ceil(total * 0.5)
        self.drain = total - self.act
        self.free = total
        self.lines: list[int] = []
        self.partial = 0
        self.dline = 0
        self.dend = 0
        self.acc = 0
        self.cycles: list[int] = []

    def _commit_partial(self):
        if self.partial:
            self.lines.append(self.partial)
            self.partial = 0

    def _drain(self, start):
        end = min(self.dline + math.ceil(self.drain / self.bw), len(self.lines))
        num = end - self.dline
        if num == 0:
            return start
        data = num * self.bw - (self.bw - self.lines[end - 1])
        self.acc += data
        self.cycles.extend(start + x for x in range(num))
        self.free += data
        self.dline = end
        return start + num - 1

    def service(self, row, cycle):
        cur = cycle
        for a in row:
            if a < 0:
                continue
            self.partial += 1
            self.free -= 1
            if self.partial == self.bw:
                self.lines.append(self.bw)
                self.partial = 0
            if cur < self.dend:
                if self.free <= 0:
                    cur = self.dend
            elif self.free < self.act:
                self._commit_partial()
                self.dend = self._drain(cur)
        return cur

    def finish(self, cycle):
        self._commit_partial()
        while self.dline < len(self.lines):
            self.dend = self._drain(cycle)
            cycle = self.dend + 1


def simulate_layer(df, R, C, npx, win, nfilt, H, W, pix_base, pix_r, pix_c, win_off, win_r, win_c,
                   user_bw, sizes, bws, *unused, **kw):
    """Twin of ``_kernels.simulate_layer`` (same leading arguments; the set-table arguments are ignored)."""
    tabs = (pix_base, pix_r, pix_c, win_off, win_r, win_c)
    ifm, fil, ofm = operand_matrices(npx, win, nfilt, tabs, H, W)
    Id, Fd, Od = demand_matrices(df, R, C, ifm, fil, ofm)
    if user_bw:
        rd = [_UserRead(prefetch_sequence(df, o, R, C, npx, win, nfilt, *tabs, H, W), sizes[o], bws[o]) for o in (0, 1)]
    else:
        rd = [_CalcRead(sizes[0]), _CalcRead(sizes[1])]
    wr = _Write(sizes[2], bws[2] if user_bw else C)
    stall = 0
    outs = [[], [], []]
    for i in range(Id.shape[0]):
        cycle = i + stall
        oi = rd[0].service(Id[i], cycle)
        of_ = rd[1].service(Fd[i], cycle)
        oo = wr.service(Od[i], cycle)
        outs[0].append(oi)
        outs[1].append(of_)
        outs[2].append(oo)
        stall += max(oi - cycle - 1, of_ - cycle - 1, oo - cycle)
    wr.finish(outs[2][-1])
    res = np.zeros(K.N_RESULTS, np.int64)
    res[K.R_TOTAL] = max(outs[2])
    res[K.R_STALL] = stall
    res[K.R_IF_DRAM], res[K.R_FI_DRAM], res[K.R_OF_DRAM] = rd[0].acc, rd[1].acc, wr.acc
    for o, (a, b) in enumerate(((K.R_IF_DRAM_START, K.R_IF_DRAM_STOP), (K.R_FI_DRAM_START, K.R_FI_DRAM_STOP))):
        if user_bw:
            res[a], res[b] = rd[o].start, rd[o].stop
        else:
            res[a], res[b] = rd[o].finish()
    res[K.R_OF_DRAM_START], res[K.R_OF_DRAM_STOP] = (min(wr.cycles), max(wr.cycles)) if wr.cycles else (0, 0)
    for mat, o, (a, b) in ((Id, 0, (K.R_IF_SRAM_START, K.R_IF_SRAM_STOP)), (Fd, 1, (K.R_FI_SRAM_START, K.R_FI_SRAM_STOP)),
                           (Od, 2, (K.R_OF_SRAM_START, K.R_OF_SRAM_STOP))):
        rows = np.nonzero((mat >= 0).any(axis=1))[0]
        res[a], res[b] = outs[o][rows[0]], outs[o][rows[-1]]
    return res


def skip_zero_fold_cycles(df, R, C, npx, mask):
    nf, win = mask.shape
    Sr, Sc, T, rf, cf = _dims(df, npx, win, nf, R, C)
    over = R + C - 2 if df == 0 else 2 * R + C - 2
    total = skipped = steps = 0
    for fc in range(cf):
        for fr in range(rf):
            if df == 0:
                t = int(mask[fc * C:(fc + 1) * C].any(axis=0).sum())
            elif df == 1:
                t = T if mask[fc * C:(fc + 1) * C, fr * R:(fr + 1) * R].any() else 0
            else:
                t = int(mask[:, fr * R:(fr + 1) * R].any(axis=1).sum())
            if t:
                total += t + over
            else:
                skipped += 1
            steps += t
    return np.array([total - 1 if total else 0, rf * cf * (T + over) - 1, skipped, steps, rf * cf * T], np.int64)


# --- twins of the analytic memory model (accelsim/hw/systolic/analytic.py, §8) ---------------------


def epoch_cache_fetches(stream, block, n_in=0):
    """Brute-force CALC read buffer on an explicit address stream: an access is a fetch unless the
    address was used since the current epoch began; an epoch ends after ``block`` fetches
    (``n_in`` fetches of the current epoch already made). The law §8.3 starts from."""
    last_use = {}
    epoch_start = 0
    fetched = 0
    for i, a in enumerate(stream):
        if last_use.get(a, -1) < epoch_start:
            fetched += 1
            n_in += 1
            if n_in == block:
                n_in = 0
                epoch_start = i + 1
        last_use[a] = i
    return fetched


def sample_accesses(npx, win, n):
    if npx * win <= n:
        i = np.arange(npx * win)
        return i // win, i % win
    k = np.arange(1, n + 1)
    from accelsim.hw.systolic.analytic import R2_A1, R2_A2

    x, y = 0.5 + k * R2_A1, 0.5 + k * R2_A2
    return ((x - np.floor(x)) * npx).astype(np.int64), ((y - np.floor(y)) * win).astype(np.int64)


def access_index(df, p, t, R, C, npx, win):
    """Vectorised sweep position of ifmap accesses (pixel ``p``, window element ``t``)."""
    p, t = np.asarray(p), np.asarray(t)
    if df == 0:
        fr, c = np.divmod(p, R)
        return fr * R * win + (t + c) * np.minimum(R, npx - fr * R) + c
    if df == 1:
        fr, c = np.divmod(t, R)
        return fr * R * npx + (p + c) * np.minimum(R, win - fr * R) + c
    fc, pc = np.divmod(p, C)
    fr, tr = np.divmod(t, R)
    return fc * C * win + (fr * R + R - 1 - tr) * np.minimum(C, npx - fc * C) + pc


def ifmap_reuse_samples(df, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, n_samples):
    """Previous and last use of the sampled accesses, found by address equality over the whole
    im2col ifmap (the kernel enumerates the kernel taps that can read the same word instead)."""
    npx, win = batch * Eh * Ew, FH * FW * Ch
    ifm, _, _ = operand_matrices(npx, win, 1, conv_geometry(batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew), H, W)
    pos = access_index(df, np.arange(npx)[:, None], np.arange(win)[None, :], R, C, npx, win)
    cur, prev, last = [], [], []
    for p, t in zip(*sample_accesses(npx, win, n_samples)):
        a = ifm[p, t]
        if a < 0:
            continue
        same = pos[ifm == a]
        before = same[same < pos[p, t]]
        cur.append(pos[p, t])
        prev.append(before.max() if before.size else -1)
        last.append(same.max())
    return np.array(cur, np.int64), np.array(prev, np.int64), np.array(last, np.int64)


def ifmap_counts(batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew):
    npx, win = batch * Eh * Ew, FH * FW * Ch
    ifm, _, _ = operand_matrices(npx, win, 1, conv_geometry(batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew), H, W)
    return int((ifm >= 0).sum()), int(np.unique(ifm[ifm >= 0]).size)


def reuse_fetches(cur, prev, last, w_first, w_reuse, length, block, n_sweeps, max_sweeps):
    total = c0 = p_c0 = p_rate = f = 0.0
    first = prev < 0

    def fetches(rate, sweep):
        now = np.floor((c0 + rate * cur) / block)
        reuse = (now > np.floor((c0 + rate * np.where(first, 0, prev)) / block)) & ~first
        if sweep == 0:
            back = first
        else:
            back = first & (now > np.floor((p_c0 + p_rate * last) / block))
        return w_first * back.sum() + w_reuse * reuse.sum()

    s = 0
    while s < min(n_sweeps, max_sweeps):
        f = fetches(0.0, s)
        for _ in range(60):
            nxt = fetches(f / length, s)
            if nxt <= f:
                break
            f = nxt
        total += f
        p_c0, p_rate = c0, f / length
        c0 += f
        s += 1
    return total + f * (n_sweeps - s)


def distinct_fetches(distinct, repeats, block, n_in):
    """By brute force: the explicit stream of ``repeats`` passes over ``distinct`` addresses."""
    stream = np.tile(np.arange(distinct), repeats)
    fetched = epoch_cache_fetches(stream.tolist(), block, n_in)
    return fetched, (n_in + fetched) % block


# --- twins of the CALC-mode event kernels (ofmap_events, _group_reuse.py's passes, §3.7) --------


def ofmap_pass(df, R, C, npx, win, nfilt, o_tot, o_bw):
    """Twin of ``_kernels.ofmap_events`` / ``_kernels.ofmap_pass``: SCALE-Sim's OFMAP demand matrix
    built with NumPy and written row by row into the pure-Python write buffer."""
    ifm = np.arange(npx * win, dtype=np.int64).reshape(npx, win)
    fil = np.arange(win * nfilt, dtype=np.int64).reshape(win, nfilt)
    ofm = np.arange(npx * nfilt, dtype=np.int64).reshape(npx, nfilt)
    _, _, Od = demand_matrices(df, R, C, ifm, fil, ofm)
    wr = _Write(o_tot, o_bw)
    stall = 0
    outs = []
    ch_rows, ch_cum = [0], [0]
    for i in range(Od.shape[0]):
        cycle = i + stall
        oo = wr.service(Od[i], cycle)
        outs.append(oo)
        if oo > cycle:
            stall += oo - cycle
            ch_rows.append(i + 1)
            ch_cum.append(stall)
    wr.finish(outs[-1])
    valid = np.nonzero((Od >= 0).any(axis=1))[0]
    stats = np.array([max(outs), stall, wr.acc, min(wr.cycles) if wr.cycles else 0, max(wr.cycles) if wr.cycles else 0,
                      outs[valid[0]] if valid.size else 0, outs[valid[-1]] if valid.size else 0, Od.shape[0]], np.int64)
    return stats, np.array(ch_rows, np.int64), np.array(ch_cum, np.int64)


def reuse_read_pass(df, R, C, npx, win, nfilt, H, W, pix_base, pix_r, pix_c, win_off, win_r, win_c, words, space):
    """Twin of ``_group_reuse.os_reuse_pass`` / ``ws_is_reuse_pass`` / ``_kernels.reuse_read_pass``: SCALE-Sim's IFMAP demand
    matrix built with NumPy, read row by row through the epoch cache (§3.3). Returns
    ``(stats, event_rows)`` with stats = [fetches, events, first valid row, last valid row]."""
    tabs = (pix_base, pix_r, pix_c, win_off, win_r, win_c)
    ifm, fil, ofm = operand_matrices(npx, win, nfilt, tabs, H, W)
    Id, _, _ = demand_matrices(df, R, C, ifm, fil, ofm)
    block = 50 * (words // 100)
    last_use: dict[int, int] = {}
    epoch_start, n_in, fetched, pos = 0, 0, 0, 0
    events = []
    for row in range(Id.shape[0]):
        for a in Id[row]:
            if a < 0:
                continue
            if last_use.get(int(a), -1) < epoch_start:
                fetched += 1
                n_in += 1
                if n_in == block:
                    n_in = 0
                    epoch_start = pos + 1
                    events.append(row)
            last_use[int(a)] = pos
            pos += 1
    valid = np.nonzero((Id >= 0).any(axis=1))[0]
    first, last = (int(valid[0]), int(valid[-1])) if valid.size else (-1, -1)
    return np.array([fetched, len(events), first, last], np.int64), np.array(events, np.int64)


# --- twins of the USER-mode analytic kernels (analytic.py, docs/models/systolic.md §8.8) ----------

def tri_count(a, b, d):
    return sum(1 for x in range(max(a, 0)) for y in range(max(b, 0)) if x + y < d)


def diag_valid_before(M, N, r0, c0, d, c):
    """Entries (x, y) of the M x N matrix, not padding (x >= r0 and y >= c0), before (d - c, c) in
    anti-diagonal order (diagonal x + y ascending, column ascending within one)."""
    x, y = np.meshgrid(np.arange(M), np.arange(N), indexing="ij")
    valid = ~((x >= r0) & (y >= c0))
    before = (x + y < d) | ((x + y == d) & (y < c))
    return int((valid & before).sum())


def rowmajor_valid_before(N, r0, c0, pos):
    rows = pos // N + 1
    x, y = np.meshgrid(np.arange(rows), np.arange(N), indexing="ij")
    valid = ~((x >= r0) & (y >= c0))
    return int((valid & (x * N + y < pos)).sum())


def slides_to_cover(U, s, nl, nA, nP):
    """Slide a circular window of nA sets by nP until it holds set s (SCALE-Sim's new_prefetch loop)."""
    j = 0
    while not any((U + i) % nl == s for i in range(nA)):
        U = (U + nP) % nl
        j += 1
    return j


def late_offset(cycle, n_slides, k0, period):
    last = k0 * period - 1
    offset = 1
    for _ in range(n_slides):
        last += period
        pot = last - (cycle + offset)
        offset += pot
        if pot > 0:
            offset += pot
    return offset - 1


def read_events(df, o, R, C, batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew, nfilt, size):
    """Twin of ``analytic.read_events``: SCALE-Sim's read buffer replayed on the materialised
    demand and prefetch matrices (address by address, every set holding an address looked up),
    recording the rows at which the window slides and how often."""
    npx, win = batch * Eh * Ew, FH * FW * Ch
    tabs = conv_geometry(batch, H, W, Ch, FH, FW, sh, sw, dh, dw, Eh, Ew)
    ifm, fil, ofm = operand_matrices(npx, win, nfilt, tabs, H, W)
    dem = demand_matrices(df, R, C, ifm, fil, ofm)[o]
    buf = _UserRead(prefetch_sequence(df, o, R, C, npx, win, nfilt, *tabs, H, W), size, 1)
    rows, ns = [], []
    for i in range(dem.shape[0]):
        before = buf.last
        buf.service(dem[i], 0)
        if buf.last != before:
            rows.append(i)
            ns.append((buf.last - before) // (buf.pre + 1))
    return np.asarray(rows, np.int64), np.asarray(ns, np.int64)


def user_timing(df, R, C, npx, win, nfilt, of_size, of_bw, rows0, ns0, period0, rows1, ns1, period1):
    """Twin of ``analytic.user_timing``: every demand row walked, the OFMAP buffer by ``_Write``."""
    ofm = np.arange(npx)[:, None] * nfilt + np.arange(nfilt)[None, :]
    Od = demand_matrices(df, R, C, np.zeros((npx, win), np.int64), np.zeros((win, nfilt), np.int64), ofm)[2]
    wr = _Write(of_size, of_bw)
    ev = [dict(zip(rows0.tolist(), ns0.tolist())), dict(zip(rows1.tolist(), ns1.tolist()))]
    k = [0, 0]
    per = [period0, period1]
    stall = 0
    outs = []
    for i in range(Od.shape[0]):
        cycle = i + stall
        s = 0
        for o in (0, 1):
            n = ev[o].get(i, 0)
            if n:
                s = max(s, late_offset(cycle, n, k[o], per[o]))
                k[o] += n
        oo = wr.service(Od[i], cycle)
        outs.append(oo)
        stall += max(s, oo - cycle)
    wr.finish(outs[-1])
    cyc = (min(wr.cycles), max(wr.cycles)) if wr.cycles else (0, 0)
    return np.asarray([max(outs), stall, wr.acc, cyc[0], cyc[1]], np.int64)
