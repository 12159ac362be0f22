"""The web pages (/ui): rendering per role, login and redirects, verification verdicts,
the legal workbench and the auditor page — first through TestClient on the real app and
a real SQLite file, then in a real headless Chromium driven by Playwright against a live
uvicorn server (test_browser.py)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.pages import audit as audit_model
from service.pages import cases, session
from service.pages.charts import bar_chart, line_chart
from tests.e2e.conftest import CONTRACT, TENANT, WITNESSES, Ledger

PAGES = ("/ui/verify", "/ui/legal", "/ui/audit")
ACCESS = {  # role -> pages it may open (a lender has none: its login is refused)
    "verifier": {"/ui/verify"},
    "legal": {"/ui/legal"},
    "auditor": {"/ui/audit"},
    "admin": set(PAGES),
}


def login(client: TestClient, key: str) -> Any:
    client.cookies.clear()
    return client.post("/ui/login", data={"key": key, "next": ""}, follow_redirects=False)


def key_for(ledger: Ledger, role: str) -> str:
    return ledger.api.key(role, TENANT if role == "lender" else None)


def statuses(html: str, attr: str = "data-status") -> list[str]:
    return re.findall(rf'{attr}="([^"]+)"', html)


def result_status(html: str) -> str:
    m = re.search(r'id="result" data-status="([^"]+)"', html)
    assert m, html[:3000]
    return m.group(1)


# --- auth -----------------------------------------------------------------------------


def test_pages_redirect_to_login_without_a_key(ledger: Ledger) -> None:
    client = ledger.api.client
    client.cookies.clear()
    for page in PAGES:
        r = client.get(page, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == f"/ui/login?next={page}"
    r = client.get("/ui/login")
    assert r.status_code == 200 and 'name="key"' in r.text and 'type="password"' in r.text
    assert "default-src 'none'" in r.headers["content-security-policy"]


def test_login_sets_an_httponly_strict_cookie_and_goes_home(ledger: Ledger) -> None:
    client = ledger.api.client
    r = login(client, key_for(ledger, "legal"))
    assert r.status_code == 303 and r.headers["location"] == "/ui/legal"
    cookie = r.headers["set-cookie"]
    # the cookie names a server-side session, never the API key
    assert cookie.startswith(f"{session.COOKIE}=")
    assert key_for(ledger, "legal") not in cookie and "=cz_" not in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert login(client, key_for(ledger, "auditor")).headers["location"] == "/ui/audit"
    assert login(client, key_for(ledger, "verifier")).headers["location"] == "/ui/verify"
    # back to the page asked for, but never off the site
    r = client.post("/ui/login", data={"key": key_for(ledger, "admin"), "next": "/ui/audit"},
                    follow_redirects=False)
    assert r.headers["location"] == "/ui/audit"
    r = client.post("/ui/login", data={"key": key_for(ledger, "admin"),
                                       "next": "//evil.example/x"}, follow_redirects=False)
    assert r.headers["location"] == "/ui/verify"


def test_bad_keys_and_logout(ledger: Ledger) -> None:
    client = ledger.api.client
    for key in ("", "nonsense", "cz_0000_abc", "x" * 500):
        r = login(client, key)
        assert r.status_code == 401 and 'id="login-error"' in r.text, key
        assert "set-cookie" not in r.headers
    login(client, key_for(ledger, "legal"))
    assert client.get("/ui/legal").status_code == 200
    session_id = client.cookies[session.COOKIE]
    r = client.post("/ui/logout", follow_redirects=False)
    assert r.headers["location"] == "/ui/login"
    assert f'{session.COOKIE}=""' in r.headers["set-cookie"]
    # the session itself is gone: replaying the old cookie is a redirect to the login form
    client.cookies.clear()
    client.cookies.set(session.COOKIE, session_id, path="/ui")
    r = client.get("/ui/legal", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/login?next=/ui/legal"
    # a forged cookie is a redirect to the login form, not an error page; so is the raw
    # API key in place of a session id (what the cookie held before sessions)
    for forged in ("cz_deadbeef_forged", key_for(ledger, "verifier"), "x" * 500):
        client.cookies.set(session.COOKIE, forged, path="/ui")
        assert client.get("/ui/verify", follow_redirects=False).status_code == 303


def test_a_lender_has_no_pages(ledger: Ledger) -> None:
    client = ledger.api.client
    r = login(client, key_for(ledger, "lender"))
    assert r.status_code == 403 and "has no pages here" in r.text
    assert "set-cookie" not in r.headers


def test_a_request_without_the_cookie_does_not_log_out(ledger: Ledger) -> None:
    """What a link from another site looks like (the SameSite=Strict cookie is not sent):
    the answer sends to the login form but must not delete the cookie."""
    client = ledger.api.client
    login(client, key_for(ledger, "legal"))
    session_id = client.cookies[session.COOKIE]
    client.cookies.clear()
    for path in ("/ui/legal", "/ui/verify", "/ui/audit", "/ui/legal/loans/bank-a/x"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and "set-cookie" not in r.headers, path
    client.cookies.set(session.COOKIE, session_id, path="/ui")
    assert client.get("/ui/legal").status_code == 200


def test_a_cross_site_logout_is_refused(ledger: Ledger) -> None:
    client = ledger.api.client
    login(client, key_for(ledger, "legal"))
    for headers in ({"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"},
                    {"origin": "http://testserver:8081", "sec-fetch-site": "same-site"}):
        r = client.post("/ui/logout", headers=headers, follow_redirects=False)
        assert r.status_code == 403 and "set-cookie" not in r.headers, headers
        assert client.get("/ui/legal", follow_redirects=False).status_code == 200, headers


def test_sessions_are_stored_hashed_and_expire(ledger: Ledger) -> None:
    from datetime import timedelta

    from sqlalchemy import select

    from service.tables import ui_sessions

    client = ledger.api.client
    key = key_for(ledger, "verifier")
    login(client, key)
    session_id = client.cookies[session.COOKIE]
    with ledger.ctx.engine.connect() as conn:
        rows = conn.execute(select(ui_sessions)).all()
    assert session_id not in repr(rows) and key not in repr(rows)
    [row] = [r for r in rows if r.id_hash == hashlib.sha256(session_id.encode()).hexdigest()]
    assert row.key_id == key.split("_")[1]
    now = ledger.ctx.clock()
    assert row.expires_at - int(now.timestamp()) in range(session.SESSION_SECONDS - 60,
                                                          session.SESSION_SECONDS + 1)
    assert session.session_principal(ledger.ctx.engine, session_id, now) is not None
    later = now + timedelta(seconds=session.SESSION_SECONDS + 1)
    assert session.session_principal(ledger.ctx.engine, session_id, later) is None


def test_revoking_a_key_through_the_api_ends_its_sessions(ledger: Ledger) -> None:
    from sqlalchemy import func, select

    from service.tables import ui_sessions

    client = ledger.api.client
    key = key_for(ledger, "auditor")
    key_id = key.split("_")[1]
    login(client, key)
    assert client.get("/ui/audit").status_code == 200
    r = ledger.api.request("DELETE", f"/v1/admin/keys/{key_id}", role="admin")
    assert r.status_code == 204, r.text
    with ledger.ctx.engine.connect() as conn:
        left = conn.execute(select(func.count()).select_from(ui_sessions)
                            .where(ui_sessions.c.key_id == key_id)).scalar_one()
    assert left == 0
    assert client.get("/ui/audit", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("role", sorted(ACCESS))
def test_each_role_sees_its_pages_only(ledger: Ledger, role: str) -> None:
    client = ledger.api.client
    login(client, key_for(ledger, role))
    for page in PAGES:
        r = client.get(page, follow_redirects=False)
        if page in ACCESS[role]:
            assert r.status_code == 200, (role, page, r.text[:500])
            assert "<main>" in r.text
        else:
            assert r.status_code == 403, (role, page)
            assert "may not open this page" in r.text


def test_revoked_key_stops_at_the_next_click(ledger: Ledger) -> None:
    from service.auth import revoke_key

    client = ledger.api.client
    key = ledger.api.key("verifier")
    login(client, key)
    assert client.get("/ui/verify").status_code == 200
    revoke_key(ledger.ctx.engine, key.split("_")[1], "2026-01-01T00:00:00Z")
    assert client.get("/ui/verify", follow_redirects=False).status_code == 303


def test_cross_site_form_posts_are_refused(ledger: Ledger) -> None:
    client = ledger.api.client
    login(client, key_for(ledger, "auditor"))
    r = client.post("/ui/audit/fsck", headers={"origin": "https://evil.example"},
                    follow_redirects=False)
    assert r.status_code == 403
    assert ledger.ctx.anchors.get_value(audit_model.FSCK_KEY) is None


def test_language_switch(ledger: Ledger) -> None:
    client = ledger.api.client
    login(client, key_for(ledger, "verifier"))
    both = client.get("/ui/verify").text
    assert "核验" in both and "Verify" in both
    en = client.get("/ui/verify?lang=en").text
    assert ">Verify<" in en and "拖入文件" not in en
    zh = client.get("/ui/verify?lang=zh").text
    assert "拖入文件" in zh and "Drop a file" not in zh


# --- verification ---------------------------------------------------------------------


def _record(ledger: Ledger, index: int) -> str:
    leaf = ledger.ctx.store.leaf(index)
    assert leaf.record is not None
    return leaf.record.decode()


def _verify(client: TestClient, **form: Any) -> Any:
    files = form.pop("files", None)
    data = {"kind": "auto", "text": "", "evidence_id": "", **form}
    return client.post("/ui/verify", data=data, files=files)


def test_verify_an_anchored_record(ledger: Ledger) -> None:
    client = ledger.api.client
    login(client, key_for(ledger, "verifier"))
    r = _verify(client, text=_record(ledger, 0))
    assert r.status_code == 200
    assert result_status(r.text) == "anchored"
    html = r.text
    for check in ("record.canonical", "log.leaf", "proof.inclusion", "checkpoint.signature",
                  "anchor.root", "anchor.cosigners"):
        assert re.search(rf'data-check="{re.escape(check)}" data-status="ok"', html), check
    assert f"{ledger.ctx.log.origin}#0" in html
    assert WITNESSES[0] in html and CONTRACT in html
    assert ledger.ctx.anchors.covering(1).block_time in html  # type: ignore[union-attr]
    # no record content comes back: the borrower's name is not on the page
    content = json.loads(_record(ledger, 0))
    assert content["salt"] not in html


def test_verify_logged_tampered_unknown_and_by_id(ledger: Ledger) -> None:
    client = ledger.api.client
    login(client, key_for(ledger, "verifier"))
    last = ledger.ctx.store.tree_size() - 1
    r = _verify(client, files={"file": ("rec.json", _record(ledger, last).encode(),
                                        "application/json")})
    assert result_status(r.text) == "logged-not-yet-anchored"
    assert re.search(r'data-check="anchor" data-status="warning"', r.text)

    tampered = _record(ledger, 1).replace('"type":', '"type" :', 1)
    r = _verify(client, text=tampered, kind="record")
    assert result_status(r.text) in ("mismatch", "unknown")
    assert 'data-status="failed"' in r.text

    content = json.loads(_record(ledger, 1))
    content["source"] = {**content["source"], "ref": "FORGED"}
    import rfc8785

    forged = rfc8785.dumps(content).decode()
    r = _verify(client, text=forged)
    assert result_status(r.text) == "mismatch"
    assert "altered copy" in r.text

    r = _verify(client, text="ab" * 32)
    assert result_status(r.text) == "unknown"

    eid = f"{ledger.ctx.log.origin}#2"
    r = _verify(client, text=eid, kind="evidence-id")
    assert result_status(r.text) == "anchored" and eid in r.text
    r = _verify(client, text=_record(ledger, 3), evidence_id=eid, kind="record")
    assert result_status(r.text) == "mismatch"
    r = _verify(client, text="other.log/x#2", kind="evidence-id")
    assert re.search(r'data-check="evidence_id" data-status="failed"', r.text)

    r = _verify(client)
    assert r.status_code == 422 and 'id="verify-error"' in r.text


def test_verify_a_document(ledger: Ledger) -> None:
    import hashlib

    api = ledger.api
    body = b"%PDF-1.4 demand letter"
    sha = hashlib.sha256(body).hexdigest()
    assert api.request("PUT", f"/v1/documents/{sha}", tenant=TENANT, content=body,
                       headers={"content-type": "application/pdf"}).status_code == 201
    from tests.conftest import make_event

    event = make_event("doc-ev-1", loan_id="DOC-1", documents=[{
        "role": "notice", "sha256": sha, "media_type": "application/pdf",
        "filename": "notice.pdf", "size": len(body)}])
    assert api.post_events([event]).status_code == 201
    client = api.client
    login(client, key_for(ledger, "verifier"))
    r = _verify(client, files={"file": ("notice.pdf", body, "application/pdf")})
    assert re.search(r'data-check="document.cited" data-status="ok"', r.text), r.text[-3000:]
    assert result_status(r.text) in ("logged-not-yet-anchored", "anchored")
    r = _verify(client, files={"file": ("other.pdf", b"not cited", "application/pdf")})
    assert result_status(r.text) == "unknown"


def _build_package(ledger: Ledger, loan_id: str, venue: str = "court") -> bytes:
    """A real package of an anchored loan: the case-file renderer when it is there, a
    stand-in PDF otherwise (the verifier checks the PDF's hash, not its pages)."""
    from datetime import date

    from dispute.packagekey import package_signer
    from service.cases import build_dispute_package

    ok, _ = cases.builder_available()
    signer = package_signer(ledger.ctx.settings.data_dir, ledger.ctx.log.origin)
    built = build_dispute_package(
        ledger.ctx, tenant=TENANT, loan_id=loan_id, venue=venue, as_of=date(2024, 9, 1),
        signer=signer, render=None if ok else (lambda case: b"%PDF-1.7\n% stand-in\n"))
    return built.data


def _defaulted(ledger: Ledger) -> str:
    return next(loan.loan_id for loan in ledger.portfolio.loans if loan.behaviour == "default")


def test_verify_a_package_then_a_tampered_one(ledger: Ledger) -> None:
    pytest.importorskip("dispute.package")
    data = _build_package(ledger, _defaulted(ledger))
    client = ledger.api.client
    login(client, key_for(ledger, "verifier"))
    r = _verify(client, files={"file": ("case.zip", data, "application/zip")})
    assert r.status_code == 200
    checks = dict.fromkeys(re.findall(r'data-check="([^"]+)" data-status="failed"', r.text))
    assert not checks, r.text[-4000:]
    assert result_status(r.text) == "anchored"
    assert re.search(r'data-check="manifest.signature" data-status="ok"', r.text)
    assert re.search(r'data-check="log.items" data-status="ok"', r.text)
    assert "cunzheng verify package.zip" in r.text  # the offline command to repeat it
    items = len(json.loads(zipfile.ZipFile(io.BytesIO(data)).read("manifest.json"))["items"])
    assert "built-in method" not in r.text and f"· {items} " in r.text  # the exhibit count

    # change one record inside the zip: the page turns red and says where
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename.startswith("records/") and b"occurred_at" in body:
                body = body.replace(b"occurred_at", b"occurred_At", 1)
            dst.writestr(info, body)
    r = _verify(client, files={"file": ("case.zip", out.getvalue(), "application/zip")})
    assert result_status(r.text) == "mismatch"
    assert re.search(r'data-check="file.hash" data-status="failed"', r.text)


# --- legal workbench ------------------------------------------------------------------


def test_legal_lists_loans_by_classification(ledger: Ledger) -> None:
    client = ledger.api.client
    login(client, key_for(ledger, "legal"))
    r = client.get("/ui/legal?as_of=2024-09-01")
    assert r.status_code == 200
    html = r.text
    for loan in (*ledger.portfolio.loans, *ledger.later.loans):
        assert f'data-loan="{loan.loan_id}"' in html
    assert "<svg" in html and "Loans by classification" in html
    cats = set(re.findall(r'class="cat">([^<]+)<', html))
    assert cats and cats <= {"正常", "关注", "次级", "可疑", "损失"}
    assert cats - {"正常"}, "the defaulted loans are classified below 正常"
    # filter by classification
    some = min(cats - {"正常"})
    r = client.get(f"/ui/legal?as_of=2024-09-01&category={some}")
    assert set(re.findall(r'class="cat">([^<]+)<', r.text)) == {some}


def test_loan_timeline_shows_evidence_status(ledger: Ledger) -> None:
    client = ledger.api.client
    login(client, key_for(ledger, "legal"))
    old = ledger.portfolio.loans[0]
    r = client.get(f"/ui/legal/loans/{TENANT}/{old.loan_id}")
    assert r.status_code == 200
    sts = re.findall(r'class="ev st-([^"]+)" data-event="[^"]+" data-status="([^"]+)"', r.text)
    assert len(sts) == len(old.events) and {s for _, s in sts} == {"anchored"}
    assert True
    new = ledger.later.loans[0]
    r = client.get(f"/ui/legal/loans/{TENANT}/{new.loan_id}")
    assert set(statuses(r.text)) >= {"logged-not-yet-anchored"}
    assert client.get(f"/ui/legal/loans/{TENANT}/NOPE").status_code == 404


def test_build_a_case_or_see_it_is_not_available(ledger: Ledger) -> None:
    client = ledger.api.client
    login(client, key_for(ledger, "legal"))
    loan_id = _defaulted(ledger)
    r = client.post(f"/ui/legal/loans/{TENANT}/{loan_id}/case",
                    data={"venue": "court", "as_of": "2024-09-01"}, follow_redirects=False)
    ok, _why = cases.builder_available()
    if not ok:
        assert r.status_code == 503
        assert 'id="case-unavailable"' in r.text and "not available yet" in r.text
        return
    assert r.status_code == 303, r.text[-3000:]
    page = client.get(r.headers["location"])
    m = re.search(r'id="dl-package"[^>]*|href="/ui/legal/cases/(pkg-[0-9a-f]{32})\.zip"', page.text)
    assert m
    package_id = re.search(r"(pkg-[0-9a-f]{32})", page.text).group(1)  # type: ignore[union-attr]
    z = client.get(f"/ui/legal/cases/{package_id}.zip")
    assert z.status_code == 200 and z.content.startswith(b"PK")
    pdf = client.get(f"/ui/legal/cases/{package_id}/case-file.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_a_case_of_unanchored_records_is_refused_with_the_reason(ledger: Ledger) -> None:
    ok, _ = cases.builder_available()
    if not ok:
        pytest.skip("the case-file renderer is not in this build yet")
    client = ledger.api.client
    login(client, key_for(ledger, "legal"))
    r = client.post(f"/ui/legal/loans/{TENANT}/{ledger.later.loans[0].loan_id}/case",
                    data={"venue": "notary", "as_of": "2024-05-01"})
    assert r.status_code == 422 and "logged-not-yet-anchored" in r.text


def test_downloads_refuse_odd_ids(ledger: Ledger) -> None:
    client = ledger.api.client
    login(client, key_for(ledger, "legal"))
    assert client.get("/ui/legal/cases/..%2F..%2Fetc.zip").status_code == 404
    assert client.get("/ui/legal/cases/pkg-" + "0" * 32 + ".zip").status_code == 404
    assert client.get("/ui/legal/cases/pkg-" + "0" * 32 + "/case-file.pdf").status_code == 404


# --- audit ----------------------------------------------------------------------------


def test_audit_page_shows_size_checkpoints_lag_and_witnesses(ledger: Ledger) -> None:
    client = ledger.api.client
    login(client, key_for(ledger, "auditor"))
    r = client.get("/ui/audit")
    assert r.status_code == 200
    html = r.text
    assert f'<span id="tree-size">{ledger.ctx.store.tree_size()}</span>' in html
    assert html.count("<circle") == 3, "one lag point per recorded anchor"
    assert "7.5 s" in html  # the slowest anchor's lag
    for w in WITNESSES:
        assert w in html
    points = audit_model.lag_points(ledger.ctx)
    assert [p.lag_seconds for p in points] == [3.0, 7.5, 5.0]
    assert "not run yet" in html or "尚未运行" in html


def test_fsck_runs_on_demand_and_is_remembered(ledger: Ledger) -> None:
    client = ledger.api.client
    login(client, key_for(ledger, "auditor"))
    r = client.post("/ui/audit/fsck", follow_redirects=False)
    assert r.status_code == 303
    stored = json.loads(ledger.ctx.anchors.get_value(audit_model.FSCK_KEY) or "{}")
    assert stored["ok"] is True and stored["leaves_checked"] == ledger.ctx.store.tree_size()
    assert stored["by"].startswith("auditor:")
    html = client.get("/ui/audit").text
    assert 'data-ok="true"' in html
    # a tampered record shows up as a failed self-audit
    from sqlalchemy import update

    from anchoring.tables import leaves

    with ledger.ctx.engine.begin() as conn:
        conn.execute(update(leaves).where(leaves.c.leaf_index == 1).values(record=b'{"x":1}'))
    client.post("/ui/audit/fsck")
    html = client.get("/ui/audit").text
    assert 'data-ok="false"' in html and "leaf-hash" in html


# --- charts ---------------------------------------------------------------------------


def test_charts_escape_labels_and_handle_no_data() -> None:
    svg = str(line_chart([(1, 2.0), (5, 9.0)], title="<b>lag</b>", x_label="x&y", y_label="s"))
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "x&amp;y" in svg
    assert svg.count("<circle") == 2
    assert "<svg" not in str(line_chart([], title="t", x_label="x", y_label="y"))
    one = str(line_chart([(3, 4.0)], title="t", x_label="x", y_label="y"))
    assert one.count("<circle") == 1
    bars = str(bar_chart([("正常", 3), ("<关注>", 0)], title="c"))
    assert "&lt;关注&gt;" in bars and bars.count("<rect") == 2


# --- findings -------------------------------------------------------------------------


def test_findings_show_on_the_loan_page_and_the_audit_page(ledger: Ledger) -> None:
    from tests.conftest import make_event

    orphan = make_event("orphan-r1", "ORPHAN-1", type_="repayment_received",
                        occurred_at="2024-04-20T11:00:00+08:00")
    assert ledger.api.request("POST", "/v1/events", tenant=TENANT, json=orphan).status_code == 201
    client = ledger.api.client
    login(client, key_for(ledger, "legal"))
    html = client.get(f"/ui/legal/loans/{TENANT}/ORPHAN-1").text
    assert re.search(r'class="finding open" data-code="before_contract" '
                     r'data-event="orphan-r1"', html)
    clean = client.get(f"/ui/legal/loans/{TENANT}/{ledger.portfolio.loans[0].loan_id}").text
    assert 'class="finding' not in clean
    login(client, key_for(ledger, "auditor"))
    audit = client.get("/ui/audit").text
    section = audit[audit.index('id="loan-findings"'):]
    assert 'data-loan="ORPHAN-1"' in section and "before_contract" in section
    assert "25600.12" not in section  # codes and counts only: auditors see no content
