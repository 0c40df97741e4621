"""Tests of the built website (_build/html), which `make test` builds before pytest runs."""

from __future__ import annotations

import json

import pytest
import yaml
from bs4 import BeautifulSoup

from tests.grading import EXERCISES, ROOT, all_secret_lines, find_leaks

SITE = ROOT / "_build" / "html"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())


@pytest.fixture(scope="module")
def site():
    if not (SITE / "index.html").exists():
        pytest.fail("the site is not built: run `make book` (make test builds it before pytest)")
    return SITE


def _page(site, relative):
    path = site / relative
    assert path.exists(), f"missing page {relative}"
    return BeautifulSoup(path.read_text(), "html.parser")


def _toc_files():
    files = [TOC["root"]]
    for part in TOC.get("parts", []):
        files += [chapter["file"] for chapter in part.get("chapters", [])]
        for chapter in part.get("chapters", []):
            files += [section["file"] for section in chapter.get("sections", [])]
    return files


def test_every_toc_entry_is_a_page(site):
    for entry in _toc_files():
        assert (site / f"{entry}.html").exists(), f"{entry} is in _toc.yml but was not built"


def test_landing_page_has_the_chapter_map(site):
    soup = _page(site, "book/intro.html")
    assert "Learning in the Presence of the Unknown" in soup.get_text()
    table_text = " ".join(t.get_text(" ") for t in soup.find_all("table"))
    for chapter in ("Initialization", "Normalization", "Overconfidence", "Calibration", "OpenMax", "open-world loop"):
        assert chapter in table_text
    assert (site / "index.html").exists()


def test_notebook_page_has_figures_and_citations(site):
    soup = _page(site, "book/00_introduction/how_to_use.html")
    assert soup.find_all("img", src=lambda s: s and s.endswith(".png")), "expected PNG figures from the stored outputs"
    citations = soup.select("a.footnote-reference")
    assert citations, "expected footnote citations"
    assert "Optical Recognition of Handwritten Digits" in " ".join(soup.get_text().split()), "the bibliography at the foot"


def test_references_page_lists_the_bibliography(site):
    text = _page(site, "book/references.html").get_text()
    for author in ("Glorot", "Kaiming He", "Hein", "Scheirer", "Bendale"):
        assert author in text


def test_repository_and_launch_buttons_point_at_the_student_repository(site):
    url = CONFIG["repository"]["url"]
    soup = _page(site, "book/00_introduction/how_to_use.html")
    links = [a.get("href", "") for a in soup.find_all("a")]
    assert url in links, "repository button"
    assert any(link.startswith("https://mybinder.org/v2/gh/") and url.split("github.com/")[1] in link for link in links)
    assert any(link.startswith("https://colab.research.google.com/github/") for link in links)
    assert any(link.endswith(".ipynb") for link in links), "download button"


def test_no_solution_reaches_the_site(site):
    assert not (site / "solutions").exists() and not (site / "tests").exists()
    assert not find_leaks(site, all_secret_lines())
    for page in site.rglob("*.html"):
        assert "BEGIN SOLUTION" not in page.read_text() and "BEGIN HIDDEN TESTS" not in page.read_text(), page


def test_exercises_appear_as_unexecuted_student_versions(site):
    for notebook in sorted(EXERCISES.glob("*/*.ipynb")):
        relative = notebook.relative_to(ROOT).with_suffix("")
        assert (site / f"{relative}.html").exists(), f"{relative} is not on the site (add it to _toc.yml)"
        source = site / "_sources" / f"{relative}.ipynb"
        assert source.exists(), "the exercise must be downloadable"
        cells = json.loads(source.read_text())["cells"]
        assert not any(c.get("outputs") for c in cells if c["cell_type"] == "code")
        assert any("raise NotImplementedError()" in "".join(c["source"]) for c in cells)


def test_maths_is_rendered_by_mathjax_served_with_the_site(site):
    # Offline readers (a student on a train) still see rendered maths.
    soup = _page(site, "book/01_initialization/01_signal_propagation.html")
    sources = [s.get("src", "") for s in soup.find_all("script")]
    mathjax = [s for s in sources if "mathjax" in s.lower()]
    assert mathjax and all(not s.startswith(("http:", "https:", "//")) for s in mathjax), mathjax
    assert (site / "_static" / "mathjax" / "tex-chtml.js").exists()
