"""Model zoo and the one entry point that turns any workload source into a LayerGraph.

Zoo networks are YAML data files in ``workloads/`` (see ``docs/workloads.md``); a source may also be
a path whose suffix picks the reader: ``.yaml``/``.yml`` (accelsim YAML), ``.csv`` (SCALE-Sim
topology; conv format, or GEMM format when ``gemm=True`` or the header says M, N, K), ``.onnx``, ``.json``
(a Hugging Face config, any file name; a folder holding ``config.json`` too: ``accelsim.workload.hf``).
A ``torch.nn.Module`` goes through ``accelsim.workload.io_torch``.
"""

from __future__ import annotations

from pathlib import Path

from accelsim.errors import AccelsimError, UnknownNameError, WorkloadError
from accelsim.paths import WORKLOAD_DIR, bundled, refuse_long_name
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
    given (which need not exist). Zoo names may contain dots (``squeezenet1.1``) that are not suffixes. A
    parametric name's parameters (``?key=value``) are not part of the file."""
    text = str(source).partition("?")[0] if isinstance(source, str) else str(source)
    refuse_long_name(text, WorkloadError, "a zoo name, a workload file or a Hugging Face model folder")
    path = Path(text)
    if not path.exists() and (WORKLOAD_DIR / f"{text}.yaml").is_file() and text in zoo_names():
        return zoo_path(text)
    if path.is_dir() and (path / "config.json").is_file():  # a Hugging Face model folder
        return path / "config.json"
    return path


#: keyword arguments only a Hugging Face config takes (``accelsim.workload.hf.load_hf``)
HF_KWARGS = ("phase", "prompt", "context", "batch", "attention", "routing", "kv_bits")


#: parameters of a zoo YAML network in a parametric name (``bert-base?seq=512``, ``resnet50?image=160``)
ZOO_PARAMS = ("seq", "image")


def split_params(source) -> tuple[object, dict]:
    """``(source, parameters)`` of a parametric workload name ``<name or path>?key=value&key=value``
    (``llama-2-7b.json?phase=decode&context=4096&batch=8``, ``bert-base?seq=512``); integers are converted.
    A source without ``?`` (or not a string) comes back as given with ``{}``."""
    if not isinstance(source, str) or "?" not in source:
        return source, {}
    base, _, query = source.partition("?")
    params: dict = {}
    for item in query.split("&"):
        key, eq, value = item.partition("=")
        if not key or not eq or not value:
            raise WorkloadError(f"{source}: workload parameters must be key=value pairs joined by '&'; got {item!r}")
        if key in params:
            raise WorkloadError(f"{source}: workload parameter '{key}' given twice")
        params[key] = int(value) if value.isdigit() else value
    return base, params


def _zoo_with_params(path: Path, params: dict, label: str) -> LayerGraph:
    """A zoo YAML network at another sequence length (``seq``: the leading dimension of the token inputs, and
    every reshape dimension equal to it) or image size (``image``: the H and W of a ``(C, H, W)`` input), for
    networks whose weights do not depend on it (global pooling; BERT up to its learned positions)."""
    import copy

    from accelsim.config import read_yaml_file
    from accelsim.workload.io_yaml import graph_from_dict, load_yaml

    unknown = sorted(set(params) - set(ZOO_PARAMS))
    if unknown:
        raise WorkloadError(f"{label}: unknown workload parameter(s) {', '.join(unknown)}; a zoo network takes "
                            f"{', '.join(ZOO_PARAMS)} (a Hugging Face config: {', '.join(HF_KWARGS)})")
    for key, value in params.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise WorkloadError(f"{label}: workload parameter {key} must be an int >= 1; got {value!r}")
    data = copy.deepcopy(read_yaml_file(path, WorkloadError))
    inputs = data.get("inputs") or {}
    first = list(inputs.values())[0] if inputs else []
    if "seq" in params:
        if not (len(first) in (1, 2)):
            raise WorkloadError(f"{label}: seq applies to token-sequence networks; {path.stem}'s input is {first}")
        old, new = first[0], params["seq"]
        if old == 1:  # a one-token input: every size-1 dimension would change with it
            raise WorkloadError(f"{label}: {path.stem} runs one token (input {first}); seq applies to sequence inputs")
        data["inputs"] = {k: [new if i == 0 and d == old else d for i, d in enumerate(v)] for k, v in inputs.items()}
        for layer in data.get("layers", []):
            if isinstance(layer, dict) and isinstance(layer.get("shape"), list):
                layer["shape"] = [new if d == old else d for d in layer["shape"]]
        for layer in data.get("layers", []):
            if isinstance(layer, dict) and layer.get("op") == "embedding" and "position" in str(layer.get("name")):
                if new > int(layer.get("num_embeddings", new)):
                    raise WorkloadError(f"{label}: seq {new} is over the {layer['num_embeddings']} learned positions")
    if "image" in params:
        if len(first) != 3 or first[1] != first[2]:
            raise WorkloadError(f"{label}: image applies to networks with a square (C, H, W) input; got {first}")
        name = list(inputs)[0]
        data["inputs"][name] = [first[0], params["image"], params["image"]]
    try:
        graph = graph_from_dict(data, str(path))
    except AccelsimError as exc:
        raise WorkloadError(f"{label}: {path.stem} cannot run at {_query(params)} ({exc})") from None
    if graph.total_params != load_yaml(path).total_params:
        raise WorkloadError(f"{label}: {path.stem} has layers sized for its own input (its weights change at "
                            f"{_query(params)}); this zoo network does not take that parameter")
    graph.name = f"{graph.name}?{_query(params)}"
    return graph


