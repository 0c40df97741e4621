"""Pinned numerical kernels: the same trained numbers on every course machine.

PyTorch, MKL, oneDNN and OpenBLAS each pick their CPU code by what the
processor offers (vector width, vendor, number of cores). Different code sums
in a different order, the last bits of a float differ, and a few epochs of SGD
turn those bits into different accuracies: measured on the digits, a 10-layer
MLP reaches 0.967 validation accuracy with AVX2 kernels and 0.983 with
AVX-512 ones. The outputs stored in the book are checked by nbval on whatever
machine runs ``make test``, so the course pins every library that does its
arithmetic to one level that x86-64 machines of the last decade have (AVX2
with FMA, "Haswell").

Every entry point that runs course code calls :func:`pin_numerics` before
NumPy or PyTorch is imported: the root ``conftest.py`` (``pytest`` run
directly or by ``make test``; nbval's kernels inherit its environment),
``nbgrader_config.py`` (nbgrader's kernels), and the scripts in ``tools/``.
``python -m owll_helpers.numerics -- COMMAND`` runs any other command pinned
(``make lab`` does), and ``python -m owll_helpers.numerics`` prints the one
line that says whether this machine is pinned.

Students do not need any of this: on their laptops the numbers differ
slightly from the website's, and the autograder's tolerances allow for that.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import warnings
from collections.abc import MutableMapping
from dataclasses import dataclass, field

__all__ = ["PINNED_LEVEL", "NumericsPin", "cpu_has_avx2", "pinned_settings", "pin_numerics", "main"]

#: The instruction set every pinned library is held to.
PINNED_LEVEL = "AVX2"

#: Set by a maintainer (or a test) to run without the pin, e.g. to measure its cost.
DISABLE_VARIABLE = "OWLL_NO_PIN"

# Each pin, and why it exists (measured on an AVX-512 AMD machine, 2 cores):
_KERNEL_PINS = {
    # PyTorch's own kernels (elementwise ops, reductions, softmax, the loss):
    # AVX2, AVX-512 and "default" give three different 5-epoch training runs.
    # Must be set before the first tensor operation of the process.
    "ATEN_CPU_CAPABILITY": "avx2",
    # MKL's matrix products behind nn.Linear. AVX2, AVX512 and AUTO give the
    # same bits on AMD (MKL ignores them off Intel), so only COMPATIBLE makes
    # Intel and AMD machines agree; it changes the bits here and costs time
    # (BENCHMARKS.md).
    "MKL_CBWR": "COMPATIBLE",
    # oneDNN's convolutions: capping the ISA at AVX2 changes a Conv2d's output
    # bits on an AVX-512 machine.
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    # NumPy's and SciPy's OpenBLAS (covariances, Weibull fits): X.T @ X has
    # other bits with the SkylakeX kernels it picks on AVX-512. It takes core
    # names, not instruction sets.
    "OPENBLAS_CORETYPE": "Haswell",
}
_ALWAYS_PINS = {
    # Threads split sums: torch trains to other bits on 1 and 2 threads.
    # seed_everything sets one thread only where it is called; this covers
    # every process (MKL and OpenBLAS read it too).
    "OMP_NUM_THREADS": "1",
    # Set iteration order of strings, for kernels started by the tools.
    "PYTHONHASHSEED": "0",
}


@dataclass(frozen=True)
class NumericsPin:
    """What :func:`pin_numerics` did: whether the kernels are pinned, and why not."""

    pinned: bool
    settings: dict[str, str] = field(default_factory=dict)
    reason: str = ""

    def summary(self) -> str:
        """One line for the start of ``make test``."""
        if self.pinned:
            values = ", ".join(f"{k}={v}" for k, v in self.settings.items())
            return f"numerics: pinned to {PINNED_LEVEL} ({values})"
        return (
            f"numerics: NOT pinned ({self.reason}); stored outputs of training cells may differ here, "
            "the science tests still hold (README, Maintainers)"
        )


def _linux_flags() -> set[str] | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        return None
    return None


def _macos_flags() -> set[str] | None:
    flags: set[str] = set()
    for key in ("machdep.cpu.features", "machdep.cpu.leaf7_features"):
        try:
            out = subprocess.run(["sysctl", "-n", key], capture_output=True, text=True, timeout=5, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        flags |= {word.lower() for word in out.split()}
    return flags or None


def cpu_has_avx2() -> tuple[bool, str]:
    """Whether this CPU runs AVX2 and FMA code, and if not, why (one phrase).

    ATen does not check: ``ATEN_CPU_CAPABILITY=avx2`` on a CPU without AVX2
    would stop the process with an illegal instruction, so the pin asks first.
    """
    machine = platform.machine().lower()
    if machine not in {"x86_64", "amd64", "x64", "i686", "i386"}:
        return False, f"this CPU is {platform.machine() or 'unknown'}, not x86-64: AVX2 kernels do not exist on it"
    system = platform.system()
    if system == "Linux":
        flags = _linux_flags()
    elif system == "Darwin":
        flags = _macos_flags()
    elif system == "Windows":
        import ctypes

        # PF_AVX2_INSTRUCTIONS_AVAILABLE; Windows only reports AVX2 where FMA is there too.
        has = bool(ctypes.windll.kernel32.IsProcessorFeaturePresent(40))  # type: ignore[attr-defined]
        return has, "" if has else "this CPU has no AVX2"
    else:
        flags = None
    if flags is None:
        return False, f"cannot read the CPU's features on {system}"
    missing = [f for f in ("avx2", "fma") if f not in flags]
    if missing:
        return False, f"this CPU has no {' and no '.join(m.upper() for m in missing)}"
    return True, ""


def pinned_settings(*, avx2: bool = True) -> dict[str, str]:
    """The environment variables the pin sets: all of them where AVX2 exists, else only the thread pins."""
    return {**(_KERNEL_PINS if avx2 else {}), **_ALWAYS_PINS}


def pin_numerics(environ: MutableMapping[str, str] | None = None) -> NumericsPin:
    """Pin PyTorch, MKL, oneDNN, OpenBLAS and the thread count in ``environ``.

    Call it before NumPy or PyTorch is imported (the libraries read these
    variables when they load or first compute); child processes, such as
    notebook kernels, inherit them. Values already set are overwritten: a
    stray ``ATEN_CPU_CAPABILITY`` in a maintainer's shell must not change the
    stored numbers. ``OWLL_NO_PIN=1`` turns the pin off.

    Args:
        environ: the mapping to change; ``os.environ`` by default.

    Returns:
        What was pinned, or the reason nothing was.
    """
    env = os.environ if environ is None else environ
    if env.get(DISABLE_VARIABLE, "") not in ("", "0"):
        return NumericsPin(False, reason=f"{DISABLE_VARIABLE} is set")
    avx2, why_not = cpu_has_avx2()
    settings = pinned_settings(avx2=avx2)
    if environ is None:
        late = [name for name in ("torch", "numpy") if name in sys.modules]
        if late:
            warnings.warn(
                f"pin_numerics() was called after {' and '.join(late)} was imported: "
                "OpenBLAS is already loaded; call it first",
                RuntimeWarning,
                stacklevel=2,
            )
    env.update(settings)
    return NumericsPin(avx2, settings, why_not)


def main(argv: list[str] | None = None) -> int:
    """``python -m owll_helpers.numerics [-- COMMAND ...]``: print the pin, or run COMMAND pinned."""
    args = sys.argv[1:] if argv is None else argv
    pin = pin_numerics()
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        print(pin.summary())
        return 0
    try:
        os.execvp(args[0], args)
    except OSError as error:
        print(f"owll_helpers.numerics: cannot run {args[0]!r}: {error}", file=sys.stderr)
        return 127
    return 0  # pragma: no cover -- execvp does not return


if __name__ == "__main__":
    sys.exit(main())
