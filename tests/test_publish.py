"""`make publish` writes a student repository without solutions."""

from __future__ import annotations

import email
import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

import owll_helpers
from tests.grading import ROOT, all_secret_lines, find_leaks

PUBLISH = ROOT / "tools" / "publish.py"
BINDER = ROOT / "tools" / "student" / "binder"
#: PyTorch's index of CPU-only wheels: no CUDA libraries (several GB) on a Binder without a GPU.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def _publish_module():
    spec = importlib.util.spec_from_file_location("publish", PUBLISH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    if not (ROOT / "_build" / "html" / "index.html").exists():
        pytest.fail("the site is not built: run `make book` first")
    dest = tmp_path_factory.mktemp("student") / "owll-student"
    (dest / ".git").mkdir(parents=True)
    (dest / ".git" / "keep").write_text("an existing clone")
    (dest / "stale.txt").write_text("from an older publication")
    subprocess.run([sys.executable, str(PUBLISH), str(dest)], check=True, capture_output=True, text=True)
    return dest


def test_student_repository_layout(published):
    names = {p.name for p in published.iterdir()}
    assert {"book", "site", "exercises", "owll_helpers", "pyproject.toml", "README.md", "LICENSE", "_config.yml", "_toc.yml", "binder"} <= names
    assert not names & {"solutions", "tests", "nbgrader_config.py", "tools", "Makefile", ".ci", "stale.txt"}
    assert (published / ".git" / "keep").exists(), "an existing clone's .git is kept"
    assert (published / "site" / "index.html").exists()
    assert not list(published.rglob("__pycache__"))
    assert "Work on an assignment" in (published / "README.md").read_text()


def test_no_solution_or_hidden_test_in_the_student_repository(published):
    leaks = find_leaks(published, all_secret_lines())
    assert not leaks, f"solution or hidden-test lines published: {leaks[:5]}"
    for path in published.rglob("*"):
        if path.is_file() and path.suffix in {".ipynb", ".py", ".md", ".html"}:
            text = path.read_text(errors="replace")
            assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text, path


def test_the_leak_scan_finds_a_planted_solution(published, tmp_path):
    secrets = all_secret_lines() or {"total_of_both_numbers = a + b"}
    planted = tmp_path / "copy"
    (planted / "exercises").mkdir(parents=True)
    (planted / "exercises" / "leak.py").write_text("\n".join(sorted(secrets)[:1]))
    assert find_leaks(planted, secrets)


def test_the_helper_package_installs_from_the_publication(published):
    # The student's pip command builds owll_helpers from this pyproject.toml.
    text = (published / "pyproject.toml").read_text()
    assert 'name = "owll-helpers"' in text and "student = [" in text
    assert (published / "owll_helpers" / "__init__.py").exists()


def test_the_published_pyproject_has_no_pytest_settings_and_the_same_package(published):
    source = tomllib.loads((ROOT / "pyproject.toml").read_text())
    student = tomllib.loads((published / "pyproject.toml").read_text())
    assert "pytest" in source["tool"], "the instructors' pyproject.toml is expected to hold pytest settings"
    assert "pytest" not in student.get("tool", {}), "the student repository must not get the instructors' pytest settings"
    assert student["build-system"] == source["build-system"]
    assert student["project"] == source["project"], "package metadata and dependencies must be identical"
    assert student["tool"]["setuptools"] == source["tool"]["setuptools"]
    assert student["project"]["name"] == "owll-helpers"


def test_the_published_pyproject_builds_the_same_package(published, tmp_path):
    # What the student's pip command runs first: the build backend's metadata step.
    tree = tmp_path / "student"
    shutil.copytree(published / "owll_helpers", tree / "owll_helpers")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(published / name, tree / name)
    (tmp_path / "metadata").mkdir()
    script = (
        "import sys, setuptools.build_meta as backend; "
        "print(backend.prepare_metadata_for_build_wheel(sys.argv[1]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "metadata")], cwd=tree, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    dist_info = tmp_path / "metadata" / result.stdout.strip().splitlines()[-1]
    metadata = email.message_from_string((dist_info / "METADATA").read_text())
    source = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert metadata["Name"] == source["name"] and metadata["Version"] == owll_helpers.__version__
    assert SpecifierSet(metadata["Requires-Python"]) == SpecifierSet(source["requires-python"])
    requires = [Requirement(r) for r in metadata.get_all("Requires-Dist")]
    assert [r for r in requires if r.marker is None] == [Requirement(d) for d in source["dependencies"]]
    entry_points = (dist_info / "entry_points.txt").read_text() if (dist_info / "entry_points.txt").exists() else ""
    for script_name in source.get("scripts", {}):
        assert script_name in entry_points, f"the console script {script_name} is lost in the publication"


def test_student_pyproject_removes_only_the_instructor_tables():
    publish = _publish_module()
    text = (
        '[project]\nname = "x"\n\n'
        "# the instructors' settings\n[tool.pytest.ini_options]\naddopts = [\n    \"--nbval\",\n]\n\n"
        '[tool.other]\nkey = 1  # kept as it is\n'
    )
    result = publish.student_pyproject(text)
    assert result == '[project]\nname = "x"\n\n[tool.other]\nkey = 1  # kept as it is\n'
    with pytest.raises(SystemExit, match="changed other settings"):
        # A header the line scan does not recognise would be dropped with the table above it.
        publish.student_pyproject('[tool.pytest.ini_options]\na = 1\n[tool."quoted"]\nb = 2\n')


def test_publish_refuses_a_destination_inside_the_repository(tmp_path):
    result = subprocess.run([sys.executable, str(PUBLISH), str(ROOT / "inside")], capture_output=True, text=True)
    assert result.returncode != 0 and "outside this repository" in result.stderr


# ---------------------------------------------------------------- Binder


def binder_problems(requirements: str, runtime: str, pyproject: dict) -> list[str]:
    """What is wrong with the student repository's ``binder/requirements.txt`` and ``runtime.txt``.

    Binder must build the environment ``pyproject.toml`` describes: every
    package of its dependencies and its ``student`` extra pinned (``==``) to a
    version its bounds allow, torch's CPU-only build from PyTorch's CPU index,
    the repository's own package installed with the student extra, and a
    Python that ``requires-python`` allows.
    """
    project = pyproject["project"]
    allowed: dict[str, list[SpecifierSet]] = {}
    for line in project["dependencies"] + project["optional-dependencies"]["student"]:
        requirement = Requirement(line)
        allowed.setdefault(canonicalize_name(requirement.name), []).append(requirement.specifier)
    problems, pins, indexes, local = [], {}, [], []
    for raw in requirements.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("--index-url", "--extra-index-url", "-i ")):
            indexes.append(line.split()[-1].split("=", 1)[-1])
        elif line.startswith("."):
            local.append(line)
        elif line.startswith("-"):
            problems.append(f"unexpected option {line!r}")
        else:
            try:
                requirement = Requirement(line)
            except InvalidRequirement as error:
                problems.append(f"not a requirement: {line!r} ({error})")
                continue
            specifiers = list(requirement.specifier)
            if len(specifiers) != 1 or specifiers[0].operator != "==":
                problems.append(f"{line!r} is not pinned to one version (==)")
                continue
            pins[canonicalize_name(requirement.name)] = Version(specifiers[0].version)
    if TORCH_CPU_INDEX not in indexes:
        problems.append(f"PyTorch's CPU-only index ({TORCH_CPU_INDEX}) is missing")
    if "torch" in pins and pins["torch"].local != "cpu":
        problems.append(f"torch=={pins['torch']} is not the CPU-only build (+cpu)")
    for name, specifiers in allowed.items():
        if name not in pins:
            problems.append(f"{name} (a dependency in pyproject.toml) is not pinned")
        elif not all(s.contains(pins[name], prereleases=True) for s in specifiers):
            problems.append(f"{name}=={pins[name]} is not allowed by pyproject.toml ({', '.join(map(str, specifiers))})")
    problems += [f"{name} is pinned but pyproject.toml does not name it" for name in pins if name not in allowed]
    if local != [".[student]"]:
        problems.append(f"the repository's package must be installed once, as .[student], got {local}")
    python = re.fullmatch(r"python-(\d+\.\d+)", runtime.strip())
    if not python:
        problems.append(f"runtime.txt must name a Python as python-X.Y, got {runtime.strip()!r}")
    elif not SpecifierSet(project["requires-python"]).contains(python.group(1) + ".0"):
        problems.append(f"Python {python.group(1)} is not allowed by requires-python {project['requires-python']}")
    return problems


def test_the_student_repository_has_what_binder_needs(published):
    # What the site's Binder launch button builds (repo2docker reads binder/).
    binder = published / "binder"
    assert (binder / "requirements.txt").read_text() == (BINDER / "requirements.txt").read_text()
    pyproject = tomllib.loads((published / "pyproject.toml").read_text())
    requirements, runtime = (binder / "requirements.txt").read_text(), (binder / "runtime.txt").read_text()
    problems = binder_problems(requirements, runtime, pyproject)
    assert not problems, "binder/ does not build the course's environment:\n" + "\n".join(problems)


def test_binder_check_rejects_versions_pyproject_does_not_allow():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    good, runtime = (BINDER / "requirements.txt").read_text(), (BINDER / "runtime.txt").read_text()
    assert binder_problems(good, runtime, pyproject) == []

    def problems_with(old: str, new: str, text: str = good) -> list[str]:
        assert old in text
        return binder_problems(text.replace(old, new), runtime, pyproject)

    assert problems_with("numpy==", "numpy==1.20.0  # ") != [], "a version below pyproject's bound"
    assert any("not the CPU-only build" in p for p in problems_with("+cpu", "")), "torch's default (CUDA) build"
    assert any("CPU-only index" in p for p in problems_with(TORCH_CPU_INDEX, "https://pypi.org/simple"))
    assert any("not pinned" in p for p in problems_with("scipy==1.17.1", "scipy>=1.10"))
    assert any("scikit-learn" in p for p in problems_with("scikit-learn==", "# scikit-learn=="))
    assert any(".[student]" in p for p in problems_with(".[student]", "."))
    assert binder_problems(good, "python-3.9\n", pyproject), "a Python that requires-python excludes"
