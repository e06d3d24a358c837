"""Where sweep points run: in this process, in local processes, on any ``concurrent.futures``
executor, or on a Dask distributed cluster (imported only when used).

Work is sent as *chunks* of points that share a compressed graph (same workload, recipe and seed),
so each worker process compresses a network once and re-simulates it on many configs (see the
per-process caches in :mod:`accelsim.dse.evaluate`). A chunk returns one outcome per point:
``(id, status, error, row, layers)``. A point whose evaluation raises an
:class:`~accelsim.errors.AccelsimError` is a result with ``status == "error"``; any other
exception is a bug in the evaluator and stops the sweep with a :class:`~accelsim.errors.SweepError`
(points already finished stay in the store, so the sweep can be resumed).
"""

from __future__ import annotations

import functools
import math
import os
import signal
import sys
import threading
import time
from collections import deque
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from accelsim.allocator import tune_allocator
from accelsim.errors import AccelsimError, SweepError, interrupted

Outcome = tuple  # (id, status, error, row, layers)
DEFAULT_TIMEOUT_S = 10.0
PARENT_POLL_S = 1.0  # how often a worker without PR_SET_PDEATHSIG checks that its driver is alive
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def run_one(evaluate: Callable, pid: str, setting: Mapping[str, Any]) -> Outcome:
    """Evaluate one point; normalize the evaluator's answer into an outcome."""
    try:
        out = evaluate(dict(setting))
    except AccelsimError as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return (pid, "error", text, {}, None)
    except Exception as exc:  # a bug: report it, picklable, and let the driver stop the sweep
        stop = interrupted(exc)
        if stop is not None:  # Ctrl-C (SIGTERM) inside a compiled kernel: an interrupt, not a failed point
            raise type(stop)() from None
        return (pid, "crash", f"{type(exc).__name__}: {exc}".splitlines()[0], {}, None)
    row, layers = _normalize(out)
    from accelsim.dse.store import metric_problem

    problem = metric_problem(row)
    for lrow in layers or ():
        if problem:
            break
        problem = metric_problem(lrow)
        if problem and isinstance(lrow, Mapping) and "layer" in lrow:
            problem = f"layer {lrow['layer']!r}: {problem}"
    if problem:  # NaN, infinite, or a negative latency / energy / count: the point fails with the reason
        return (pid, "error", f"evaluator output: {problem}", {}, None)
    return (pid, "ok", None, row, layers)


def _normalize(out: Any) -> tuple[dict, list | None]:
    from accelsim.report.results import NetworkResult

    if isinstance(out, NetworkResult):
        tot = out.total
        row = {k: v for k, v in tot.items() if not isinstance(v, dict)}
        row.update({f"energy.{k}": v for k, v in tot.get("energy_breakdown_j", {}).items()})
        layers = []
        for r in out.layers:
            d = r.to_dict()
            lrow = {"layer": d.pop("name")}
            lrow.update({k: v for k, v in d.items() if not isinstance(v, (dict, list))})
            lrow.update({f"energy.{k}": v for k, v in r.energy_breakdown_j.items()})
            layers.append(lrow)
        return row, layers
    if isinstance(out, Mapping) and set(out) == {"row", "layers"}:
        return dict(out["row"]), out["layers"]
    if isinstance(out, Mapping):
        return dict(out), None
    raise SweepError(f"an evaluate function must return a mapping of metrics or a NetworkResult; got {type(out).__name__}")


def _pdeathsig() -> bool:
    """Ask Linux to send this process SIGTERM when its parent dies (``prctl(PR_SET_PDEATHSIG)``).

    False where that is not available (not Linux, no libc through ctypes, the call refused).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _alive(pid: int) -> bool:
    if os.getppid() == pid:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def die_with_parent(parent_pid: int) -> None:
    """Worker initializer of the local process pool: exit when the driver process ``parent_pid`` dies.

    Without it, killing only the driver of a ``--workers N`` sweep (SIGKILL, a crashed terminal)
    left its workers running their chunks for minutes. The worker's parent is the driver under the
    ``fork`` and ``spawn`` start methods: on Linux the kernel then sends the worker SIGTERM as soon as
    the driver dies. Elsewhere (or under ``forkserver``, whose children have another parent) a daemon
    thread checks every :data:`PARENT_POLL_S` seconds that the driver still exists and exits the
    worker (``os._exit``) when it does not.

    The worker first takes SIGTERM back to its default (it dies) and ignores SIGINT: a forked worker inherits the
    command line's handler that turns SIGTERM into an exception, which the pool's worker loop caught and sent back
    as a result, so a worker told to stop (the driver's death, the pool shutting down after a lost worker) lived on,
    blocked writing to a pipe no one read, holding the sweep's lock. Ctrl-C reaches the whole process group: the
    driver stops its workers itself.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if os.getppid() == parent_pid and _pdeathsig():
        if os.getppid() != parent_pid:  # the driver died before the request took effect
            os._exit(1)
        return

    def watch() -> None:
        while _alive(parent_pid):
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="accelsim-parent-watch", daemon=True).start()


