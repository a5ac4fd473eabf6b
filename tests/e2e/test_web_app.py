"""The web app in a real browser: Debian's Chromium driven by Playwright, against a running server.

Each test asserts on what the page shows, and that the page asked nothing of any host but the
server. Answers come from the default model (it cites; the light model seldom does). Set
LORE_SCREENSHOT_DIR to keep a screenshot of each view (docs/screenshots/ holds the published ones).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import LiveServer

playwright_api = pytest.importorskip("playwright.sync_api")

LIVE_LLM_MODEL = "Qwen2.5-Coder-1.5B-Instruct"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The machine's network is closed: without these Chromium keeps trying Google's hosts in the background.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-default-apps"]
TIMEOUT_MS = 180_000  # an answer on a busy 2-core machine

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make test installs it)")


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


class Page:
    """A fresh page holding the admin key, recording every URL it requests."""

    def __init__(self, browser, live: LiveServer, key: str = "admin") -> None:
        self.live = live
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.requested: list = []
        self.page.on("request", lambda request: self.requested.append(request))
        self.page.add_init_script(f"localStorage.setItem('lore.apiKey', {live.keys[key]!r})")

    def open(self, view: str = "ask"):
        self.page.goto(f"{self.live.url}/#{view}")
        return self.page

    def foreign_requests(self) -> list[str]:
        """Requests to any other host that left the browser. One the page's Content-Security-Policy
        stopped (ReDoc's footer logo on cdn.redoc.ly) never reaches the network, so it is not one."""
        server = urlsplit(self.live.url).netloc
        return [r.url for r in self.requested
                if urlsplit(r.url).scheme not in ("data", "blob") and urlsplit(r.url).netloc != server
                and r.failure not in ("csp", "net::ERR_BLOCKED_BY_CSP")]

    def screenshot(self, name: str) -> None:
        if folder := os.environ.get("LORE_SCREENSHOT_DIR"):
            Path(folder).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def page(browser, live_server) -> Iterator[Page]:
    opened = Page(browser, live_server)
    try:
        yield opened
        assert opened.foreign_requests() == []
    finally:
        opened.close()


def test_the_app_shell_paints_within_a_second(page):
    tab = page.open()
    tab.get_by_role("tab", name="Ask").wait_for()
    first_paint = tab.evaluate(
        "() => (performance.getEntriesByName('first-contentful-paint')[0] || performance.getEntriesByName('first-paint')[0]).startTime")
    print(f"first contentful paint: {first_paint:.0f} ms, load average {os.getloadavg()[0]:.2f}")
    assert first_paint <= 1000
    playwright_api.expect(tab.locator("#status")).to_contain_text("documents")


def test_ask_streams_an_answer_and_a_citation_opens_its_sentence(page, live_server):
    tab = page.open("ask")
    tab.get_by_label("Question").fill("Who leads the Platform team?")
    tab.get_by_label("Question").press("Enter")
    answer = tab.locator(".turn.assistant").last
    playwright_api.expect(answer).not_to_have_attribute("aria-busy", "true", timeout=TIMEOUT_MS)
    playwright_api.expect(answer.locator(".answer-text")).to_contain_text("Rahul Menon")
    chip = answer.locator(".answer-text .cite").first
    chip.click()
    panel = tab.locator("#source-panel")
    playwright_api.expect(panel).to_be_visible()
    cited = panel.locator("mark#cited")
    playwright_api.expect(cited).to_contain_text("Rahul Menon")
    playwright_api.expect(panel).to_contain_text("org-chart.md")
    page.screenshot("ask")
    tab.keyboard.press("Escape")

    # A follow-up in the same conversation: searched for with what "he" refers to.
    tab.get_by_label("Question").fill("Who does he report to?")
    tab.get_by_label("Question").press("Enter")
    follow_up = tab.locator(".turn.assistant").nth(1)
    playwright_api.expect(follow_up).not_to_have_attribute("aria-busy", "true", timeout=TIMEOUT_MS)
    playwright_api.expect(follow_up.locator(".rewritten")).to_contain_text(re.compile("Rahul|Menon|Platform"))


def test_an_unanswerable_question_says_so(page):
    tab = page.open("ask")
    tab.get_by_label("Question").fill("What is the company's policy on pet iguanas?")
    tab.get_by_role("button", name="Ask", exact=True).click()
    answer = tab.locator(".turn.assistant").last
    playwright_api.expect(answer).not_to_have_attribute("aria-busy", "true", timeout=TIMEOUT_MS)
    playwright_api.expect(answer).to_have_class(re.compile("abstained"))
    playwright_api.expect(answer.locator(".notice")).to_contain_text("does not hold an answer")


def test_search_shows_score_components_and_filters(page):
    tab = page.open("search")
    view = tab.locator("#view-search")
    view.get_by_label("Search for").fill("Millrace kickoff decision")
    view.get_by_label("Kind").select_option("meeting")
    view.get_by_role("button", name="Search", exact=True).click()
    results = tab.locator("#search-results .passage")
    playwright_api.expect(results.first).to_be_visible()
    playwright_api.expect(results.first.locator(".scores")).to_contain_text("dense")
    # Only the meeting survives the kind filter.
    sources = results.locator(".scores").all_inner_texts()
    assert sources and all("millrace-kickoff" in s for s in sources)


def test_upload_lists_the_file_and_its_document_view(page, tmp_path):
    note = tmp_path / "quarry-note.md"
    note.write_text("# Quarry note\n\nPiet Jansen owns the Tarn quarry conveyor upgrade, due in May.\n")
    bad = tmp_path / "binary.exe"
    bad.write_bytes(b"MZ\x00")
    tab = page.open("documents")
    tab = tab.locator("#view-documents")
    tab.get_by_label("Upload files").set_input_files([str(note), str(bad)])
    tab.get_by_label("into collection").fill("handbook")
    tab.get_by_role("button", name="Upload", exact=True).click()
    table = tab.locator(".upload-table")
    playwright_api.expect(table.locator("tr", has_text="quarry-note.md")).to_contain_text("ingested", timeout=TIMEOUT_MS)
    playwright_api.expect(table.locator("tr", has_text="binary.exe")).to_contain_text("unsupported file type")
    row = tab.locator("#documents-table tbody tr", has_text="quarry-note.md")
    playwright_api.expect(row).to_contain_text("handbook")
    row.get_by_role("button", name="Open quarry-note.md").click()
    view = tab.locator("#document-view")
    playwright_api.expect(view).to_contain_text("Piet Jansen owns the Tarn quarry conveyor upgrade")
    page.screenshot("documents")


def test_graph_view_draws_and_expands_a_neighbourhood(page):
    tab = page.open("graph")
    tab.get_by_label("Find an entity").fill("Millrace")
    tab.get_by_role("button", name="Find").click()
    tab.locator("#graph-matches button").first.click()
    nodes = tab.locator("#graph-list .graph-nodes li")
    playwright_api.expect(nodes.nth(1)).to_be_visible()  # the entity and at least one neighbour
    before = nodes.count()
    # The entity's documents are named by their titles, not their ids.
    first_document = tab.locator("#graph-detail .entity-documents button").first
    playwright_api.expect(first_document).to_be_visible()
    assert not first_document.inner_text().startswith("doc_")
    assert tab.locator("#graph-canvas canvas").count() >= 1  # drawn by Cytoscape, served from /static/vendor
    edges = tab.locator("#graph-list .graph-edges button")
    edges.first.click()
    playwright_api.expect(tab.locator("#graph-detail h3")).to_contain_text("—")
    # Expanding every neighbour in turn grows the graph (or it was already the whole component).
    names = [n.inner_text() for n in nodes.locator("button").all()]
    for name in names[1:]:
        tab.get_by_role("button", name=f"Expand {name.split(' · ')[0]}", exact=True).click()
        playwright_api.expect(tab.locator("#graph-detail h3")).to_have_text(name.split(" · ")[0])
        if nodes.count() > before:
            break
    assert tab.locator("#graph-types input[type=checkbox]").count() >= 1
    page.screenshot("graph")


def test_meeting_minutes_link_to_their_turns(page):
    tab = page.open("meetings")
    tab.locator("#meetings-list button").first.click()
    view = tab.locator("#minutes-view")
    playwright_api.expect(view.get_by_role("heading", name="Transcript")).to_be_visible(timeout=TIMEOUT_MS)
    playwright_api.expect(view.get_by_role("heading", name="Decisions")).to_be_visible()
    link = view.locator("ul a.cite").first
    target = link.get_attribute("href")
    link.click()
    playwright_api.expect(tab.locator(target)).to_be_focused()
    page.screenshot("meetings")


def test_admin_creates_and_revokes_a_key(page):
    page.open("admin")
    tab = page.page.locator("#view-admin")
    playwright_api.expect(tab.locator("#admin-metrics")).to_contain_text("Documents")
    tab.get_by_label("Name").fill("browser-made")
    tab.get_by_role("button", name="Create key").click()
    playwright_api.expect(tab.locator("#key-secret code")).to_contain_text("lore_")
    page.page.once("dialog", lambda dialog: dialog.accept())
    tab.get_by_role("button", name="Revoke key browser-made").click()
    playwright_api.expect(tab.locator("#keys-table tr", has_text="browser-made").get_by_role("button")).to_have_count(0)
    page.screenshot("admin")


def test_api_docs_render_offline(page):
    tab = page.page
    tab.goto(f"{page.live.url}/docs")
    playwright_api.expect(tab.locator(".swagger-ui .info .title")).to_contain_text("Lore")
    playwright_api.expect(tab.locator(".opblock-summary-path", has_text="/v1/chat/completions").first).to_be_visible()
    tab.goto(f"{page.live.url}/redoc")
    playwright_api.expect(tab.locator("h1").first).to_contain_text("Lore", timeout=60_000)
