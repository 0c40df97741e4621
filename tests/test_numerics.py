"""The numerical kernels are pinned wherever course code runs, and the pin works.

Stored training outputs are a function of the kernels that computed them
(owll_helpers.numerics). These tests fail when the pin is missing: in this
pytest process, in a kernel started the way nbval starts it, and in
nbgrader's configuration. And they show that it works: the same short run, in
fresh processes started with different native settings, gives different bits
without the pin and identical bits with it.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
from pathlib import Path

import pytest

from owll_helpers import numerics
from owll_helpers.numerics import NumericsPin, cpu_has_avx2, pin_numerics, pinned_settings

ROOT = Path(__file__).resolve().parent.parent
CAN_PIN, WHY_NOT = cpu_has_avx2()
needs_pin = pytest.mark.skipif(not CAN_PIN, reason=f"the kernels cannot be pinned here: {WHY_NOT}")

# What a process reports about its kernels: ATen's capability, the BLAS core
# NumPy's OpenBLAS chose, the pinned variables it sees.
REPORT = """
import json, os, torch
from threadpoolctl import threadpool_info
report = {
    "capability": torch.backends.cpu.get_cpu_capability(),
    "openblas": [i.get("architecture") for i in threadpool_info() if i.get("internal_api") == "openblas"],
    "environ": {k: os.environ.get(k) for k in %r},
}
print(json.dumps(report))
""" % sorted(pinned_settings())


def _check_report(report: dict) -> None:
    assert report["environ"] == pinned_settings(), "the pinned variables are missing or changed"
    assert report["capability"] == "AVX2", f"PyTorch runs its {report['capability']} kernels, not the pinned AVX2 ones"
    assert report["openblas"] and set(report["openblas"]) == {"Haswell"}, f"OpenBLAS runs {report['openblas']}"


@needs_pin
def test_this_pytest_process_is_pinned():
    namespace: dict = {}
    exec(REPORT, namespace)  # noqa: S102 -- our own probe, the same one the kernel runs
    _check_report(namespace["report"])


@needs_pin
def test_a_kernel_started_as_nbval_starts_it_is_pinned(tmp_path):
    import json

    from nbval.kernel import CURRENT_ENV_KERNEL_NAME, RunningKernel

    kernel = RunningKernel(CURRENT_ENV_KERNEL_NAME, cwd=str(tmp_path), startup_timeout=60)
    stdout = []
    try:
        msg_id = kernel.execute_cell_input(REPORT, allow_stdin=False)
        kernel.await_reply(msg_id, timeout=60)
        while True:
            try:
                msg = kernel.get_message(stream="iopub", timeout=30)
            except queue.Empty:
                break
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                stdout.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                pytest.fail(f"the probe failed in the kernel: {msg['content']['evalue']}")
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
    finally:
        kernel.stop()
    _check_report(json.loads("".join(stdout)))


def _unpinned_environ(**overrides: str | None) -> dict[str, str]:
    """This process's environment without the pin's kernel variables, then ``overrides`` (None removes)."""
    env = {k: v for k, v in os.environ.items() if k not in pinned_settings() or k == "OPENBLAS_CORETYPE"}
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@needs_pin
def test_nbgrader_configuration_pins_the_kernels_it_starts():
    code = (
        "import os\n"
        "from traitlets.config.loader import PyFileConfigLoader\n"
        f"PyFileConfigLoader('nbgrader_config.py', path={str(ROOT)!r}).load_config()\n"
        "print(os.environ.get('ATEN_CPU_CAPABILITY'), os.environ.get('MKL_CBWR'))\n"
    )
    env = _unpinned_environ(OWLL_COURSE_DATA=None)
    env["OWLL_COURSE_DATA"] = str(Path(os.environ.get("TMPDIR", "/tmp")) / "owll-numerics-test")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == [pinned_settings()["ATEN_CPU_CAPABILITY"], pinned_settings()["MKL_CBWR"]]


# A short training run, a convolution and a NumPy covariance, as bits.
TRAIN = """
import sys
if sys.argv[1] == "pin":
    from owll_helpers.numerics import pin_numerics
    pin_numerics()
import hashlib
import numpy as np
import torch
from owll_helpers.data import load_digits_splits
from owll_helpers.models import mlp
from owll_helpers.seed import seed_everything
from owll_helpers.train import fit

