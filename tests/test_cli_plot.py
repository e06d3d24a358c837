"""``accelsim plot`` as a reader uses it (issue 18 item 3): flags that do not apply, mistyped columns,
a single simulation given to a sweep figure, the GPU multi-precision roofline from a simulate JSON, and
one roof per configuration and precision for a sweep."""

from __future__ import annotations

import pytest

from accelsim.cli import main

SPEC = """base: {workload: lenet-300-100, recipe: int8}
grid:
  arch: [edge-32x32, a100-40gb]
detail: true
objectives: {latency_s: min, energy_j: min}
"""


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("plot")
    (root / "spec.yaml").write_text(SPEC)
    assert main(["sweep", str(root / "spec.yaml"), "--out", str(root / "run"), "--quiet"]) == 0
    return root / "run"


@pytest.fixture(scope="module")
def gpu_json(tmp_path_factory):
    path = tmp_path_factory.mktemp("json") / "r.json"
    assert main(["simulate", "--arch", "h100-sxm", "--workload", "lenet-300-100", "--recipe", "int8", "--batch", "8",
                 "--format", "json", "--out", str(path)]) == 0
    return path


@pytest.mark.parametrize("argv, message", [
    (["--kind", "tradeoff", "--maximize", "utilization"], "plot --kind tradeoff: --maximize does not apply"),
    (["--kind", "pareto", "--top", "5"], "plot --kind pareto: --top does not apply"),
    (["--kind", "roofline", "--x", "latency_s"], "plot --kind roofline: --x does not apply"),
    (["--kind", "pareto", "--x", "latency"], "--x latency: not a column of the results table; did you mean latency_s"),
    (["--kind", "pareto", "--maximize", "utilisation"], "--maximize utilisation: not a column"),
    (["--kind", "tradeoff"], "at least two compression levels"),
    (["--kind", "roofline", "--point", "nope"], "--point nope: not in the per-layer table"),
])
def test_plot_misuse_is_one_line_exit_2(sweep_dir, tmp_path, capsys, argv, message):
    assert main(["plot", str(sweep_dir), *argv, "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("argv, message", [
    ([], "the default --x of --kind pareto is latency_s: not a column of the results table; did you mean latency_seconds"),
    (["--x", "latency_s"], "--x latency_s: not a column of the results table; did you mean latency_seconds"),
])
def test_a_column_renamed_in_the_file_is_named_with_the_file(sweep_dir, tmp_path, capsys, argv, message):
    """A results.csv whose column a user renamed: the message names the file and says whether the column was the
    user's --x or the kind's default (it read '--x latency_s' though no --x was given)."""
    lines = (sweep_dir / "results.csv").read_text().splitlines(keepends=True)
    lines[0] = lines[0].replace("latency_s,", "latency_seconds,", 1)
    edited = tmp_path / "results.csv"
    edited.write_text("".join(lines))
    assert main(["plot", str(edited), "--kind", "pareto", *argv, "--out", str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err
    assert f"{edited}: {message}" in err and err.count("\n") == 1
    assert not (tmp_path / "p.png").exists()


def test_single_result_to_a_sweep_figure_is_a_clear_error(gpu_json, tmp_path, capsys):
    assert main(["plot", str(gpu_json), "--kind", "pareto", "--out", str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err
    assert "one simulation result; the pareto plot compares the points of a sweep" in err
    assert "internal error" not in err


def test_json_roofline_is_the_multi_precision_roofline(gpu_json, tmp_path, monkeypatch, capsys):
    import accelsim.report.layer_roofline as lr

    seen = {}
    real = lr.layer_roofline

    def spy(out, roofs, bw, *args, **kwargs):
        seen["roofs"] = [r[0] for r in roofs]
        seen["bw"] = bw
        return real(out, roofs, bw, *args, **kwargs)

    monkeypatch.setattr(lr, "layer_roofline", spy)
    assert main(["plot", str(gpu_json), "--kind", "roofline", "--out", str(tmp_path / "r.svg")]) == 0
    assert seen["roofs"][0] == "bf16" and "int8" in seen["roofs"]  # native first, then the int8 the run used
    assert seen["bw"] > 1e12 and (tmp_path / "r.svg").read_bytes().lstrip().startswith(b"<?xml")


def test_sweep_roofline_one_roof_per_configuration_and_precision(sweep_dir, tmp_path, monkeypatch):
    from accelsim.report import plots

    seen = {}
    real = plots.roofline

    def spy(layers, out, **kwargs):
        seen["panels"] = sorted(set(layers["_panel"]))
        seen["roofs"] = kwargs.get("precision_roofs")
        return real(layers, out, **kwargs)

    monkeypatch.setattr(plots, "roofline", spy)
    assert main(["plot", str(sweep_dir), "--kind", "roofline", "--out", str(tmp_path / "r.pdf")]) == 0
    assert len(seen["panels"]) == 2 and all("[" in p for p in seen["panels"])  # each panel names its point id
    gpu = [peaks for peaks in seen["roofs"].values() if any("int8" in d for d, _ in peaks)]
    assert gpu and any("bf16" in d for d, _ in gpu[0])
    assert (tmp_path / "r.pdf").read_bytes()[:5] == b"%PDF-"


def test_breakdown_and_pareto_from_the_cli(sweep_dir, gpu_json, tmp_path, capsys):
    assert main(["plot", str(gpu_json), "--kind", "breakdown", "--by", "op", "--out", str(tmp_path / "b.png")]) == 0
    assert main(["plot", str(sweep_dir), "--kind", "pareto", "--x", "utilization", "--maximize", "utilization",
                 "--facet", "workload", "--out", str(tmp_path / "p.svg")]) == 0
    assert "wrote" in capsys.readouterr().out
