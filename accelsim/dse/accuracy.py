"""Accuracy columns in sweeps: the simulate evaluator plus one accuracy evaluation per
``(workload, recipe, recipe parameters, seed)``, whatever the number of hardware points.

A spec's ``evaluate:`` mapping (:class:`accelsim.accuracy.spec.EvaluateFields`) or the Python API
(``sweep(space, evaluate=AccuracyEvaluator(data=..., model=nn.Module | path, recovery={...}))``)
adds to every row ``accuracy.<metric>`` (the compressed model, :func:`accelsim.accuracy.evaluate`)
and ``dense_accuracy.<metric>`` (the same model uncompressed). Both are cached in the process per
compressed graph (the same key the executors group points by, :func:`accelsim.dse.evaluate.cache_key`),
so a chunk of points that share a compressed graph evaluates it once. An evaluation that fails
(data whose shape does not match the model, labels missing, a metric that raises) makes the point
a row with ``status: error`` and the one-line reason - for every point of that graph, from the
cache - and the sweep goes on. Mean and standard deviation over seeds: :func:`seed_stats`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from accelsim.accuracy.base import AccuracyError
from accelsim.accuracy.evaluation import evaluate as _accuracy
from accelsim.accuracy.metrics import PREFIX
from accelsim.accuracy.spec import EvaluateFields
from accelsim.config import collect
from accelsim.dse.evaluate import METRICS, SimulateEvaluator, _LRU, _cgraph, _digest, _graph, _key, _split, cache_key
from accelsim.errors import AccelsimError, SweepError

DENSE_PREFIX = "dense_accuracy."


def fields_from_spec(value: Any, source: str = "spec") -> EvaluateFields:
    """The checked ``evaluate:`` mapping of a spec (SweepError naming every problem)."""
    if isinstance(value, EvaluateFields):
        return value
    problems: list[str] = []
    checked = collect(EvaluateFields, value, problems, "evaluate.")
    if problems:
        raise SweepError(f"{source}: " + "; ".join(problems))
    return checked


class AccuracyEvaluator:
    """Simulate a point (``inner``, default :class:`SimulateEvaluator`) and add its model's accuracy.

    ``data``: an ``.npz`` / token file path or (API) an iterable of batches; ``model``: an ``.onnx``
    path, an ``onnx.ModelProto`` or a torch ``nn.Module`` (default: the point's workload when it is
    an ``.onnx`` file); ``metrics``: names or callables (:mod:`accelsim.accuracy.metrics`);
    ``recovery``: ``{epochs, data, lr, ...}`` fine-tunes a torch model first
    (:mod:`accelsim.accuracy.recovery`). ``evaluations`` counts the accuracy evaluations run.
    """

    def __init__(self, data: Any = None, model: Any = None, metrics: Sequence[Any] | str = ("top1",),
                 batch_size: int = 256, seq_len: int | None = None, recovery: Mapping[str, Any] | None = None,
                 inner: Any = None, fields: EvaluateFields | Mapping[str, Any] | None = None, detail: bool = False):
        if fields is not None:
            f = fields_from_spec(fields)
            data, model, metrics, batch_size, seq_len = f.data, f.model, f.metrics, f.batch_size, f.seq_len
        if data is None:
            raise SweepError("evaluate: data is required (an .npz of x and y, a token file, or batches)")
        self.data, self.model, self.batch_size, self.seq_len = data, model, batch_size, seq_len
        self.metrics = [metrics] if isinstance(metrics, str) or callable(metrics) else list(metrics)
        self.recovery = dict(recovery) if recovery else None
        self.inner = inner if inner is not None else SimulateEvaluator(detail=detail)
        names = [m for m in self.metrics if isinstance(m, str)] + [getattr(m, "__name__", "metric") for m in self.metrics
                                                                   if callable(m)]
        self.columns = (*getattr(self.inner, "columns", METRICS), *[PREFIX + n for n in names],
                        *[DENSE_PREFIX + n for n in names], *RECIPE_COLUMNS)
        self.evaluations = 0
        self._cache = _LRU(256)
        self._dense = _LRU(64)
        self._dataset = None  # self.data parsed and checked once (a Dataset is immutable)

    def __getstate__(self) -> dict[str, Any]:
        """Sent to worker processes without its caches (each process keeps its own)."""
        state = dict(self.__dict__)
        state["_cache"] = state["_dense"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._cache, self._dense = _LRU(256), _LRU(64)

    # --- what the sweep asks of an evaluator ---------------------------------------------------
    def normalize(self, setting: Mapping[str, Any]) -> dict[str, Any]:
        norm = getattr(self.inner, "normalize", None)
        return norm(setting) if callable(norm) else dict(setting)

    def cache_key(self, setting: Mapping[str, Any]) -> str:
        own = getattr(self.inner, "cache_key", None)
        return own(setting) if callable(own) else cache_key(setting)

    def fingerprint(self, setting: Mapping[str, Any]) -> Any:
        own = getattr(self.inner, "fingerprint", None)
        named = (("data", self.data), ("model", self.model), ("recovery.data", (self.recovery or {}).get("data")))
        files = {k: _digest(Path(v)) for k, v in named if isinstance(v, (str, Path)) and Path(v).is_file()}
        return {"inner": own(setting) if callable(own) else None, "accuracy": files,
                "metrics": [m if isinstance(m, str) else getattr(m, "__name__", "metric") for m in self.metrics],
                "recovery": {k: v for k, v in (self.recovery or {}).items() if not k == "data"}}

    def validate(self, setting: Mapping[str, Any]) -> list[str]:
        own = getattr(self.inner, "validate", None)
        problems = list(own(setting) or []) if callable(own) else []
        try:
            self._check_data()
        except AccelsimError as exc:
            return problems + [f"evaluate: {str(exc).splitlines()[0]}"]
        if self.model is None:
            wl = setting.get("workload")
            if not (isinstance(wl, str) and wl.endswith(".onnx")):
                problems.append(f"evaluate.model is required: the workload {wl!r} is not an .onnx file to run")
        elif isinstance(self.model, (str, Path)) and not Path(self.model).is_file():
            problems.append(f"evaluate.model: {self.model}: model file not found")
        return problems

    def _check_data(self) -> None:
        """Load the data once (labels present where a metric needs them), before any point runs."""
        if self._dataset is not None:
            return
        from accelsim.accuracy.data import as_dataset
        from accelsim.accuracy.metrics import LABELLED, check_metrics

        check_metrics(self.metrics)
        ds = as_dataset(self.data, batch_size=self.batch_size, seq_len=self.seq_len)
        need = [m for m in self.metrics if isinstance(m, str) and m in LABELLED]
        if need:
            ds.require_labels(f"metric {need[0]}")
        self._dataset = ds

    # --- evaluation ------------------------------------------------------------------------------
    def _model_for(self, main: Mapping[str, Any]) -> Any:
        wl = main.get("workload")
        if isinstance(self.model, Mapping):  # API: one model per workload (e.g. per training seed)
            if wl not in self.model:
                raise AccuracyError(f"evaluate.model has no model for workload {wl!r}")
            return self.model[wl]
        if self.model is not None:
            return self.model
        if isinstance(wl, str) and wl.endswith(".onnx"):
            return wl
        raise AccuracyError(f"evaluate.model is required: the workload {wl!r} is not an .onnx file to run")

    def accuracy(self, setting: Mapping[str, Any]) -> dict[str, float]:
        """The accuracy columns of a setting (cached per compressed graph; a failure is cached too)."""
        main, _ = _split(setting)
        key = self.cache_key(setting)

        def compute():
            try:
                self._check_data()
                model = self._model_for(main)
                cg = _cgraph(main["workload"], main["recipe"], main["seed"], main["recipe_params"])
                self.evaluations += 1
                res = _accuracy(model, cg, self._dataset, graph=_graph(main["workload"]), metrics=self.metrics,
                                batch_size=self.batch_size, seq_len=self.seq_len,
                                recovery=self._recovery(main["seed"]))
                dense = self._dense.get_or(_key([str(model) if isinstance(model, (str, Path)) else id(model)]),
                                           lambda: self._dense_metrics(model))
                res.update(dense)
                res.update(recipe_columns(cg))
                return res
            except AccelsimError as exc:
                return exc

        out = self._cache.get_or(key, compute)
        if isinstance(out, AccelsimError):
            raise AccuracyError(f"accuracy evaluation failed: {str(out).splitlines()[0]}")
        return out

    def _recovery(self, seed: int) -> dict[str, Any] | None:
        if not self.recovery:
            return None
        rec = dict(self.recovery)
        rec.setdefault("seed", seed)
        return rec

    def _dense_metrics(self, model: Any) -> dict[str, float]:
        from accelsim.accuracy.evaluation import evaluate_dense

        res = evaluate_dense(model, self._dataset, metrics=self.metrics, batch_size=self.batch_size, seq_len=self.seq_len)
        return {DENSE_PREFIX + k[len(PREFIX):]: v for k, v in res.items() if k != PREFIX + "samples"}

    def __call__(self, setting: Mapping[str, Any]) -> dict[str, Any]:
        acc = self.accuracy(setting)  # first: a failed evaluation fails the point before simulating it
        out = self.inner(setting)
        if isinstance(out, Mapping) and set(out) == {"row", "layers"}:
            return {"row": {**out["row"], **acc}, "layers": out["layers"]}
        if isinstance(out, Mapping):
            return {**out, **acc}
        raise SweepError(f"an inner evaluator must return a mapping to add accuracy columns; got {type(out).__name__}")


#: ShrinkBench's x axes from the recipe's own totals (``CompressedGraph.stats``), counted against the
#: ORIGINAL graph, so graph steps (channel pruning, low rank) count too
RECIPE_COLUMNS = ("shrinkbench.compression_ratio", "shrinkbench.theoretical_speedup", "shrinkbench.storage_ratio")


def recipe_columns(cg) -> dict[str, float]:
    """``shrinkbench.compression_ratio`` (original weights / non-zero weights), ``.theoretical_speedup``
    (original MACs / MACs left) and ``.storage_ratio`` (32-bit dense bits / stored bits); 1 when dense."""
    st = cg.stats or {}
    return {RECIPE_COLUMNS[0]: float(st.get("shrinkbench_ratio", 1.0)),
            RECIPE_COLUMNS[1]: float(st.get("theoretical_speedup", 1.0)),
            RECIPE_COLUMNS[2]: float(st.get("compression_ratio", 1.0))}


def seed_stats(df, metrics: Sequence[str], over: Sequence[str] = ("seed",)):
    """Mean, standard deviation (ddof 1; 0 for one seed) and count of ``metrics`` over the ``over``
    columns (seeds, and e.g. per-seed workloads): one row per remaining setting, columns
    ``<metric>.mean``, ``<metric>.std``, ``n_seeds``. Only ``status == ok`` rows count."""
    import pandas as pd

    if "status" in df.columns:
        df = df[df["status"].fillna("ok") == "ok"]
    missing = [c for c in [*metrics, *over] if c not in df.columns]
    if missing:
        raise SweepError(f"seed_stats needs column(s) {', '.join(missing)}")
    skip = {"id", "status", "error", "inputs_hash", *over, *metrics, *RECIPE_COLUMNS}
    keys = [c for c in df.columns if c not in skip and not c.startswith(("accuracy.", "dense_accuracy.", "energy."))
            and c not in METRICS]
    keys = [k for k in keys if k in df.columns]
    grouped = df.groupby([k for k in keys], dropna=False, sort=False) if keys else [((), df)]
    rows = []
    for gkey, part in grouped:
        row = dict(zip(keys, gkey if isinstance(gkey, tuple) else (gkey,)))
        for m in metrics:
            vals = pd.to_numeric(part[m], errors="coerce").dropna()
            row[f"{m}.mean"] = float(vals.mean()) if len(vals) else float("nan")
            row[f"{m}.std"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
        row["n_seeds"] = len(part)
        rows.append(row)
    return pd.DataFrame(rows)


__all__ = ["DENSE_PREFIX", "AccuracyEvaluator", "fields_from_spec", "seed_stats"]
