"""The pages in a real browser: headless Debian Chromium driven by Playwright against a live
uvicorn server on a free port, over a real SQLite data directory. Log in, verify an
evidence package and a forged record, walk the legal workbench and run the self-audit;
screenshots go to pytest's tmp dir and to test-output/screenshots/.

Needs `/usr/bin/chromium` (Debian package `chromium`) and the `playwright` Python package;
never `playwright install` (this machine cannot download browsers)."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import pytest

from service.app import create_app
from service.settings import Settings
from tests.e2e.conftest import TENANT, Ledger, fill
from tests.integration.api_client import running_api

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
if not CHROMIUM.exists():  # pragma: no cover - depends on the machine
    pytest.skip("no /usr/bin/chromium (apt-get install chromium)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Ledger, Path]]:
    tmp = tmp_path_factory.mktemp("browser")
    settings = Settings(data_dir=tmp / "data", checkpoint_interval=0.05, anchor_enabled=False)
    with running_api(settings) as api:
        ledger = fill(api)
        with LiveServer(create_app(settings, api.ctx)) as server:
            yield server, ledger, tmp


@pytest.fixture(scope="module")
def browser(live: Any) -> Iterator[Any]:
    # Playwright gives each launch a fresh, empty profile directory of its own
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def shot(page: Any, tmp: Path, name: str) -> Path:
    path = tmp / "screenshots" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, SHOTS / name)
    return path


def log_in(page: Any, base: str, key: str, start: str) -> None:
    page.goto(base + start)
    assert "/ui/login" in page.url
    page.fill("#key", key)
    page.click("#login-form button[type=submit]")
    page.wait_for_load_state()


def test_verify_page_in_a_browser(live: Any, browser: Any) -> None:
    server, ledger, tmp = live
    from tests.e2e.test_pages import _build_package, _defaulted

    zip_path = tmp / "case.zip"
    zip_path.write_bytes(_build_package(ledger, _defaulted(ledger)))
    ctx = browser.new_context(viewport={"width": 1200, "height": 900}, locale="zh-CN")
    page = ctx.new_page()
    page.goto(server.url + "/ui/verify")
    assert "/ui/login?next=/ui/verify" in page.url
    shot(page, tmp, "01-login.png")
    log_in(page, server.url, ledger.api.key("verifier"), "/ui/verify")
    assert page.url.endswith("/ui/verify")
    # the key is in an HttpOnly cookie: scripts cannot read it
    assert page.evaluate("document.cookie").find("cz_ui_key") == -1
    [cookie] = [c for c in ctx.cookies() if c["name"] == "cz_ui_key"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/ui"

    page.set_input_files("#file", str(zip_path))
    page.click("#verify-submit")
    page.wait_for_selector("#result")
    assert page.get_attribute("#result", "data-status") == "anchored"
    assert page.locator("#checks li[data-status=failed]").count() == 0
    assert page.locator("#checks li[data-status=ok]").count() >= 5
    assert page.locator("#cosigners li").count() == 2
    assert page.inner_text("#block-time").endswith("Z")
    shot(page, tmp, "02-verify-package.png")

    leaf = ledger.ctx.store.leaf(1)
    assert leaf.record is not None
    content = json.loads(leaf.record)
    content["source"] = {**content["source"], "ref": "FORGED"}
    import rfc8785

    page.fill("#text", rfc8785.dumps(content).decode())
    page.select_option("#kind", "record")
    page.click("#verify-submit")
    page.wait_for_selector("#result")
    assert page.get_attribute("#result", "data-status") == "mismatch"
    assert page.locator("#checks li[data-status=failed]").count() >= 1
    shot(page, tmp, "03-verify-forged-record.png")
    ctx.close()


def test_legal_workbench_in_a_browser(live: Any, browser: Any) -> None:
    server, ledger, tmp = live
    from service.pages import cases
    from tests.e2e.test_pages import _defaulted

    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    log_in(page, server.url, ledger.api.key("legal"), "/ui/legal")
    page.goto(server.url + "/ui/legal?as_of=2024-09-01&lang=both")
    assert page.locator("#loans tbody tr").count() == 8
    assert page.locator("svg.chart").count() == 2
    shot(page, tmp, "04-legal-loans.png")
    loan_id = _defaulted(ledger)
    page.click(f"#loans tr[data-loan='{loan_id}'] a")
    page.wait_for_selector("#timeline")
    statuses = page.locator("#timeline li").evaluate_all("els => els.map(e => e.dataset.status)")
    assert statuses and set(statuses) == {"anchored"}
    ok, _ = cases.builder_available()
    if ok:
        page.select_option("#case-form select[name=venue]", "court")
        page.click("#case-form button[type=submit]")
        page.wait_for_selector("#case-built")
        with page.expect_download() as dl:
            page.click("#dl-pdf")
        assert dl.value.suggested_filename.endswith("case-file.pdf")
    else:
        assert page.is_visible("#case-unavailable")
        assert page.is_disabled("#case-form button[type=submit]")
    shot(page, tmp, "05-legal-loan-timeline.png")
    later = ledger.later.loans[0].loan_id
    page.goto(f"{server.url}/ui/legal/loans/{TENANT}/{later}")
    assert "logged-not-yet-anchored" in page.locator("#timeline li").evaluate_all(
        "els => els.map(e => e.dataset.status)")
    ctx.close()


def test_audit_page_in_a_browser(live: Any, browser: Any) -> None:
    server, ledger, tmp = live
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    log_in(page, server.url, ledger.api.key("auditor"), "/ui/audit")
    assert page.url.endswith("/ui/audit")
    assert page.inner_text("#tree-size") == str(ledger.ctx.store.tree_size())
    assert page.locator("#lag svg circle").count() == 3
    assert page.locator("#witnesses tbody tr").count() == 2
    page.click("#run-fsck")
    page.wait_for_selector(".fsck-result")
    assert page.get_attribute(".fsck-result", "data-ok") == "true"
    shot(page, tmp, "06-audit.png")
    # the legal workbench is not for auditors
    page.goto(server.url + "/ui/legal")
    assert "may not open this page" in page.content()
    ctx.close()
