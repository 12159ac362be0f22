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
from service.pages import session
from service.settings import Settings
from tests.e2e.conftest import TENANT, Ledger, fill
from tests.integration.api_client import running_api

CHROMIUM = Path("/usr/bin/chromium")
EVIL_HOST = "evil.test"  # another site (the attacker's), resolved to this machine
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 f"--host-resolver-rules=MAP {EVIL_HOST} 127.0.0.1"]
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
    # the session id is in an HttpOnly cookie: scripts cannot read it
    assert page.evaluate("document.cookie").find(session.COOKIE) == -1
    [cookie] = [c for c in ctx.cookies() if c["name"] == session.COOKIE]
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


# --- attacks from another site (issue 10) ------------------------------------------------


class OtherSite:
    """Another web server on this machine: the attacker's page, served on its own port."""

    def __init__(self, html: str) -> None:
        import http.server

        body = html.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def attack_page(base: str) -> str:
    """Links, a GET form, a POST to logout, an image and a frame, all aimed at /ui."""
    return f"""<!doctype html><html><body>
<a id="to-legal" href="{base}/ui/legal">legal</a>
<a id="to-verify" href="{base}/ui/verify?x=1">verify</a>
<form id="get-form" method="get" action="{base}/ui/audit"><button>audit</button></form>
<form id="logout-form" method="post" action="{base}/ui/logout"><button>win a prize</button></form>
<img src="{base}/ui/legal" alt="">
<iframe src="{base}/ui/legal"></iframe>
</body></html>"""


def session_cookie(ctx: Any) -> str | None:
    values = [c["value"] for c in ctx.cookies() if c["name"] == session.COOKIE]
    return values[0] if values else None


def test_another_site_cannot_log_the_user_out(live: Any, browser: Any) -> None:
    """Issue 10: a link or form from any site to a /ui page deleted the session cookie (the
    redirect to login cleared it when the SameSite=Strict cookie was not sent), and
    /ui/logout took cross-origin posts. Both from a cross-site origin (evil.test) and from
    a same-site one (this host, another port)."""
    server, ledger, tmp = live
    ctx = browser.new_context(viewport={"width": 1000, "height": 800})
    page = ctx.new_page()
    log_in(page, server.url, ledger.api.key("legal"), "/ui/legal")
    assert page.url.endswith("/ui/legal")
    before = session_cookie(ctx)
    assert before

    def still_logged_in(step: str) -> None:
        assert session_cookie(ctx) == before, step
        response = page.goto(server.url + "/ui/legal")
        assert response is not None and response.status == 200, step
        assert page.url == server.url + "/ui/legal", step
        assert page.locator("#loans").count() == 1, step

    with OtherSite(attack_page(server.url)) as evil:
        for attacker in (f"http://{EVIL_HOST}:{evil.port}/", f"http://127.0.0.1:{evil.port}/"):
            page.goto(attacker)
            page.wait_for_load_state("load")  # the image and the frame were requested
            still_logged_in(f"{attacker}: image and frame")
            for link in ("#to-legal", "#to-verify"):
                page.goto(attacker)
                page.click(link)
                page.wait_for_load_state()
                still_logged_in(f"{attacker}: link {link}")
            page.goto(attacker)
            page.click("#get-form button")
            page.wait_for_load_state()
            still_logged_in(f"{attacker}: GET form")
            page.goto(attacker)
            with page.expect_navigation() as nav:
                page.click("#logout-form button")
            response = nav.value
            assert response is not None and response.status == 403, attacker
            assert "cross-site form refused" in page.content()
            still_logged_in(f"{attacker}: POST /ui/logout")
    shot(page, tmp, "07-after-cross-site-attempts.png")
    # this site's own logout button still works, and ends the session on the server
    page.click("header form[action='/ui/logout'] button")
    page.wait_for_load_state()
    assert "/ui/login" in page.url and session_cookie(ctx) is None
    assert session.session_principal(ledger.ctx.engine, before, ledger.ctx.clock()) is None
    ctx.close()


def test_the_cookie_holds_a_session_id_never_the_key(live: Any, browser: Any) -> None:
    import hashlib
    import sqlite3

    server, ledger, _tmp = live
    key = ledger.api.key("admin")
    ctx = browser.new_context()
    page = ctx.new_page()
    log_in(page, server.url, key, "/ui/audit")
    assert page.url.endswith("/ui/audit")
    value = session_cookie(ctx)
    assert value is not None and len(value) >= 40
    key_id, secret = key.split("_")[1], key.split("_", 2)[2]
    assert value != key and secret not in value and key_id not in value
    # a dump of the database (and its files, WAL included) never holds the session id in
    # clear: only its SHA-256, next to the key id
    url = ledger.ctx.settings.resolved_database_url
    assert url.startswith("sqlite:///")
    db = Path(url.removeprefix("sqlite:///"))
    with sqlite3.connect(db) as conn:
        dump = "\n".join(conn.iterdump())
    assert value not in dump and key not in dump
    assert hashlib.sha256(value.encode()).hexdigest() in dump
    for path in db.parent.glob(db.name + "*"):
        assert value.encode() not in path.read_bytes(), path
    ctx.close()


@pytest.mark.parametrize("role", ["legal", "auditor", "lender"])
def test_the_verify_page_follows_the_api_roles(live: Any, browser: Any, role: str) -> None:
    """A role the verification API refuses is refused the verification page too."""
    server, ledger, _tmp = live
    key = ledger.api.key(role, TENANT if role == "lender" else None)
    api = ledger.api.client.post("/v1/verify/record", content=b"{}",
                                 headers={"Authorization": f"Bearer {key}"})
    assert api.status_code == 403
    ctx = browser.new_context()
    page = ctx.new_page()
    log_in(page, server.url, key, "/ui/verify")
    if role == "lender":  # no page at all: the login form says so and opens no session
        assert "/ui/login" in page.url and "has no pages here" in page.content()
        assert session_cookie(ctx) is None
    else:
        assert session_cookie(ctx) is not None
        response = page.goto(server.url + "/ui/verify")
        assert response is not None and response.status == 403
        assert "may not open this page" in page.content()
        assert page.locator("nav a[href='/ui/verify']").count() == 0
        response = page.request.post(server.url + "/ui/verify", multipart={"text": "{}"},
                                     headers={"Origin": server.url})
        assert response.status == 403
    ctx.close()


def test_docs_load_with_no_external_request_under_a_csp(live: Any, browser: Any) -> None:
    server, ledger, tmp = live
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    requested: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    response = page.goto(server.url + "/docs")
    assert response is not None and response.status == 200
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    page.wait_for_selector(".swagger-ui .info .title")
    page.wait_for_selector(".opblock")
    assert "Cunzheng" in page.inner_text(".swagger-ui .info .title")
    assert page.locator(".opblock").count() >= 10
    page.click(".opblock-summary-path >> text=/healthz")  # expands, from the bundled script
    page.wait_for_selector(".opblock.is-open")
    shot(page, tmp, "08-docs.png")
    assert requested and all(u.startswith(server.url + "/") for u in requested), requested
    assert not [p for p in problems if "Content Security Policy" in p], problems
    assert ledger.api.client.get("/redoc").status_code == 404  # the CDN-based page is off
    ctx.close()