seed_everything(0)
data = load_digits_splits(seed=0)
model = mlp(64, 10, depth=4, width=64, activation="relu", init="kaiming_normal")
fit(model, data.train, epochs=2, lr=0.05, momentum=0.9, seed=0, desc="probe")
weights = torch.cat([p.detach().flatten() for p in model.parameters()]).numpy()
features = np.random.default_rng(0).standard_normal((500, 64))
digest = lambda a: hashlib.sha256(a.tobytes()).hexdigest()[:16]
print(torch.backends.cpu.get_cpu_capability(), digest(weights), digest(features.T @ features))
"""


def _run_all(commands: list[tuple[list[str], dict[str, str]]]) -> list[list[str]]:
    processes = [subprocess.Popen(c, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c, e in commands]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, err[-2000:]
        results.append(out.split())
    return results


@needs_pin
@pytest.mark.slow
def test_the_pin_gives_the_same_bits_whatever_the_native_settings():
    # Two native settings every x86-64 machine allows: PyTorch's portable
    # kernels, MKL's automatic branch and OpenBLAS's oldest core, against the
    # machine's own choice of each.
    portable = _unpinned_environ(
        ATEN_CPU_CAPABILITY="default", MKL_CBWR="AUTO", OPENBLAS_CORETYPE="Prescott", OMP_NUM_THREADS="2"
    )
    native = _unpinned_environ()
    command = [sys.executable, "-c", TRAIN]
    unpinned_portable, unpinned_native, pinned_portable, pinned_native = _run_all(
        [
            ([*command, "nopin"], portable),
            ([*command, "nopin"], native),
            ([*command, "pin"], portable),
            ([*command, "pin"], native),
        ]
    )
    assert unpinned_portable[0] == "DEFAULT"
    assert unpinned_portable[1] != unpinned_native[1], "without the pin, PyTorch's kernels should change the trained weights"
    assert unpinned_portable[2] != unpinned_native[2], "without the pin, OpenBLAS's core should change X.T @ X"
    assert pinned_portable == pinned_native, "with the pin, both processes must compute the same bits"
    assert pinned_portable[0] == "AVX2"


def test_without_avx2_only_the_threads_are_pinned(monkeypatch):
    monkeypatch.setattr(numerics, "cpu_has_avx2", lambda: (False, "this CPU is arm64, not x86-64"))
    environ: dict[str, str] = {}
    pin = pin_numerics(environ)
    assert not pin.pinned
    assert "ATEN_CPU_CAPABILITY" not in environ and "MKL_CBWR" not in environ
    assert environ["OMP_NUM_THREADS"] == "1"
    line = pin.summary()
    assert "NOT pinned" in line and "arm64" in line and "\n" not in line


def test_the_pin_overrides_a_stray_setting_and_can_be_turned_off(monkeypatch):
    monkeypatch.setattr(numerics, "cpu_has_avx2", lambda: (True, ""))
    environ = {"ATEN_CPU_CAPABILITY": "default"}
    assert pin_numerics(environ).pinned
    assert environ["ATEN_CPU_CAPABILITY"] == "avx2"
    environ = {"OWLL_NO_PIN": "1"}
    pin = pin_numerics(environ)
    assert not pin.pinned and "OWLL_NO_PIN" in pin.summary()
    assert environ == {"OWLL_NO_PIN": "1"}


def test_pinning_after_numpy_is_loaded_warns():
    # numpy is imported in this process; the values are already the pinned ones.
    with pytest.warns(RuntimeWarning, match="call it first"):
        pin = pin_numerics()
    assert isinstance(pin, NumericsPin)


def test_the_command_line_prints_one_line_and_runs_a_command_pinned():
    env = _unpinned_environ(ATEN_CPU_CAPABILITY="default")
    status = subprocess.run([sys.executable, "-m", "owll_helpers.numerics"], env=env, capture_output=True, text=True, check=True)
    assert status.stdout.count("\n") == 1 and status.stdout.startswith("numerics: ")
    if CAN_PIN:
        ran = subprocess.run(
            [sys.executable, "-m", "owll_helpers.numerics", "--", sys.executable, "-c", "import os; print(os.environ['ATEN_CPU_CAPABILITY'])"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert ran.stdout.strip() == "avx2"
