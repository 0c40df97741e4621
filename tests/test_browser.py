"""The website as its readers see it: every page of ``_toc.yml`` in headless Chromium, offline.

The other site tests read the HTML; these load it. One browser session
(Debian's ``chromium`` with its ``chromedriver``, driven by Selenium) opens
the built site from ``file://`` with the network off: no host name resolves
and every ``http(s)``/``ws(s)`` request is refused, and the DevTools network
events name any request a page makes to the internet. On every page of the
table of contents it checks that the page loads without a console error and
asks the internet for nothing, every image has loaded, MathJax (served with
the site) has rendered the maths and no raw TeX delimiter is left in the
visible text, and every internal link resolves (file and anchor). The search page must find a word of every page;
an exercise page must open with its title and offer the notebook download.
Screenshots of a few pages go to ``_build/screenshots/`` for review.

Without the browser the tests skip and name the command that installs it
(``make browser``); under ``CI=true`` they fail instead, so CI always runs them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from bs4 import BeautifulSoup

from tests.grading import EXERCISES, ROOT
from tests.test_site import SITE, toc_files

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL_COMMAND = "make browser"
SCREENSHOTS = ROOT / "_build" / "screenshots"
WINDOW = (1280, 1000)
#: Seconds a page may take to load its images and render its maths.
PAGE_TIMEOUT_S = 30
#: Everything that would leave the machine.
BLOCKED_URLS = ["http://*", "https://*", "ws://*", "wss://*", "ftp://*"]
#: TeX that MathJax should have replaced: \( \) inline, \[ \] display (as Sphinx writes them), $$ (unparsed MyST).
RAW_TEX = re.compile(r"\\\(|\\\[|\$\$")
#: Sphinx's search fetches each result page to show a summary; browsers refuse
#: fetch() on file:// (readers of a local copy get results without summaries).
#: These messages, and only these, are tolerated on the search page.
SEARCH_SUMMARY_ON_FILE_URLS = re.compile(
    r"Access to fetch at 'file://[^']*\.html' from origin 'null' has been blocked by CORS policy"
    r"|file://\S*\.html - Failed to load resource: net::ERR_FAILED"
    r"|searchtools\.js \S+ Uncaught \(in promise\) TypeError: Failed to fetch"
)

# Run in the page: wait until it is loaded, its images are decoded (or failed)
# and MathJax has typeset it (when the page loads MathJax).
_WAIT_FOR_PAGE = """
const done = arguments[arguments.length - 1];
const deadline = Date.now() + arguments[0] * 1000;
let mathjaxDeadline = 0;
const settled = () => Array.from(document.images).every(img => img.complete);
function poll() {
  if (document.readyState !== 'complete' || !settled()) {
    if (Date.now() > deadline) { done('timeout: page or images still loading'); return; }
    setTimeout(poll, 50); return;
  }
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) {
    mj.startup.promise.then(() => done('typeset'), e => done('MathJax failed: ' + e));
  } else if (document.querySelector('.math')) {
    // MathJax's script is deferred: once the page has loaded it has run, or it never will.
    mathjaxDeadline = mathjaxDeadline || Date.now() + 3000;
    if (Date.now() > mathjaxDeadline) { done('MathJax did not start'); return; }
    setTimeout(poll, 50);
  } else {
    done('no maths');
  }
}
for (const img of document.images) { if (img.loading === 'lazy') img.loading = 'eager'; }
poll();
"""

# Run in the page: everything the tests check, in one round trip.
_READ_PAGE = """
const article = document.querySelector('article.bd-article') || document.querySelector('main');
const visible = el => el.checkVisibility({visibilityProperty: true});
const SKIP = 'pre, code, script, style, noscript, textarea, mjx-container, .highlight';
const visibleText = root => {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const parts = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(SKIP) || !visible(parent)) continue;
    parts.push(node.data);
  }
  return parts;
};
let first = null;
if (article) {
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.data.trim() || !node.parentElement || !visible(node.parentElement)) continue;
    const heading = node.parentElement.closest('h1, h2, h3, h4, h5, h6');
    first = {text: node.data.trim().slice(0, 80), heading: heading ? heading.tagName.toLowerCase() : null};
    break;
  }
}
const maths = Array.from(document.querySelectorAll('.math'));
const h1 = article && article.querySelector('h1');
// The prose of the first real paragraph, without its maths and code (what the search index holds as words).
const prose = p => { const copy = p.cloneNode(true);
  copy.querySelectorAll('mjx-container, .math, code, script').forEach(e => e.remove()); return copy.textContent; };