def _query(params: dict) -> str:
    return "&".join(f"{k}={v}" for k, v in params.items())


def load_workload(source, **kwargs) -> LayerGraph:
    """Load a zoo name, a file path, a Hugging Face config (dict, ``.json`` file or model folder) or a torch
    module as a LayerGraph (no weights attached). The phase arguments ``phase``, ``prompt``, ``context``,
    ``batch``, ``attention``, ``routing`` and ``kv_bits`` go to :func:`accelsim.workload.hf.load_hf` (a
    Hugging Face source only; ``None`` means the default), e.g.
    ``load_workload("llama/config.json", phase="decode", context=2048)``. A parametric name gives them in the
    name: ``"llama/config.json?phase=decode&context=2048&batch=8"`` (:func:`split_params`; ``batch`` there
    folds the sequences into the graph's shapes), and a zoo network its ``seq`` or ``image`` size
    (``bert-base?seq=512``, ``resnet50?image=160``)."""
    if isinstance(source, LayerGraph):
        return source
    if isinstance(source, (str, Path)) and not str(source).strip():
        raise WorkloadError(f"workload: expected a zoo name, a workload file (.yaml, .csv, .onnx, .json) or a Hugging "
                            f"Face model folder; got {str(source)!r}")
    source, params = split_params(source)
    if params:
        path = workload_file(source)
        if path.suffix.lower() == ".json":
            unknown = sorted(set(params) - set(HF_KWARGS))
            if unknown:
                raise WorkloadError(f"{source}: unknown workload parameter(s) {', '.join(unknown)}; a Hugging Face "
                                    f"config takes {', '.join(HF_KWARGS)}")
            clash = sorted(set(params) & {k for k, v in kwargs.items() if v is not None})
            if clash:
                raise WorkloadError(f"{source}: {', '.join(clash)} given both in the name and as arguments")
            kwargs = {**kwargs, **params}
        elif path.suffix.lower() in (".yaml", ".yml") and path.is_file() and not kwargs:
            return _zoo_with_params(path, params, f"{source}?{_query(params)}")
        else:
            raise WorkloadError(f"{source}?{_query(params)}: workload parameters apply to a zoo network or a "
                                "Hugging Face config (.json)")
    hf_kwargs = {k: kwargs.pop(k) for k in HF_KWARGS if k in kwargs}
    hf_kwargs = {k: v for k, v in hf_kwargs.items() if v is not None}
    folder = workload_file(source) if isinstance(source, (str, Path)) else None
    if folder is not None and folder.is_dir() and folder.suffix.lower() not in (".yaml", ".yml", ".csv", ".onnx") \
            and str(source) not in zoo_names():
        # a folder is read only as a Hugging Face model folder (workload_file finds its config.json); one named like a
        # workload file is left to that file type's reader ("is a directory")
        raise WorkloadError(f"{source}: is a directory without config.json; expected a zoo name, a workload file "
                            "(.yaml, .csv, .onnx, .json) or a Hugging Face model folder holding config.json")
    if isinstance(source, dict) or (folder is not None and folder.suffix.lower() == ".json"):
        from accelsim.workload.hf import load_hf

        return load_hf(folder if folder is not None else source, **hf_kwargs, **kwargs)
    if hf_kwargs:
        verb = "applies" if len(hf_kwargs) == 1 else "apply"
        raise WorkloadError(f"{source}: {', '.join(sorted(hf_kwargs))} {verb} only to a Hugging Face config "
                            "(a .json file or a model folder)")
    if not isinstance(source, (str, Path)):
        if source is None or isinstance(source, (bool, int, float, bytes, list, tuple, set)):
            raise WorkloadError(f"workload must be a zoo name, a file path, a Hugging Face config, a LayerGraph or a "
                                f"torch.nn.Module; got {type(source).__name__} {source!r:.60}")
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

        _takes(text, "a YAML workload", (), kwargs)
        return load_yaml(path)
    if suffix == ".csv":
        from accelsim.workload.io_scalesim import load_scalesim_topology

        _takes(text, "a SCALE-Sim topology", load_scalesim_topology, kwargs)
        return load_scalesim_topology(path, **kwargs)
    if suffix == ".onnx":
        from accelsim.workload.io_onnx import load_onnx

        _takes(text, "an ONNX file", load_onnx, kwargs)
        return load_onnx(path, **kwargs)
    if suffix:
        raise WorkloadError(f"{text}: unknown workload file type '{suffix}'; expected .yaml, .csv, .onnx or .json "
                            "(a Hugging Face config)")
    from accelsim.workload.io_yaml import load_yaml

    _takes(text, "a zoo network", (), kwargs)
    return load_yaml(zoo_path(text))


def _takes(source: str, what: str, loader, kwargs: dict) -> None:
    """Refuse keyword arguments ``loader`` (or, for a tuple, that list of names) does not take: one line naming them
    and what the source takes (an unknown argument was ignored for YAML and zoo sources, a TypeError elsewhere)."""
    if not kwargs:
        return
    if isinstance(loader, tuple):
        names = loader
    else:
        import inspect

        names = tuple(n for n, p in list(inspect.signature(loader).parameters.items())[1:]
                      if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
    unknown = sorted(set(kwargs) - set(names))
    if unknown:
        takes = f"it takes {', '.join(names)}" if names else "it takes none"
        raise WorkloadError(f"{source}: workload argument(s) {', '.join(unknown)} do not apply to {what} ({takes}; "
                            f"a Hugging Face config takes {', '.join(HF_KWARGS)})")
