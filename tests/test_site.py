"""Tests of the built website (_build/html), which `make test` builds before pytest runs."""

from __future__ import annotations

import json
import re

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


def toc_files(toc: dict | None = None) -> list[str]:
    """Every ``file`` entry of ``_toc.yml`` (root, parts, chapters, sections at any depth), in order."""
    files: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("file"), str):
                files.append(node["file"])
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []) or []:
                    walk(child)

    toc = TOC if toc is None else toc
    files.append(toc["root"])
    walk({key: toc[key] for key in ("parts", "chapters", "sections") if key in toc})
    return files


def test_toc_files_finds_every_entry():
    toc = {
        "root": "intro",
        "parts": [{"caption": "A", "chapters": [{"file": "a", "sections": [{"file": "a1", "sections": [{"file": "a11"}]}]}]}],
    }
    assert toc_files(toc) == ["intro", "a", "a1", "a11"]
    assert len(toc_files()) == len(set(toc_files())) > 5


def test_every_toc_entry_is_a_page(site):
    for entry in toc_files():
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


# ---------------------------------------------------------------- accessibility basics

#: Words an image's alt text needs when the image is a figure of the page's content
#: (not the theme's logos): a sentence that says what the figure shows.
MIN_FIGURE_ALT_WORDS = 6
_FILE_NAME = re.compile(r"^\S+\.(png|jpe?g|gif|svg|webp|pdf)$", re.IGNORECASE)


def alt_text_problem(alt: str | None, src: str, *, figure: bool) -> str | None:
    """Why ``alt`` does not describe the image at ``src``, or None when it does.

    docutils writes the image's own path as its alt text when a notebook cell
    sets none (myst-nb takes it from the cell's ``mystnb.image.alt`` metadata),
    so a path or a file name is no description. ``figure`` images (the page's
    content) need a sentence of at least :data:`MIN_FIGURE_ALT_WORDS` words.
    """
    text = " ".join((alt or "").split())
    if not text:
        return "no alt text"
    name = src.rsplit("/", 1)[-1].split("?")[0]
    if text in {src, name, name.rsplit(".", 1)[0]} or _FILE_NAME.match(text) or " " not in text:
        return f"alt text is a path or file name ({text!r}), not a description"
    if figure and len(text.split()) < MIN_FIGURE_ALT_WORDS:
        return f"alt text {text!r} is too short to say what the figure shows (at least {MIN_FIGURE_ALT_WORDS} words)"
    return None


def test_alt_text_check_rejects_paths_and_file_names():
    src = "../../_images/9a193b00d7e5cb97.png"
    assert alt_text_problem(src, src, figure=True), "docutils' default: the image's own path"
    assert alt_text_problem("9a193b00d7e5cb97.png", src, figure=True)
    assert alt_text_problem("figure.png", src, figure=True)
    assert alt_text_problem("", src, figure=True) and alt_text_problem(None, src, figure=False)
    assert alt_text_problem("A plot", src, figure=True), "too short for a figure"
    assert alt_text_problem("Binder logo", "logo_binder.svg", figure=False) is None
    assert alt_text_problem("Training loss over ten epochs for two initializations", src, figure=True) is None


def test_every_image_has_alt_text_that_says_what_it_shows(site):
    # Set per figure in the notebook cell's metadata: "mystnb": {"image": {"alt": "..."}}.
    problems, figures = [], 0
    for entry in toc_files():
        soup = _page(site, f"{entry}.html")
        article = soup.select_one("article.bd-article")
        in_article = {id(img) for img in article.find_all("img")} if article else set()
        for img in soup.find_all("img"):
            figure = id(img) in in_article
            figures += figure
            problem = alt_text_problem(img.get("alt"), img.get("src", ""), figure=figure)
            if problem:
                problems.append(f"{entry}: {img.get('src')}: {problem}")
    assert figures > 10, "expected the notebooks' figures on the pages"
    assert not problems, "images without a description:\n" + "\n".join(problems)


def heading_problems(levels: list[int]) -> list[str]:
    """What is wrong with a page's sequence of heading levels (1 for h1, ...): one h1 first, no level skipped."""
    problems = []
    if not levels or levels[0] != 1:
        problems.append(f"the first heading is not an h1: {levels[:1]}")
    if levels.count(1) > 1:
        problems.append(f"{levels.count(1)} h1 headings")
    for before, after in zip(levels, levels[1:]):
        if after > before + 1:
            problems.append(f"h{before} followed by h{after}")
    return problems


def test_heading_check_finds_a_skipped_level():
    assert heading_problems([1, 2, 3, 2, 2]) == []
    assert heading_problems([1, 3]) == ["h1 followed by h3"]
    assert heading_problems([2, 3]) and heading_problems([1, 2, 1])


def test_headings_are_in_order_on_every_page(site):
    problems = []
    for entry in toc_files():
        article = _page(site, f"{entry}.html").select_one("article.bd-article")
        assert article is not None, f"{entry}: no article element (has the theme changed?)"
        levels = [int(h.name[1]) for h in article.find_all(re.compile(r"^h[1-6]$"))]
        problems += [f"{entry}: {problem}" for problem in heading_problems(levels)]
    assert not problems, "\n".join(problems)


#: Okabe & Ito (2008), "Color Universal Design" (references.bib: okabe2008color):
#: eight colours that stay distinct for the common forms of colour blindness.
OKABE_ITO = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")


def test_the_figure_palette_is_okabe_ito():
    import matplotlib as mpl

    from owll_helpers import plotting

    assert len(plotting.PALETTE) == len(set(plotting.PALETTE))
    assert {c.upper() for c in plotting.PALETTE} == set(OKABE_ITO), "PALETTE must be the Okabe-Ito palette, all of it and only it"
    with mpl.rc_context():
        plotting.use_style()
        cycle = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
    assert [c.upper() for c in cycle] == [c.upper() for c in plotting.PALETTE], "use_style() draws in PALETTE's order"
