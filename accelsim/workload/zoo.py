"""Model zoo and the one entry point that turns any workload source into a LayerGraph.

Zoo networks are YAML data files in ``workloads/`` (see ``docs/workloads.md``); a source may also be
a path whose suffix picks the reader: ``.yaml``/``.yml`` (accelsim YAML), ``.csv`` (SCALE-Sim
topology; conv format, or GEMM format when ``gemm=True`` or the header says M, N, K), ``.onnx``, ``.json``
(a Hugging Face config, any file name; a folder holding ``config.json`` too: ``accelsim.workload.hf``).
A ``torch.nn.Module`` goes through ``accelsim.workload.io_torch``.
"""

from __future__ import annotations

from pathlib import Path

from accelsim.errors import UnknownNameError, WorkloadError
from accelsim.paths import WORKLOAD_DIR, bundled
from accelsim.workload.graph import LayerGraph


def zoo_names() -> list[str]:
    """Names of the bundled networks (``workloads/*.yaml``, recipes excluded)."""
    return sorted(name for name, path in bundled(WORKLOAD_DIR).items() if path.parent == WORKLOAD_DIR)


def zoo_path(name: str) -> Path:
    path = WORKLOAD_DIR / f"{name}.yaml"
    if not path.is_file():
        raise UnknownNameError("workload", name, zoo_names())
    return path


def workload_file(source: str | Path) -> Path:
    """The file a zoo name or a workload path names: the zoo's YAML for a zoo name, else the path as
    given (which need not exist). Zoo names may contain dots (``squeezenet1.1``) that are not suffixes."""
    text = str(source)
    path = Path(text)
    if not path.exists() and (WORKLOAD_DIR / f"{text}.yaml").is_file() and text in zoo_names():
        return zoo_path(text)
    if path.is_dir() and (path / "config.json").is_file():  # a Hugging Face model folder
        return path / "config.json"
    return path


#: keyword arguments only a Hugging Face config takes (``accelsim.workload.hf.load_hf``)
HF_KWARGS = ("phase", "prompt", "context", "batch", "attention", "routing", "kv_bits")


def load_workload(source, **kwargs) -> LayerGraph:
    """Load a zoo name, a file path, a Hugging Face config (dict, ``.json`` file or model folder) or a torch
    module as a LayerGraph (no weights attached). The phase arguments ``phase``, ``prompt``, ``context``,
    ``batch``, ``attention``, ``routing`` and ``kv_bits`` go to :func:`accelsim.workload.hf.load_hf` (a
    Hugging Face source only; ``None`` means the default), e.g.
    ``load_workload("llama/config.json", phase="decode", context=2048)``."""
    if isinstance(source, LayerGraph):
        return source
    hf_kwargs = {k: kwargs.pop(k) for k in HF_KWARGS if k in kwargs}
    hf_kwargs = {k: v for k, v in hf_kwargs.items() if v is not None}
    if isinstance(source, dict) or (isinstance(source, (str, Path)) and workload_file(source).suffix.lower() == ".json"):
        from accelsim.workload.hf import load_hf

        return load_hf(workload_file(source) if not isinstance(source, dict) else source, **hf_kwargs, **kwargs)
    if hf_kwargs:
        raise WorkloadError(f"{source}: {', '.join(sorted(hf_kwargs))} apply only to a Hugging Face config "
                            "(a .json file or a model folder)")
    if not isinstance(source, (str, Path)):
        try:
            import torch  # noqa: F401
        except ImportError:
            raise WorkloadError(f"cannot load a workload from {type(source).__name__}") from None
        from accelsim.workload import io_torch

        return io_torch.load_torch(source, **kwargs)
    text = str(source)
    path = workload_file(text)
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        from accelsim.workload.io_yaml import load_yaml

        return load_yaml(path)
    if suffix == ".csv":
        from accelsim.workload.io_scalesim import load_scalesim_topology

        return load_scalesim_topology(path, **kwargs)
    if suffix == ".onnx":
        from accelsim.workload.io_onnx import load_onnx

        return load_onnx(path, **kwargs)
    if suffix:
        raise WorkloadError(f"{text}: unknown workload file type '{suffix}'; expected .yaml, .csv, .onnx or .json "
                            "(a Hugging Face config)")
    from accelsim.workload.io_yaml import load_yaml

    return load_yaml(zoo_path(text))
