"""Core CLI behaviour: listing, stats, and one-line errors with exit status 2 for bad input."""

import json
import subprocess
import sys

import pytest


def test_version_and_list(run_cli):
    code, out, _ = run_cli("list", "workloads")
    assert code == 0 and "lenet-300-100" in out.split()


def test_stats_json_totals(run_cli):
    code, out, err = run_cli("stats", "--workload", "lenet-300-100", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["total"]["macs"] == 784 * 300 + 300 * 100 + 100 * 10
    fc1 = data["layers"][0]
    assert (fc1["gemm_m"], fc1["gemm_n"], fc1["gemm_k"], fc1["gemm_groups"]) == (1, 300, 784, 1)


def test_stats_csv_and_table(run_cli):
    code, out, _ = run_cli("stats", "--workload", "lenet-300-100", "--format", "csv")
    assert code == 0 and out.splitlines()[0].startswith("name,op")
    # integer GEMM sizes stay integers beside the empty cells of layers without a product (ReLU)
    assert "fc1,linear,784,300,1,300,784,1,235200,235500" in out and ",,," in out
    code, out, _ = run_cli("stats", "--workload", "lenet-300-100")
    assert code == 0 and "266,200 MACs" in out


def _bad_files(tmp_path):
    malformed = tmp_path / "bad.yaml"
    malformed.write_text("name: x\nlayers: [\n  - {name: a\n")
    zero = tmp_path / "zero.yaml"
    zero.write_text("name: z\ninputs: {x: [0, 4]}\nlayers:\n  - {name: fc, op: linear, out_features: 3}\n")
    negative = tmp_path / "neg.yaml"
    negative.write_text("name: n\ninputs: {x: [4]}\nlayers:\n  - {name: fc, op: linear, out_features: -3}\n")
    mismatch = tmp_path / "mismatch.yaml"
    mismatch.write_text(
        "name: m\ninputs: {a: [4], b: [5]}\nlayers:\n  - {name: add, op: add, inputs: [a, b]}\n"
    )
    arch = tmp_path / "arch.yaml"
    arch.write_text("name: foo\nfamily: quantum\n")
    return {
        "malformed": ["stats", "--workload", malformed],
        "zero": ["stats", "--workload", zero],
        "negative": ["stats", "--workload", negative],
        "mismatch": ["stats", "--workload", mismatch],
        "missing": ["stats", "--workload", tmp_path / "nope.yaml"],
        "unknown_zoo": ["stats", "--workload", "resnet-5000"],
        "unknown_suffix": ["stats", "--workload", tmp_path / "model.h5"],
        "unknown_arch": ["simulate", "--arch", "no-such-arch", "--workload", "lenet-300-100"],
        "unknown_family": ["simulate", "--arch", arch, "--workload", "lenet-300-100"],
        "bad_batch": ["simulate", "--arch", arch, "--workload", "lenet-300-100", "--batch", "x"],
        "bad_format": ["stats", "--workload", "lenet-300-100", "--format", "xml"],
        "bad_set": ["simulate", "--arch", arch, "--workload", "lenet-300-100", "--set", "novalue"],
    }


@pytest.mark.parametrize(
    "case",
    ["malformed", "zero", "negative", "mismatch", "missing", "unknown_zoo", "unknown_suffix", "unknown_arch",
     "unknown_family", "bad_batch", "bad_format", "bad_set"],
)
def test_bad_input_is_one_line_exit_2(case, tmp_path, run_cli):
    code, out, err = run_cli(*_bad_files(tmp_path)[case])
    assert code == 2, (code, out, err)
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and err.startswith("accelsim")


def test_console_script_exit_code(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "accelsim", "stats", "--workload", str(tmp_path / "missing.yaml")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("arch,override", [("edge-32x32", "clock_hz=1e-300"), ("h100-sxm", "clock_mhz=1e-300"),
                                           ("tpu-v4", "clock_hz=999"), ("eie", "clock_hz=0.5")])
def test_clock_below_1_khz_is_refused(run_cli, arch, override):
    """A clock of 1e-300 Hz was in range and overflowed the EDP to infinity (written as JSON's non-standard
    ``Infinity``, exit 0); clocks run from 1 kHz to 100 GHz."""
    code, out, err = run_cli("simulate", "--arch", arch, "--workload", "lenet5", "--set", override, "--format", "json")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "must be a number in [" in err
