"""The legal workbench's proof columns and the loan page's completeness section (issue 13,
item 6), through TestClient on the real app and a real SQLite file (tests/e2e/conftest.py's
simulated portfolio, anchored in three steps, then two loans only logged): each loan's
record count and last record at the newest anchored checkpoint, its proof status, the cap
on checks per page, the insider edit shown as a divergence, and the JSON behind the link."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import update

from anchoring.tables import leaves
from service.pages import loans as loans_model
from tests.e2e.conftest import TENANT, Ledger
from tests.e2e.test_pages import key_for, login


def _rows(html: str) -> dict[str, dict[str, str]]:
    """Per loan id: its proof state, record count, last evidence id and badge title."""
    out = {}
    for chunk in html.split('<tr data-loan="')[1:]:
        row = chunk.split("</tr>")[0]
        head = re.match(r'([^"]+)" data-proof="([^"]+)"', row)
        assert head is not None, row[:200]
        loan, state = head.groups()
        count = re.search(r'class="num proof-count">([^<]*)<', row)
        last = re.search(r'class="proof-last"><span class="mono">([^<]+)<', row)
        title = re.search(r'data-proof="[^"]+" title="([^"]*)"', row)
        out[loan] = {"state": state, "count": count.group(1) if count else "",
                     "last": last.group(1) if last else "", "title": title.group(1) if title
                     else ""}
    return out


def _legal(ledger: Ledger, path: str = "/ui/legal") -> str:
    client = ledger.api.client
    login(client, key_for(ledger, "legal"))
    r = client.get(path)
    assert r.status_code == 200, r.text[:500]
    return r.text


def test_the_workbench_shows_each_loans_count_last_record_and_proof(ledger: Ledger) -> None:
    html = _legal(ledger)
    size = ledger.anchored_size
    assert f'data-size="{size}"' in html and "最新已锚定检查点" in html
    rows = _rows(html)
    store, origin = ledger.ctx.store, ledger.ctx.log.origin
    for loan in ledger.portfolio.loans:  # anchored: every record there, complete
        mine = store.loan_events(TENANT, loan.loan_id)
        assert rows[loan.loan_id]["state"] == "complete", rows[loan.loan_id]
        assert rows[loan.loan_id]["count"] == str(len(mine)) == str(len(loan.events))
        assert rows[loan.loan_id]["last"] == f"{origin}#{mine[-1].leaf_index}"
    for loan in ledger.later.loans:  # logged after the newest anchored checkpoint
        assert rows[loan.loan_id]["state"] == "no-records"
        assert rows[loan.loan_id]["count"] == "0" and rows[loan.loan_id]["last"] == ""
    assert 'id="proof-limit"' not in html
    assert "记录数" in html and "证明状态" in html and ">完整<" in html


def test_the_insider_edit_shows_as_a_divergence(ledger: Ledger) -> None:
    victim = ledger.portfolio.loans[0].loan_id
    moved = [leaf.leaf_index for leaf in ledger.ctx.store.loan_events(TENANT, victim)][-3:]
    with ledger.ctx.engine.begin() as conn:
        conn.execute(update(leaves).where(leaves.c.leaf_index.in_(moved))
                     .values(loan_id="L-GHOST"))
    html = _legal(ledger)
    rows = _rows(html)
    assert rows[victim]["state"] == "divergent" and "不一致！" in html
    n = len(ledger.portfolio.loans[0].events)
    assert f"holds {n - 3} record(s), its loan index entry says {n}" in rows[victim]["title"]
    assert rows[victim]["count"] == str(n)  # what the log signed, not what the table holds
    others = [loan.loan_id for loan in ledger.portfolio.loans[1:]]
    assert {rows[loan]["state"] for loan in others} == {"complete"}
    # the loan page names it too, and the JSON says complete: false
    client = ledger.api.client
    page = client.get(f"/ui/legal/loans/{TENANT}/{victim}").text
    assert 'id="completeness" data-proof="divergent"' in page
    assert 'id="completeness-problems"' in page and "its loan index entry says" in page
    answer = client.get(f"/ui/legal/loans/{TENANT}/{victim}/completeness.json").json()
    assert answer["complete"] is False and answer["count"] == n
    # the loan the records were moved to: its records do not open under the changed column;
    # the page says so and what to do, it does not fail
    ghost = client.get(f"/ui/legal/loans/{TENANT}/L-GHOST")
    assert ghost.status_code == 500 and "cannot be read" in ghost.text
    assert "cunzheng fsck" in ghost.text and "Traceback" not in ghost.text


def test_the_checks_per_page_are_capped_and_the_page_says_so(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loans_model, "MAX_PROOF_CHECKS", 3)
    html = _legal(ledger)
    states = [row["state"] for row in _rows(html).values()]
    assert len(states) == len(ledger.portfolio.loans) + len(ledger.later.loans)
    assert "not-checked" not in states[:3] and set(states[3:]) == {"not-checked"}
    assert 'id="proof-limit"' in html and "本页最多核验 3 笔贷款" in html


def test_the_loan_page_lists_the_history_and_links_the_json(ledger: Ledger) -> None:
    loan = ledger.portfolio.loans[1]
    client = ledger.api.client
    login(client, key_for(ledger, "legal"))
    r = client.get(f"/ui/legal/loans/{TENANT}/{loan.loan_id}?lang=zh")
    assert r.status_code == 200
    page = r.text
    assert 'id="completeness" data-proof="complete"' in page and "记录完整性" in page
    mine = ledger.ctx.store.loan_events(TENANT, loan.loan_id)
    seqs = re.findall(r'<tr data-seq="(\d+)" data-leaf="(\d+)">', page)
    assert seqs == [(str(n), str(leaf.leaf_index)) for n, leaf in enumerate(mine, start=1)]
    assert f'id="record-count">{len(mine)}<' in page
    link = re.search(r'href="([^"]+)" id="completeness-json"', page)
    assert link is not None
    j = client.get(link.group(1))
    assert j.status_code == 200 and j.headers["content-type"] == "application/json"
    answer = j.json()
    assert answer["complete"] and answer["count"] == len(mine)
    assert answer["checkpoint"]["tree_size"] == ledger.anchored_size
    assert [p["leaf_index"] for p in answer["records"]] == [leaf.leaf_index for leaf in mine]
    assert answer["records"][0]["event_type"] == mine[0].event_type
    # the JSON link is the legal pages': an auditor's session may not open it
    login(client, key_for(ledger, "auditor"))
    assert client.get(link.group(1), follow_redirects=False).status_code == 403
    login(client, key_for(ledger, "legal"))
    bad = client.get(f"/ui/legal/loans/{TENANT}/{loan.loan_id}/completeness.json",
                     params={"tree_size": 10**6})
    assert bad.status_code == 404 and "is not a signed checkpoint" in bad.json()["detail"]