const paragraph = article && Array.from(article.querySelectorAll('p')).map(prose).find(text => text.trim().length > 40);
return {
  title: h1 ? h1.innerText.replace(/#$/, '').trim() : '',
  first: first,
  paragraph: paragraph || '',
  images: Array.from(document.images).map(img => ({
    src: img.currentSrc || img.src, complete: img.complete, width: img.naturalWidth})),
  maths: maths.length,
  rendered: maths.filter(m => m.querySelector('mjx-container')).length,
  mathjax_errors: document.querySelectorAll('mjx-merror').length,
  mathjax_src: Array.from(document.scripts).map(s => s.src).filter(s => /mathjax/i.test(s)),
  visible_text: visibleText(document.body).join(' '),
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
  ids: Array.from(document.querySelectorAll('[id], a[name]')).map(e => e.id || e.getAttribute('name')),
};
"""


@dataclass
class Page:
    """What one page of the table of contents showed in the browser."""

    entry: str
    url: str
    load: str
    errors: list[str]
    requests_out: list[str]
    data: dict
    seconds: float


@dataclass
class Visit:
    """One browser session over the whole site."""

    driver: object
    #: What became of a request to the internet made before the first page (see test_the_browser_is_offline).
    probe: dict = field(default_factory=dict)
    pages: dict[str, Page] = field(default_factory=dict)
    screenshots: list[Path] = field(default_factory=list)
    seconds: float = 0.0


def _browser_missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the Python package selenium is missing (requirements.txt: run `make env`)"
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        return f"no headless browser ({', '.join(missing)} missing): install it with `{INSTALL_COMMAND}`"
    return None


def _start_browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        # Chromium's sandbox cannot start as root (CI runs as root); the browser
        # only opens this site's own files, with the network blocked.
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--force-device-scale-factor=1",
        "--lang=en-US",
        # The network off, twice over: no host name resolves ...
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--disable-background-networking",
        "--no-first-run",
    ):
        options.add_argument(argument)
    # The console, and the DevTools network events (every request the page makes).
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    driver.set_script_timeout(PAGE_TIMEOUT_S + 5)
    # ... and every request that would leave the machine is refused.
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": BLOCKED_URLS})
    driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    return driver


def _errors(driver) -> list[str]:
    """The console's errors since the last call (uncaught exceptions, console.error, failed loads)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


#: Addresses that never leave the machine.
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:", "chrome:", "devtools:")


def _network_events(driver) -> list[dict]:
    """The DevTools network events since the last call, as ``{"method": ..., "params": ...}``."""
    events = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"].startswith("Network."):
            events.append(message)
    return events


def _requests_out(events: list[dict]) -> list[str]:
    """The addresses of the requests that would have left the machine."""
    return [
        e["params"]["request"]["url"]
        for e in events
        if e["method"] == "Network.requestWillBeSent" and not e["params"]["request"]["url"].startswith(LOCAL_SCHEMES)
    ]


#: Where the network probe tries to go: a host this machine's Python can reach.
PROBE_URL = "https://pypi.org/simple/"


def _probe_the_network(driver) -> dict:
    """Try to load an image from the internet (no CORS needed): what the page saw and the network events."""
    driver.get((SITE / "index.html").as_uri())
    _network_events(driver)
    outcome = driver.execute_async_script(
        "const done = arguments[arguments.length - 1]; const img = new Image();"
        "img.onload = () => done('loaded'); img.onerror = () => done('refused'); img.src = arguments[0];",
        PROBE_URL,
    )
    events = _network_events(driver)
    _errors(driver)
    failures = [e["params"] for e in events if e["method"] == "Network.loadingFailed"]
    return {"outcome": outcome, "requests_out": _requests_out(events), "failures": failures}


def _open(driver, url: str) -> str:
    driver.get(url)
    return driver.execute_async_script(_WAIT_FOR_PAGE, PAGE_TIMEOUT_S)


def _screenshot(visit: Visit, name: str) -> None:
    path = SCREENSHOTS / f"{len(visit.screenshots) + 1:02d}_{name}.png"
    visit.driver.save_screenshot(str(path))
    visit.screenshots.append(path)


def _is_exercise(entry: str) -> bool:
    return entry.split("/")[0] == EXERCISES.name


@pytest.fixture(scope="module")
def visit():
    if not (SITE / "index.html").exists():
        pytest.fail("the site is not built: run `make book` (make test builds it before pytest)")
    missing = _browser_missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the browser tests, but {missing}")
        pytest.skip(missing)
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    start = time.perf_counter()
    driver = _start_browser()
    result = Visit(driver, probe=_probe_the_network(driver))
    shots = {"figure": False, "maths": False, "exercise": False}
    try:
        for entry in toc_files():
            url = (SITE / f"{entry}.html").as_uri()
            _errors(driver)  # start each page with empty logs
            _network_events(driver)
            page_start = time.perf_counter()
            load = _open(driver, url)
            data = driver.execute_script(_READ_PAGE)
            requests_out = _requests_out(_network_events(driver))
            page = Page(entry, url, load, _errors(driver), requests_out, data, time.perf_counter() - page_start)
            result.pages[entry] = page
            name = entry.rsplit("/", 1)[-1]
            if entry == toc_files()[0]:
                _screenshot(result, f"landing_{name}")
            figures = driver.find_elements("css selector", "article.bd-article img")
            if figures and data["rendered"] and not shots["figure"]:
                shots["figure"] = True
                _screenshot(result, f"top_{name}")
                driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", figures[0])
                _screenshot(result, f"figure_{name}")
            if data["rendered"] and not shots["maths"]:
                display = driver.find_elements("css selector", "article.bd-article div.math")
                if display:
                    shots["maths"] = True
                    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", display[0])
                    _screenshot(result, f"maths_{name}")
            if _is_exercise(entry) and not shots["exercise"]:
                shots["exercise"] = True
                _screenshot(result, f"exercise_{name}")
        word = _search_word(list(result.pages.values())[1])
        _search(driver, word)
        _screenshot(result, f"search_{word}")
        _errors(driver)
        result.seconds = time.perf_counter() - start
        yield result
    finally:
        driver.quit()


# ---------------------------------------------------------------- the checks


def test_the_browser_is_offline(visit):
    # A request to the internet fails, refused by the browser itself (not by a
    # server or a certificate), and the test sees it: else the offline checks prove nothing.
    probe = visit.probe
    assert probe["outcome"] == "refused", "the browser reached the network"
    assert probe["requests_out"] == [PROBE_URL], "the network events must show a page's requests to the internet"
    failures = probe["failures"]
    assert failures and all(
        f.get("blockedReason") or f.get("errorText") in {"net::ERR_INTERNET_DISCONNECTED", "net::ERR_BLOCKED_BY_CLIENT"}
        for f in failures
    ), failures


def test_no_page_asks_the_internet_for_anything(visit):
    # Blocked requests fail silently (no console error): the network events show them.
    asked = {entry: page.requests_out for entry, page in visit.pages.items() if page.requests_out}
    assert not asked, "pages that need the network:\n" + json.dumps(asked, indent=1)


def test_every_page_of_the_toc_was_visited(visit):
    assert list(visit.pages) == toc_files()
    assert all(page.load in {"typeset", "no maths"} for page in visit.pages.values()), {
        entry: page.load for entry, page in visit.pages.items() if page.load not in {"typeset", "no maths"}
    }
    slowest = max(visit.pages.values(), key=lambda page: page.seconds)
    print(
        f"\n{len(visit.pages)} pages in {visit.seconds:.1f} s (browser start included; "
        f"slowest {slowest.entry}, {slowest.seconds:.1f} s)"
    )


def test_every_page_loads_without_a_console_error(visit):
    errors = {entry: page.errors for entry, page in visit.pages.items() if page.errors}
    assert not errors, "console errors:\n" + json.dumps(errors, indent=1)


def test_every_image_has_loaded(visit):
    broken = [
        f"{entry}: {img['src']}"
        for entry, page in visit.pages.items()
        for img in page.data["images"]
        if not (img["complete"] and img["width"] > 0)
    ]
    assert sum(len(page.data["images"]) for page in visit.pages.values()) > 10
    assert not broken, "images that did not load:\n" + "\n".join(broken)


def test_mathjax_served_with_the_site_renders_the_maths(visit):
    pages_with_maths = [page for page in visit.pages.values() if page.data["maths"]]
    assert len(pages_with_maths) >= 3, "expected maths on several pages"
    problems = []
    for page in visit.pages.values():
        data = page.data
        if data["maths"] and not all(src.startswith("file://") for src in data["mathjax_src"] or ["none"]):
            problems.append(f"{page.entry}: MathJax is not served with the site: {data['mathjax_src']}")
        if data["rendered"] != data["maths"]:
            problems.append(f"{page.entry}: {data['maths'] - data['rendered']} of {data['maths']} maths elements not rendered")
        if data["mathjax_errors"]:
            problems.append(f"{page.entry}: {data['mathjax_errors']} MathJax errors (invalid TeX)")
        text = data["visible_text"]
        raw = [text[max(0, m.start() - 40) : m.end() + 40] for m in RAW_TEX.finditer(text)]
        if raw:
            problems.append(f"{page.entry}: raw TeX in the visible text: {raw[:3]}")
    assert not problems, "\n".join(problems)


def _ids_of(path: Path, visited: dict[Path, set[str]]) -> set[str]:
    if path not in visited:
        soup = BeautifulSoup(path.read_text(errors="replace"), "html.parser")
        visited[path] = {tag.get("id") or tag.get("name") for tag in soup.select("[id], a[name]")}
    return visited[path]


def test_every_internal_link_resolves(visit):
    site = SITE.resolve()
    ids = {Path(unquote(urlsplit(page.url).path)): set(page.data["ids"]) for page in visit.pages.values()}
    broken, checked = set(), set()
    for page in visit.pages.values():
        for link in page.data["links"]:
            parts = urlsplit(link)
            if parts.scheme != "file" or link in checked:
                continue  # the internet is checked by no one here: the browser is offline
            checked.add(link)
            target = Path(unquote(parts.path))
            if target.is_dir():
                target = target / "index.html"
            if site not in target.parents or not target.is_file():
                broken.add(f"{page.entry}: {link} (no such file in the site)")
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in _ids_of(target, ids):
                broken.add(f"{page.entry}: {link} (no anchor #{unquote(parts.fragment)})")
    assert len(checked) > 20
    assert not broken, "broken links:\n" + "\n".join(sorted(broken))


def test_exercise_pages_open_with_their_title(visit):
    # The setup cell (try-import of owll_helpers) is tagged remove-cell: the page starts with the h1.
    exercises = [page for entry, page in visit.pages.items() if _is_exercise(entry)]
    assert exercises, "no exercise page in _toc.yml"
    for page in exercises:
        first = page.data["first"]
        assert first and first["heading"] == "h1", f"{page.entry} opens with {first}, not with its title"


def test_exercise_pages_offer_the_notebook_download(visit):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver = visit.driver
    for entry in (e for e in visit.pages if _is_exercise(e)):
        _open(driver, visit.pages[entry].url)
        driver.find_element(By.CSS_SELECTOR, ".dropdown-download-buttons button.dropdown-toggle").click()
        link = WebDriverWait(driver, 5).until(
            expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, "a.btn-download-source-button")),
            message=f"{entry}: the download menu shows no link to the notebook",
        )
        href = link.get_attribute("href")
        assert href.endswith(f"{entry}.ipynb"), f"{entry}: the download offers {href}"
        offered = json.loads(Path(unquote(urlsplit(href).path)).read_text())
        assert offered == json.loads((ROOT / f"{entry}.ipynb").read_text()), (
            f"{entry}: the download is not the exercise notebook (is the site older than exercises/?)"
        )
        assert not _errors(driver)