_EVAL_THREAD = None


def _in_dask_worker() -> bool:
    if "distributed" not in sys.modules:
        return False
    try:
        from distributed import get_worker

        get_worker()
        return True
    except (ImportError, ValueError):
        return False


def run_chunk(evaluate: Callable, items: Sequence[tuple[str, Mapping[str, Any]]],
              expected: Mapping[str, Any] | None = None) -> list[Outcome]:
    """Evaluate several points in one task (the unit sent to workers). ``expected``: the driver's
    :func:`environment`, which a Dask worker's must equal (one that joined after the sweep's check, on another
    checkout, raises a SweepError before computing anything).

    The points run right here, except in a Dask worker: it runs tasks in a thread that already has
    its own malloc arena (and Dask sets ``MALLOC_TRIM_THRESHOLD_`` low for its workers), so there
    they run on one evaluation thread per worker process, started after :func:`tune_allocator`,
    which shares the tuned main arena (a worker has one task thread in the recommended
    ``threads_per_worker=1`` setup, so nothing is serialized that would have run in parallel).
    """
    global _EVAL_THREAD
    if expected is not None:
        _check_environment(expected, _own_environment(), "this Dask worker")
    tuned = tune_allocator()
    if not tuned or threading.current_thread() is threading.main_thread() or not _in_dask_worker():
        return [run_one(evaluate, pid, setting) for pid, setting in items]
    if _EVAL_THREAD is None:
        from concurrent.futures import ThreadPoolExecutor

        _EVAL_THREAD = ThreadPoolExecutor(1, thread_name_prefix="accelsim-eval")
    return _EVAL_THREAD.submit(lambda: [run_one(evaluate, pid, setting) for pid, setting in items]).result()


def is_dask_client(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] == "distributed" and hasattr(obj, "submit") and hasattr(obj, "scheduler_info")


def connect(address: str, timeout: float = DEFAULT_TIMEOUT_S):
    """A Dask Client for ``tcp://HOST:PORT``; SweepError within ``timeout`` seconds if unreachable."""
    try:
        from distributed import Client
    except ImportError:
        raise SweepError("--scheduler needs Dask distributed: pip install 'accelsim[dask]'") from None
    if not isinstance(address, str) or "://" not in address:
        raise SweepError(f"scheduler address must look like tcp://HOST:PORT; got {address!r}")
    # distributed's timeout bounds the TCP connect, not the handshake: a port that accepts and never answers (a
    # dashboard, an HTTP server) would hang, so the whole construction runs under a deadline of its own
    box: dict[str, Any] = {}

    def make() -> None:
        try:
            box["client"] = Client(address, timeout=timeout)
        except BaseException as exc:  # noqa: BLE001 - reported below
            box["exc"] = exc

    thread = threading.Thread(target=make, name="accelsim-dask-connect", daemon=True)
    thread.start()
    thread.join(timeout + 5.0)
    if thread.is_alive():
        raise SweepError(f"no Dask scheduler answered at {address} within {timeout:g} s (is it a scheduler's port, "
                         "not its dashboard's?)")
    exc = box.get("exc")
    if isinstance(exc, (OSError, TimeoutError)):
        raise SweepError(f"cannot reach the Dask scheduler at {address} within {timeout:g} s ({type(exc).__name__})") from None
    if exc is not None:  # malformed addresses raise ValueError/TypeError inside distributed
        raise SweepError(f"cannot connect to the Dask scheduler at {address}: {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}"[:300]) from None
    client = box["client"]
    try:
        client.wait_for_workers(1, timeout=timeout)
    except Exception:
        client.close()
        raise SweepError(f"the Dask scheduler at {address} has no workers (waited {timeout:g} s)") from None
    return client


