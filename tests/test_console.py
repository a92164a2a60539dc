"""The web console in a real browser: Debian's Chromium, driven by Playwright, against a real server.

The journey of someone who does not write code: sign in, create a store, drop documents on it and
watch each one become ready (or fail, with the reason in words), read a document's chunks with
their page numbers, search with a filter, ask an assistant and open the passage a citation points
to, see the usage charts and an eval run; then the same pages at a phone's width, and a project
key that is told why it sees no usage history.

Every page is saved as a PNG under the test's artifacts folder (RETRIEVD_TEST_ARTIFACTS, else a
pytest temporary folder; the path is printed). Look at them after a change to the console; the
set in docs/screenshots/ is a copy of the last one checked by eye.

Chromium comes from Debian (`apt-get install chromium`, done by `make install-test`); the
`playwright` package only drives it, so no browser is downloaded.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import DOCS, Server, start_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAPTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
WAIT_MS = 120_000  # ingestion and answers of a cold 2-core machine

playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make install-test)"
)


def write_eval_run(folder: Path) -> None:
    """A run as `retrievd eval run --output FOLDER` writes it: RESULTS.md, and results/adi/ with tables and plots."""
    from retrievd.eval.metrics import METRICS
    from retrievd.eval.report import DatasetResult, suite_markdown, write_dataset

    def per_query(*scores: float) -> dict[str, dict[str, float]]:
        return {f"q{i}": dict.fromkeys(METRICS, score) for i, score in enumerate(scores)}

    result = DatasetResult("adi", "hybrid", {"hybrid": per_query(0.9, 0.4, 0.6)}, per_query(0.7, 0.5, 0.3))
    write_dataset(result, folder / "results" / "adi", "retrievd eval run adi")
    (folder / "RESULTS.md").write_text(suite_markdown([result], "retrievd eval run adi"))


@pytest.fixture(scope="module")
def eval_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("eval")
    write_eval_run(root / "2025-06-10")
    return root


@pytest.fixture(scope="module")
def server(assets_ready: None, tmp_path_factory: pytest.TempPathFactory, eval_dir: Path) -> Iterator[Server]:
    yield from start_server(tmp_path_factory.mktemp("data"), eval_dir=eval_dir)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = (
        Path(os.environ.get("RETRIEVD_TEST_ARTIFACTS") or tmp_path_factory.mktemp("artifacts")) / "console"
    )
    folder.mkdir(parents=True, exist_ok=True)
    print(f"console screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Chromium with a fresh profile; a page's uncaught errors fail the test that caused them."""
    with playwright_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            tmp_path_factory.mktemp("profile"),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=LAPTOP,
        )
        context.set_default_timeout(30_000)
        yield context
        context.close()


@pytest.fixture
def page(browser, server: Server):  # type: ignore[no-untyped-def]
    page = browser.pages[0] if browser.pages else browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # Refused requests (a wrong key, a project key on admin pages) are expected; anything else, e.g. a
    # Content-Security-Policy violation, is not.
    page.on(
        "console",
        lambda m: m.type == "error" and "Failed to load resource" not in m.text and errors.append(m.text),
    )
    page.set_viewport_size(LAPTOP)
    page.goto(server.base_url.removesuffix("/v1") + "/")
    yield page
    assert not errors, errors


def unlabelled_controls(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Visible form controls a screen reader could not name."""
    return page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter((el) => el.type !== 'hidden' && (el.offsetParent !== null || el.type === 'file'))
            .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
            .map((el) => el.outerHTML.slice(0, 120))"""
    )


