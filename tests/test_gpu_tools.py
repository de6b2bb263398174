"""The GPU tooling, checked on the CPU: which requirements file the GPU
sessions install for the driver ``nvidia-smi`` reports, the wheels that the
GPU check carries, and the CPU dry run of ``bench/gpu_check.sh`` (issue 13)."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SMI_HEADER = """Tue Dec  1 19:30:00 2026
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI {driver}             Driver Version: {driver}     CUDA Version: {cuda}     |
|-----------------------------------------+------------------------+----------------------+
| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |
|   0  NVIDIA H200                    On  |   00000000:00:05.0 Off |                    0 |
"""


@pytest.fixture(scope="module")
def noxfile():
    """noxfile.py, imported with a stand-in for nox (which the test environments do not hold)."""
    fake = types.ModuleType("nox")
    fake.options = types.SimpleNamespace()
    fake.Session = object

    def session(fn=None, **kwargs):
        return fn if fn is not None else (lambda f: f)

    fake.session = session
    spec = importlib.util.spec_from_file_location("noxfile_under_test", ROOT / "noxfile.py")
    module = importlib.util.module_from_spec(spec)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "nox", fake)
        spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("driver, cuda, expected", [
    ("580.159.04", "13.0", "gpu"),
    ("590.10", "13.1", "gpu"),
    ("550.54.15", "12.4", "gpu-cuda12"),
    ("525.60.13", "12.0", "gpu-cuda12"),
    ("520.61.05", "11.8", None),
])
def test_the_gpu_sessions_install_the_wheels_of_the_drivers_cuda(noxfile, driver, cuda, expected):
    assert noxfile.cuda_requirements(SMI_HEADER.format(driver=driver, cuda=cuda)) == expected
    if expected is not None:
        assert (ROOT / "backends" / f"{expected}.txt").is_file()


def test_no_cuda_version_in_the_output_chooses_nothing(noxfile):
    failed = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
    assert noxfile.cuda_requirements(failed) is None
    assert noxfile.cuda_requirements("") is None


def test_the_two_gpu_files_differ_only_in_the_cuda_wheels(noxfile):
    def pins(name):
        lines = (ROOT / "backends" / f"{name}.txt").read_text().splitlines()
        return {line for line in lines if line and not line.startswith("#")}

    assert pins("gpu") - pins("gpu-cuda12") == {"cupy-cuda13x==14.2.0", "jax[cuda13]==0.10.2"}
    assert pins("gpu-cuda12") - pins("gpu") == {"cupy-cuda12x==14.2.0", "jax[cuda12]==0.10.2"}
    # The GPU sessions keep JAX from taking 75 % of the GPU (issue 13).
    assert noxfile.GPU_ENV == {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}


def test_the_gpu_checks_cpu_dry_run_writes_its_summary_and_junit(tmp_path):
    # In one session only (torch alone: the dry run probes torch's graph path
    # through the stand-in capture); it takes some 30 s.
    from conftest import selected_backends

    if selected_backends() != ("torch",):
        pytest.skip("the GPU check's dry run runs in the torch session only")
    import os
    import subprocess
    import xml.etree.ElementTree as ET

    out = tmp_path / "check"
    env = {k: v for k, v in os.environ.items() if k != "BACKPROP_XP_TEST_BACKENDS"}
    env.update(PYTHON=sys.executable, GPU_CHECK_BUDGET="150", OMP_NUM_THREADS="1")
    done = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), "--device", "cpu", str(out)],
                          env=env, capture_output=True, text=True, timeout=200, check=False)
    summary = (out / "summary.md").read_text()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    for row in ("| environment | ok |", "| backends load | ok |", "| tests | ok |", "| slow tests | ok |",
                "| probes | ok |"):
        assert row in summary, summary
    assert "| benchmark | ok |" in summary or "| benchmark | skipped: pytest-benchmark is not installed |" in summary
    agreed = [line for line in summary.splitlines() if line.startswith("Compiled against eager:")]
    assert agreed and agreed[0].startswith("Compiled against eager: 88 of 88 cases agree"), summary
    suite = ET.parse(out / "junit.xml").getroot()
    suite = suite if suite.tag == "testsuite" else suite[0]
    assert int(suite.get("tests")) >= 2 and suite.get("failures") == "0" and suite.get("errors") == "0"
    assert "Tests (junit.xml): " in summary and "0 failed" in summary
    assert "Tests (junit-slow.xml): 1 run, 0 failed" in summary
    # At most 8 files come back from a device call.
    assert {p.name for p in out.iterdir()} <= {"summary.md", "log.txt", "junit.xml", "junit-slow.xml", "probes.json",
                                                "bench.json"}
    assert "===== probes" in (out / "log.txt").read_text()


def test_the_gpu_check_refuses_an_unknown_device(tmp_path):
    import subprocess

    done = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), "--device", "tpu", str(tmp_path)],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2 and "expected --device gpu or cpu; received 'tpu'" in done.stderr