def _search_word(page: Page) -> str:
    """A long word of the page's first paragraph (its title when it has none), for the search box."""
    for text in (page.data["paragraph"], page.data["title"]):
        words = sorted({w.lower() for w in re.findall(r"[A-Za-z]{6,}", text)}, key=lambda w: (-len(w), w))
        if words:
            return words[0]
    raise AssertionError(f"{page.entry}: no word to search for")


def _search(driver, word: str) -> list[str]:
    """Search the site for ``word`` with its own search page; the addresses of the pages found."""
    driver.get((SITE / "search.html").as_uri() + f"?q={word}")
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1]; const deadline = Date.now() + 10000;"
        "(function poll() { const s = document.querySelector('#search-results .search-summary');"
        " if ((s && /finished|did not match/i.test(s.innerText)) || Date.now() > deadline) done(); else setTimeout(poll, 50); })();"
    )
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#search-results ul.search li a')).map(a => a.href)"
    )


def test_the_search_page_finds_a_word_of_every_page(visit):
    driver = visit.driver
    misses = []
    for entry, page in visit.pages.items():
        word = _search_word(page)
        _errors(driver)
        found = _search(driver, word)
        if not any(unquote(urlsplit(href).path).endswith(f"/{entry}.html") for href in found):
            misses.append(f"{entry}: searching {word!r} found {len(found)} pages, not this one")
        errors = [e for e in _errors(driver) if not SEARCH_SUMMARY_ON_FILE_URLS.search(e)]
        if errors:
            misses.append(f"{entry}: console errors on the search page: {errors}")
    assert not misses, "\n".join(misses)


def test_screenshots_are_written_for_review(visit):
    names = [p.name for p in visit.screenshots]
    for kind in ("landing", "figure", "maths", "exercise"):
        assert any(f"_{kind}_" in name for name in names), f"no {kind} screenshot in {names}"
    for path in visit.screenshots:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000, path