def environment() -> dict[str, Any]:
    """What a process computing sweep points must share with the driver: accelsim's version, a digest of its
    source (a worker running another checkout computes other numbers under the same version) and whether its
    bundled data is found."""
    import hashlib

    from accelsim._version import __version__
    from accelsim.paths import ARCH_DIR

    root = Path(__file__).resolve().parent.parent  # the accelsim package
    digest = hashlib.sha1()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return {"version": __version__, "source": digest.hexdigest()[:12], "package": str(root),
            "data": ARCH_DIR.is_dir() and any(ARCH_DIR.rglob("*.yaml"))}


@functools.lru_cache(maxsize=1)
def _own_environment() -> dict[str, Any]:
    """This process's :func:`environment`, computed once (a worker checks every chunk against the driver's)."""
    return environment()


def check_cluster(client) -> Mapping[str, Any]:
    """Refuse a Dask cluster whose workers run another accelsim than the driver's (version or source) or cannot
    find its bundled data: their points would be wrong under the driver's version, or every one an error row.
    Returns the driver's :func:`environment` (each chunk checks it again where it runs: a worker may join later)."""
    here = _own_environment()
    try:
        theirs = client.run(environment)
    except Exception as exc:  # noqa: BLE001 - a worker that cannot even import accelsim
        raise SweepError(f"the Dask workers cannot run accelsim ({type(exc).__name__}: "
                         f"{(str(exc).splitlines() or [''])[0][:200]}); install the driver's accelsim where they run") from None
    for worker, env in sorted(theirs.items()):
        _check_environment(here, env, f"Dask worker {worker}")
    return here


def _check_environment(here: Mapping[str, Any], env: Mapping[str, Any], who: str) -> None:
    if (env["version"], env["source"]) != (here["version"], here["source"]):
        raise SweepError(f"{who} runs accelsim {env['version']} (source {env['source']}, {env['package']}), the "
                         f"driver {here['version']} (source {here['source']}, {here['package']}): run the workers on "
                         "the driver's accelsim")
    if not env["data"]:
        raise SweepError(f"{who} finds no bundled arch configs (accelsim from {env['package']}): install accelsim "
                         "there as the driver has it (pip install -e), or set ACCELSIM_DATA")


def _chunks(items: list, key: Callable[[Any], str], workers: int,
            affinity: Callable[[Any], tuple] | None = None) -> list[list]:
    """Group points sharing a cache key, then cut each group into guided chunks.

    Guided self-scheduling: each chunk takes ``ceil(remaining / (2 * workers))`` points of its
    group (at most 32, at least 1), so the first chunks are large (little per-task overhead) and
    the last ones single points (no worker idles at the end while another finishes a big chunk).
    With ``affinity`` (a setting -> ``(run, order)``), the points of one run share work in a process (a
    systolic array's ifmap passes across column counts, :func:`accelsim.dse.evaluate.affinity_key`): they are
    put next to each other in ``order``, and a chunk takes whole runs while they fit its size (a run longer than
    the size is cut), so a run's shared work is done by one worker, not by each worker that gets a piece of it.
    """
    runs_of = {id(it): affinity(it[1]) for it in items} if affinity else {}  # (each computed once)
    sort = (lambda it: (key(it[1]), *runs_of[id(it)])) if affinity else (lambda it: key(it[1]))
    ordered = sorted(items, key=sort)
    groups: list[list] = []
    current_key = None
    for it in ordered:
        k = key(it[1])
        if not groups or k != current_key:
            groups.append([])
            current_key = k
        groups[-1].append(it)
    share = 2 * max(1, workers)
    chunks = []
    for group in groups:
        runs: list[list] = []
        for it in group:  # consecutive points of one run (every point its own run without affinity)
            if affinity and runs and runs_of[id(it)][0] == runs_of[id(runs[-1][0])][0]:
                runs[-1].append(it)
            else:
                runs.append([it])
        remaining = len(group)
        runs = deque(runs)
        while runs:
            size = max(1, min(32, math.ceil(remaining / share)))
            chunk: list = []
            while runs and len(chunk) + len(runs[0]) <= size:
                chunk += runs.popleft()
            if not chunk:  # the next run is longer than a chunk: cut it
                chunk, runs[0] = runs[0][:size], runs[0][size:]
            chunks.append(chunk)
            remaining -= len(chunk)
    return chunks