def snap(page, artifacts: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    assert unlabelled_controls(page) == [], name
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def sign_in(page, key: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()


def drop_file(page, selector: str, name: str, text: str) -> None:  # type: ignore[no-untyped-def]
    """A real drag-and-drop of one file onto the drop zone."""
    transfer = page.evaluate_handle(
        "([name, text]) => { const t = new DataTransfer(); t.items.add(new File([text], name, {type: 'text/markdown'})); return t; }",
        [name, text],
    )
    page.dispatch_event(selector, "dragover", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def test_upload_search_chat_usage_eval(page, server: Server, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    expect = playwright_api.expect

    # Sign in: a wrong key is refused in words; the right one opens the stores.
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    sign_in(page, "sk-wrong")
    expect(page.get_by_role("alert")).to_contain_text("Your API key was not accepted.")
    snap(page, artifacts, "01-sign-in")
    sign_in(page, server.admin_key)
    expect(page.get_by_role("heading", name="Vector stores")).to_be_visible()
    # Keyboard: a page opens with its heading focused, so Tab goes to its first control; the skip link works.
    page.keyboard.press("Tab")
    expect(page.get_by_label("New store name")).to_be_focused()
    page.locator("#skip").focus()
    expect(page.locator("#skip")).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()

    # Create a store.
    page.get_by_label("New store name").fill("Club history")
    page.get_by_role("button", name="Create store").click()
    expect(page.get_by_role("heading", name="Club history", level=1)).to_be_visible()

    # Add documents: one dropped on the zone, three chosen in the file picker; one of them is empty.
    drop_file(page, ".dropzone", "codeblock.md", (DOCS / "codeblock.md").read_text())
    page.set_input_files(
        "#upload-input",
        [str(DOCS / n) for n in ("book-war-and-peace-1p.txt", "layout-parser-paper-fast.pdf", "empty.txt")],
    )
    uploads = page.locator(".uploads li")
    expect(uploads).to_have_count(4)
    for name in ("codeblock.md", "book-war-and-peace-1p.txt", "layout-parser-paper-fast.pdf"):
        expect(uploads.filter(has_text=name)).to_contain_text("Ready to search", timeout=WAIT_MS)
    expect(uploads.filter(has_text="empty.txt")).to_contain_text("The file is empty.", timeout=WAIT_MS)
    files = page.locator("table tbody tr")
    expect(files).to_have_count(4)
    expect(files.filter(has_text="empty.txt")).to_contain_text("Failed")
    expect(files.filter(has_text="layout-parser-paper-fast.pdf").locator("td").nth(2)).to_have_text(
        re.compile(r"^\d+$")
    )
    snap(page, artifacts, "02-store-uploads")

    # Rename it, and have it deleted after 30 days without use.
    page.get_by_label("Name", exact=True).fill("Reading room")
    page.get_by_role("button", name="Rename").click()
    expect(page.get_by_role("heading", name="Reading room", level=1)).to_be_visible()
    page.get_by_label("When it has not been used for").check()
    page.get_by_label("Number of days").fill("30")
    page.get_by_role("button", name="Save expiration").click()
    expect(page.locator(".summary")).to_contain_text("After 30 days unused")

    # A document's chunks carry their page; an attribute is added to filter searches by.
    page.get_by_role("link", name="layout-parser-paper-fast.pdf").click()
    expect(page.get_by_role("heading", name="layout-parser-paper-fast.pdf")).to_be_visible()
    expect(page.locator(".chunks h3").first).to_contain_text("page 1")
    expect(page.locator(".chunks h3").last).to_contain_text("page 2")
    page.get_by_role("button", name="Add attribute").click()
    page.get_by_label("Attribute name").fill("kind")
    page.get_by_label("Attribute value").fill("paper")
    page.get_by_role("button", name="Save attributes").click()
    expect(page.locator("#toasts")).to_contain_text("Attributes saved.")
    snap(page, artifacts, "03-file-chunks")

    # Search: highlighted terms, score, file and page; a filter narrows to the paper.
    page.get_by_role("link", name="Search", exact=True).click()
    page.get_by_label("Question or keywords").fill("Anna Pavlovna reception")
    page.get_by_role("button", name="Search", exact=True).click()
    first = page.locator(".results .result").first
    expect(first).to_contain_text("book-war-and-peace-1p.txt")
    expect(first.locator("mark").first).to_be_visible()
    expect(first.locator(".score")).to_contain_text("score 0.")
    expect(first.locator(".page")).to_contain_text("chunk")
    snap(page, artifacts, "04-search")
    page.get_by_label("Question or keywords").fill("layout detection models")
    page.get_by_text("Options: number of results, ranking, filters").click()
    page.get_by_role("button", name="Add filter").click()
    page.get_by_label("Attribute", exact=True).fill("kind")
    page.get_by_label("Value", exact=True).fill("paper")
    page.get_by_role("button", name="Search", exact=True).click()
    results = page.locator(".results .result")
    expect(results.first).to_contain_text("layout-parser-paper-fast.pdf")
    expect(results.filter(has_text="book-war-and-peace-1p.txt")).to_have_count(0)
    expect(results.first.locator(".page")).to_contain_text("page")
    expect(results.first).to_contain_text("kind: paper")
    snap(page, artifacts, "05-search-filtered")

    # Chat: a new assistant over the store; the streamed answer cites a passage that opens.
    page.get_by_role("link", name="Chat").click()
    page.get_by_label("Name").fill("Reading guide")
    page.get_by_role("button", name="Create assistant").click()
    expect(page.get_by_label("Assistant", exact=True)).to_contain_text(
        "Reading guide (searches Reading room)"
    )
    page.get_by_label("Your question").fill("Who was Anna Pavlovna Scherer?")
    page.get_by_label("Your question").press("Enter")
    answer = page.locator(".message.assistant").last
    expect(answer).to_have_attribute("aria-busy", "false", timeout=WAIT_MS)
    expect(answer.locator(".answer-text")).to_contain_text("Scherer")
    expect(answer.locator("button.cite").first).to_be_visible()
    snap(page, artifacts, "06-chat-answer")
    # The built-in model quotes each passage in double quotes before its citation.
    quoted = answer.locator(".answer-text").evaluate(
        'p => p.firstChild.textContent.match(/"([^"]{30})[^"]*"\\s*$/)[1]'
    )
    answer.locator("button.cite").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("book-war-and-peace-1p.txt")
    passage = " ".join(dialog.locator("blockquote").inner_text().split())
    assert " ".join(quoted.split()) in passage
    snap(page, artifacts, "07-chat-citation")
    dialog.get_by_role("link", name="Open it in the document").click()
    expect(page.locator(".chunks li.target")).to_contain_text(" ".join(quoted.split()))
    page.keyboard.press("Escape")

    # Usage: what each store holds now, and (admin key) bytes per store and per project, cost and searches per day.
    page.get_by_role("link", name="Usage").click()
    expect(page.get_by_text("Stored per day, per store")).to_be_visible()
    expect(page.get_by_text("Stored per day, per project")).to_be_visible()
    expect(page.locator("figure.chart")).to_have_count(5)
    expect(page.locator("figure.chart svg circle").first).to_be_attached()
    snap(page, artifacts, "08-usage")

    # Eval: the run's table and plot.
    page.get_by_role("link", name="Eval").click()
    run = page.locator(".eval-run").filter(has=page.get_by_role("heading", name="2025-06-10/results/adi"))
    expect(run.locator("table")).to_contain_text("0.633")  # hybrid's mean nDCG@10
    expect(run.locator("img")).to_have_count(2)
    for plot in run.locator("img").all():
        expect(plot).to_have_js_property("complete", True)
        assert plot.evaluate("img => img.naturalWidth") > 0
    expect(
        page.locator(".eval-run").filter(has=page.get_by_role("heading", name="2025-06-10", exact=True))
    ).to_contain_text("default vs baseline")
    snap(page, artifacts, "09-eval")

    # A phone's width: nothing wider than the screen.
    page.set_viewport_size(PHONE)
    for name, link in (
        ("10-phone-stores", "Stores"),
        ("11-phone-search", "Search"),
        ("12-phone-chat", "Chat"),
    ):
        page.get_by_role("link", name=link, exact=True).click()
        expect(page.locator("main h1")).to_be_visible()
        page.wait_for_load_state("networkidle")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], name
        snap(page, artifacts, name)
    expect(page.locator(".message.assistant")).to_have_count(1)  # the conversation came back with the page


def test_project_key_is_told_why_usage_history_is_hidden(page, server: Server, artifacts: Path) -> None:  # type: ignore[no-untyped-def]
    expect = playwright_api.expect
    admin = {"Authorization": f"Bearer {server.admin_key}"}
    project = httpx.post(
        f"{server.base_url}/organization/projects", json={"name": "Reading group"}, headers=admin
    ).json()
    account = httpx.post(
        f"{server.base_url}/organization/projects/{project['id']}/service_accounts",
        json={"name": "console"},
        headers=admin,
    ).json()
    if page.get_by_role("button", name="Sign out").is_visible():
        page.get_by_role("button", name="Sign out").click()
    sign_in(page, account["api_key"]["value"])
    expect(page.get_by_text("No stores yet.")).to_be_visible()  # the admin's stores belong to another project

    page.get_by_label("New store name").fill("Scratch")
    page.get_by_role("button", name="Create store").click()
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Delete this store").click()
    expect(page.get_by_role("heading", name="Vector stores")).to_be_visible()
    expect(page.get_by_text("No stores yet.")).to_be_visible()

    page.get_by_role("link", name="Usage").click()
    expect(page.get_by_text("Usage over time is shown to administrators.")).to_be_visible()
    snap(page, artifacts, "13-usage-project-key")


def test_eval_runs_endpoint_reads_only_inside_its_folder(server: Server, eval_dir: Path) -> None:
    (eval_dir / "secret.json").write_text("{}")  # beside the runs, not in one
    outside = (
        eval_dir.parent / f"{eval_dir.name}-outside"
    )  # looks like a run, but is not below the eval directory
    outside.mkdir()
    (outside / "results.md").write_text("# adi\n")
    up = "%2E%2E"  # sent as is: a client would resolve a literal ".."
    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {server.admin_key}"}
    ) as http:
        runs = http.get("/retrievd/eval_runs").json()["data"]
        assert sorted((r["id"], r["files"]) for r in runs) == [
            ("2025-06-10", ["RESULTS.md"]),
            ("2025-06-10/results/adi", ["delta_ndcg.png", "metrics.png", "results.json", "results.md"]),
        ]
        plot = http.get("/retrievd/eval_runs/2025-06-10/results/adi/files/metrics.png")
        assert plot.headers["content-type"] == "image/png" and plot.content.startswith(b"\x89PNG")
        for path in (
            f"{up}/{outside.name}/files/results.md",
            f"2025-06-10/{up}/files/secret.json",
            "2025-06-10/results/files/results.md",
            "2025-06-10/results/adi/files/missing.png",
        ):
            assert http.get(f"/retrievd/eval_runs/{path}").status_code == 404, path
        assert httpx.get(f"{server.base_url}/retrievd/eval_runs").status_code == 401
