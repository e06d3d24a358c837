"""Cases a held-out round of the plot / report / show / list / validate commands (2026-12-05, twentieth session;
157 checks written by a helper that read none of these tests) found wrong: flags a figure kind does not take
silently ignored, a text column drawn as an axis (an empty figure, or an internal error on a log axis), an empty
results table or a result without layers drawn anyway or blamed on a flag, ``--what-if`` refused only after the whole
sweep ran and wrote, and ``validate --format json`` printing ``Infinity`` (not JSON)."""

from __future__ import annotations

import json

import pytest

SPEC = """name: s1
base: {workload: lenet5, arch: edge-32x32}
grid:
  recipe: [int8, magnitude-8]
objectives: {latency_s: min, energy_j: min}
detail: true
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    from accelsim.cli import main

    d = tmp_path_factory.mktemp("plot")
    (d / "s.yaml").write_text(SPEC)
    assert main(["sweep", str(d / "s.yaml"), "--out", str(d / "r"), "--quiet"]) == 0
    return d


@pytest.mark.parametrize("args, message", [
    (["--kind", "pareto", "--point", "abc"], "plot --kind pareto: --point does not apply"),
    (["--kind", "roofline", "--color", "recipe"], "plot --kind roofline: --color does not apply"),
    (["--kind", "pareto", "--x", "recipe"], "--x recipe: not a numeric column of the results table"),
    (["--kind", "tradeoff", "--x", "recipe"], "--x recipe: not a numeric column"),
    (["--kind", "breakdown", "--y", "op"], "--y op: not a numeric column of the per-layer table"),
    (["--kind", "pareto", "--facet", "recpe"], "--facet recpe: not a column of the results table; did you mean recipe?"),
])
def test_plot_refuses_what_it_cannot_draw(run_cli, results, args, message):
    code, _, err = run_cli("plot", str(results / "r"), "--out", str(results / "x.png"), *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (results / "x.png").exists()


def test_empty_tables_and_layerless_results_are_refused(run_cli, tmp_path):
    (tmp_path / "empty.csv").write_text("")
    code, _, err = run_cli("plot", str(tmp_path / "empty.csv"), "--kind", "pareto", "--out", str(tmp_path / "x.png"))
    assert code == 2 and "empty.csv: the results table is empty" in err
    code, out, _ = run_cli("simulate", "--arch", "edge-32x32", "--workload", "lenet5", "--format", "json")
    data = json.loads(out)
    data["layers"] = []
    (tmp_path / "none.json").write_text(json.dumps(data))
    code, _, err = run_cli("plot", str(tmp_path / "none.json"), "--kind", "roofline", "--out", str(tmp_path / "y.png"))
    assert code == 2 and "none.json: the result holds no layers to draw" in err


def test_what_if_fraction_refused_before_the_sweep_runs(run_cli, tmp_path):
    (tmp_path / "s.yaml").write_text(SPEC)
    code, _, err = run_cli("report", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "r"), "--what-if", "-1")
    assert code == 2 and "--what-if must be a fraction in (0, 0.9]; got -1.0" in err
    assert not (tmp_path / "r").exists()  # nothing ran, nothing written


def test_validate_json_is_strict_json(run_cli):
    code, out, _ = run_cli("validate", "--only", "eie", "--format", "json")
    rows = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert any(r["rel_error"] is None for r in rows)  # a nonzero prediction of a zero reference: no relative error


@pytest.mark.parametrize("flag, spec_extra, message", [
    (["--group-by", "nosuch"], "", "--group-by: 'nosuch' is not a column of the results"),
    (["--group-by", "recipe,lateny_s"], "", "'lateny_s' is not a column of the results; did you mean latency_s"),
    ([], "report: {group_by: [recpe]}\n", "s.yaml: report.group_by: 'recpe' is not a column of the results"),
])
def test_group_by_refused_before_the_sweep_runs(run_cli, tmp_path, flag, spec_extra, message):
    (tmp_path / "s.yaml").write_text(SPEC + spec_extra)
    code, _, err = run_cli("report", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "r"), *flag)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()  # nothing ran, nothing written


def test_report_groups_a_detail_sweep(run_cli, tmp_path):
    """A per-layer sweep keeps its layer rows in the table's attrs (a DataFrame); grouping its top-k by a
    column with several values (two workloads by default, or ``--group-by recipe``) concatenated frames
    whose attrs pandas cannot compare: an internal error after the whole sweep ran."""
    (tmp_path / "s.yaml").write_text(SPEC.replace("base: {workload: lenet5, arch: edge-32x32}",
                                                  "base: {arch: edge-32x32}").replace(
        "grid:\n", "grid:\n  workload: [lenet5, lenet-300-100]\n"))
    code, out, err = run_cli("report", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "r"), "--quiet")
    assert code == 0, err
    text = (tmp_path / "r" / "report.md").read_text()
    assert "lenet5" in text and "lenet-300-100" in text
    code, _, err = run_cli("report", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "r"), "--quiet", "--resume",
                           "--group-by", "recipe")
    assert code == 0, err
    assert (tmp_path / "r" / "report.md").read_text().count("recipe") >= 2


@pytest.mark.parametrize("spec_extra, message", [
    ("report: {pareto: {x: ''}}\n", "s.yaml: report.pareto.x must name a results column; got ''"),
    ("report: {pareto: {x: latency}}\n", "s.yaml: report.pareto.x: 'latency' is not a column of the results; did you mean"),
    ("report: {pareto: {color: recpe}}\n", "s.yaml: report.pareto.color: 'recpe' is not a column of the results; did you mean recipe"),
    ("report: {tradeoff: {ratio: tag.ratioo}}\n", "s.yaml: report.tradeoff.ratio: 'tag.ratioo' is not a column of the results"),
    ("report: {tradeoff: {group: bogus}}\n", "s.yaml: report.tradeoff.group: 'bogus' is not a column of the results"),
    ("report: {breakdown_point: deadbeef}\n", "s.yaml: report.breakdown_point: no point 'deadbeef'; the sweep has 2 points"),
])
def test_report_options_refused_before_the_sweep_runs(run_cli, tmp_path, spec_extra, message):
    """A held-out round (2026-12-05, twenty-seventh session) found the report section's column options checked only
    when a figure was drawn, after the whole sweep ran: an empty x was an internal KeyError, a misspelled trade-off
    ratio silently left the figure out, and a typo in x was blamed on a --x flag the user never gave."""
    (tmp_path / "s.yaml").write_text(SPEC + spec_extra)
    code, _, err = run_cli("report", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "r"))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()  # nothing ran, nothing written


def test_report_options_checked_against_a_resumed_table(run_cli, results, tmp_path):
    """On --resume the planned columns are not checked (an earlier evaluator's table); the report still refuses a
    column its results lack, naming the spec field, before it draws anything."""
    import shutil

    shutil.copytree(results / "r", tmp_path / "r")
    (tmp_path / "s.yaml").write_text(SPEC + "report: {pareto: {y: energie_j}}\n")
    code, _, err = run_cli("report", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "r"), "--resume", "--quiet")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "s.yaml: report.pareto.y: 'energie_j' is not a column of the results; did you mean energy_j" in err
    assert not (tmp_path / "r" / "report.md").exists()


@pytest.mark.parametrize("where, field, value, message", [
    ("layers", "latency_s", -1, "layers[0].latency_s must be a finite number >= 0; got -1"),
    ("layers", "macs", "abc", "layers[0].macs must be a finite number >= 0; got 'abc'"),
    ("total", "latency_s", -1, "total.latency_s must be a finite number >= 0; got -1"),
])
@pytest.mark.parametrize("kind", ["roofline", "breakdown"])
def test_plot_refuses_an_edited_simulate_result(run_cli, tmp_path, where, field, value, message, kind):
    """A simulate JSON edited to a negative latency was drawn (exit 0); a text MAC count was an internal TypeError
    for the roofline and drawn for the breakdown. Each is one line naming the file and the field."""
    code, out, _ = run_cli("simulate", "--arch", "edge-32x32", "--workload", "lenet5", "--format", "json")
    data = json.loads(out)
    (data["layers"][0] if where == "layers" else data["total"])[field] = value
    (tmp_path / "r.json").write_text(json.dumps(data))
    code, _, err = run_cli("plot", str(tmp_path / "r.json"), "--kind", kind, "--out", str(tmp_path / "x.png"))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"r.json: a result's {message}" in err
    assert not (tmp_path / "x.png").exists()