def _workers_of(executor: Any) -> int:
    for name in ("_max_workers", "max_workers"):
        n = getattr(executor, name, None)
        if isinstance(n, int) and n > 0:
            return n
    return os.cpu_count() or 1


#: local worker processes per CPU at most (:func:`max_workers`)
WORKERS_PER_CPU = 4


def max_workers() -> int:
    """The most local worker processes a sweep starts: :data:`WORKERS_PER_CPU` x ``os.cpu_count()``.

    A point is a CPU-bound simulation in one thread, so workers beyond the CPU count add memory (each is a
    Python process with its own caches of compressed graphs and models) and no speed; 4x leaves headroom for
    a CPU count that under-reports or an evaluator that waits on I/O. A typo such as ``--workers 100000``
    would fork until the machine stalls: it is refused instead (pass a ``concurrent.futures`` executor of your
    own, or a Dask cluster, to run more).
    """
    return WORKERS_PER_CPU * (os.cpu_count() or 1)


def check_workers(n: int, label: str = "the number of workers") -> None:
    """Refuse a local worker count below 1 or above :func:`max_workers` (one line naming ``label``)."""
    if n < 1:
        raise SweepError(f"{label} must be >= 1; got {n}")
    limit = max_workers()
    if n > limit:
        raise SweepError(f"{label} must be <= {limit} ({WORKERS_PER_CPU} x the {os.cpu_count() or 1} CPUs of this "
                         f"machine: more local processes add memory, not speed); got {n}")


def check_executor(executor: Any) -> None:
    """Refuse a bool executor (``True == 1``: it would run serially without a word) and a worker count
    outside 1 .. :func:`max_workers`."""
    if isinstance(executor, bool):
        raise SweepError(f"executor must be None, 'serial', a worker count, an Executor or a Dask Client; got {executor!r}")
    if isinstance(executor, int):
        check_workers(executor, "executor (a number of local worker processes)")


def execute(
    evaluate: Callable,
    items: list[tuple[str, dict[str, Any]]],
    executor: Any,
    on_outcome: Callable[[Outcome], None],
    key: Callable[[Mapping[str, Any]], str],
    timeout: float = DEFAULT_TIMEOUT_S,
    affinity: Callable[[Mapping[str, Any]], tuple] | None = None,
) -> None:
    """Run every ``(id, setting)`` in ``items`` on ``executor``; call ``on_outcome`` as each finishes.

    ``executor`` is None / "serial", an int N or "processes" (a local process pool, N workers),
    a ``concurrent.futures.Executor``, a ``distributed.Client`` or a ``tcp://`` scheduler address.
    ``affinity``: how points share work in one process (:func:`_chunks`); None: no sharing assumed.
    """
    check_executor(executor)
    if not items:
        return
    if executor is None or executor == "serial" or executor == 1:
        tune_allocator()
        for pid, setting in items:
            on_outcome(run_one(evaluate, pid, setting))
        return
    if isinstance(executor, int) or executor == "processes":
        n = executor if isinstance(executor, int) else (os.cpu_count() or 1)
        check_workers(n)
        hook = threading.excepthook
        try:
            with ProcessPoolExecutor(max_workers=n, initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
                try:
                    _run_futures(pool, evaluate, items, on_outcome, key, n, affinity)
                except BaseException:
                    # the driver stops (SIGTERM, an error): its workers stop too, not after their running chunks
                    # (the pool's exit waits for them; Ctrl-C reaches the whole process group, SIGTERM the driver
                    # only). The pool's manager thread then fails the futures already cancelled: Python 3.11's
                    # InvalidStateError, printed as a traceback, is nothing to report
                    threading.excepthook = _ignoring_cancelled(hook)
                    for proc in list((getattr(pool, "_processes", None) or {}).values()):
                        proc.terminate()
                    raise
        finally:
            threading.excepthook = hook
        return
    if isinstance(executor, str):
        client = connect(executor, timeout)
        try:
            _run_dask(client, evaluate, _absolute_paths(items), on_outcome, key, affinity, check_cluster(client))
        finally:
            client.close()
        return
    if is_dask_client(executor):
        _run_dask(executor, evaluate, _absolute_paths(items), on_outcome, key, affinity, check_cluster(executor))
        return
    if isinstance(executor, Executor):
        _run_futures(executor, evaluate, items, on_outcome, key, _workers_of(executor), affinity)
        return
    raise SweepError(f"executor must be None, 'serial', a worker count, an Executor or a Dask Client; got {type(executor).__name__}")


def _ignoring_cancelled(hook):
    """``threading.excepthook`` that drops concurrent.futures' InvalidStateError on a cancelled future (a pool's
    manager thread failing the futures of a stopped sweep) and passes everything else to ``hook``."""
    from concurrent.futures import InvalidStateError

    def excepthook(args):
        if not (args.exc_type is InvalidStateError and "CANCELLED" in str(args.exc_value)):
            hook(args)

    return excepthook


class WorkerLost(SweepError):
    """A worker process of a local pool or a Dask cluster died (SIGKILL, out of memory), or the cluster's scheduler
    was lost: the sweep stops, its finished points saved."""


def _run_futures(pool: Executor, evaluate, items, on_outcome, key, workers: int, affinity=None) -> None:
    from concurrent.futures.process import BrokenProcessPool

    futures = [pool.submit(run_chunk, evaluate, chunk) for chunk in _chunks(items, key, workers, affinity)]
    try:
        for fut in as_completed(futures):
            for outcome in fut.result():
                on_outcome(outcome)
    except BrokenProcessPool:  # a worker killed (SIGKILL, out of memory): an event, not a bug of the sweep
        for f in futures:
            f.cancel()
        raise WorkerLost("a worker process died (killed, or out of memory); the points finished before are saved: "
                         "run the sweep again with --resume") from None
    except BaseException:
        for f in futures:
            f.cancel()
        raise


def _run_dask(client, evaluate, items, on_outcome, key, affinity=None, expected=None) -> None:
    from distributed import as_completed as dask_completed

    try:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
    except Exception:
        workers = 1
    chunks = _chunks(items, key, workers, affinity)
    futures = [client.submit(run_chunk, evaluate, chunk, expected, pure=False) for chunk in chunks]
    try:
        for fut in dask_completed(futures):
            for outcome in fut.result():
                on_outcome(outcome)
    except BaseException as exc:
        lost = _cluster_lost(exc)
        try:
            client.cancel(futures)
        except Exception:  # noqa: BLE001 - a lost scheduler cannot cancel anything
            pass
        if lost:  # events of the cluster, not bugs of the sweep (as a local pool's dead worker)
            raise WorkerLost(f"{lost}; the points finished before are saved: run the sweep again with --resume "
                             "(on a restarted cluster)") from None
        raise


def _absolute_paths(items: list) -> list:
    """The points' settings with every relative path that names a file or folder here made absolute: a Dask
    worker resolves a path in its own working directory, which need not be the driver's (the ids stay as they
    were: they are computed from the settings as given). Only values written as paths (a folder separator or a
    file suffix): a bare name is looked up among the bundled ones first, wherever it runs."""
    def fix(value):
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        if isinstance(value, str) and value and not os.path.isabs(value) and ("/" in value or Path(value).suffix):
            try:
                if os.path.exists(value):
                    return os.path.abspath(value)
            except (OSError, ValueError):
                pass
        return value

    return [(pid, fix(setting)) for pid, setting in items]


def _cluster_lost(exc: BaseException) -> str | None:
    """What of the Dask cluster ``exc`` says was lost (a worker killed while running a point, as often as Dask
    retries it; the scheduler's connection), or None for any other exception."""
    from concurrent.futures import CancelledError

    from distributed import KilledWorker
    from distributed.comm.core import CommClosedError

    if isinstance(exc, KilledWorker):
        return "the Dask workers running a chunk of points died each time it ran (killed, or out of memory)"
    if isinstance(exc, (CancelledError, CommClosedError)):
        return f"the Dask scheduler's connection was lost ({type(exc).__name__})"
    if isinstance(exc, RuntimeError) and "deserializ" in str(exc):
        return ("the Dask cluster cannot load the sweep's tasks (its scheduler or workers lack a module the driver "
                "has: the spec's evaluate: module? accelsim?)")
    return None
