"""The LPR table shipped as data (`lending_core/data/lpr.json`) and the rate in force."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest

from lending_core.lpr import (
    LPR_REFORM_DATE,
    LprError,
    LprUnknown,
    load_lpr_table,
    lpr_in_force,
    lpr_on,
    repricing_dates,
)

D = Decimal

# Each change of either tenor, as publicly reported (the data file must agree).
CHANGES = [
    ("2019-08-20", "0.0425", "0.0485"),
    ("2019-09-20", "0.0420", "0.0485"),
    ("2019-11-20", "0.0415", "0.0480"),
    ("2020-02-20", "0.0405", "0.0475"),
    ("2020-04-20", "0.0385", "0.0465"),
    ("2021-12-20", "0.0380", "0.0465"),
    ("2022-01-20", "0.0370", "0.0460"),
    ("2022-05-20", "0.0370", "0.0445"),
    ("2022-08-22", "0.0365", "0.0430"),
    ("2023-06-20", "0.0355", "0.0420"),
    ("2023-08-21", "0.0345", "0.0420"),
    ("2024-02-20", "0.0345", "0.0395"),
    ("2024-07-22", "0.0335", "0.0385"),
    ("2024-10-21", "0.0310", "0.0360"),
    ("2025-05-20", "0.0300", "0.0350"),
]


def test_the_table_changes_exactly_at_the_public_dates() -> None:
    table = load_lpr_table()
    seen = []
    last = None
    for p in table.publications:
        pair = (p.one_year, p.five_year)
        if pair != last:
            seen.append((p.published_on.isoformat(), f"{p.one_year:f}", f"{p.five_year:f}"))
        last = pair
    assert seen == CHANGES


def test_one_publication_a_month_on_the_20th_or_the_next_working_day() -> None:
    table = load_lpr_table()
    months = [(p.published_on.year, p.published_on.month) for p in table.publications]
    assert months[0] == (2019, 8) and len(months) == len(set(months))
    y, m = months[0]
    for got in months:  # no month skipped
        assert got == (y, m)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    for p in table.publications:
        day = p.published_on
        assert 20 <= day.day <= 22
        # a weekend only when it was a working day (2021-02-20, a make-up Saturday)
        assert day.weekday() < 5 or day == date(2021, 2, 20)
    assert table.known_through >= table.publications[-1].published_on


def test_the_lpr_in_force_is_the_last_published_on_or_before_the_day() -> None:
    assert lpr_on(date(2019, 8, 20), "1y") == D("0.0425")
    assert lpr_on(date(2024, 1, 1), "1y") == D("0.0345")
    assert lpr_on(date(2024, 7, 21), "5y") == D("0.0395")  # the July 2024 cut came on the 22nd
    assert lpr_on(date(2024, 7, 22), "5y") == D("0.0385")
    assert lpr_on(date(2025, 1, 1), "1y") == D("0.0310")
    assert lpr_in_force(date(2025, 1, 1)).published_on == date(2024, 12, 20)
    assert lpr_on(date(2025, 5, 20), "5y") == D("0.0350")


def test_no_lpr_before_the_reform_or_after_the_table() -> None:
    with pytest.raises(LprUnknown, match="first LPR publication 2019-08-20"):
        lpr_on(LPR_REFORM_DATE - timedelta(days=1), "1y")
    later = load_lpr_table().known_through + timedelta(days=1)
    with pytest.raises(LprUnknown, match="append the newer publications"):
        lpr_on(later, "1y")
    # A simulation may carry the last known figure forward; evidence never does.
    assert lpr_on(later, "1y", carry_forward=True) == load_lpr_table().publications[-1].one_year


def test_the_data_file_names_its_source_and_asks_to_be_checked() -> None:
    raw = json.loads(resources.files("lending_core.data").joinpath("lpr.json").read_bytes())
    assert "National Interbank Funding Center" in raw["source"]
    assert "MUST be checked" in raw["source"]
    assert all(isinstance(p["1y"], str) and isinstance(p["5y"], str)
               for p in raw["publications"])


def test_a_malformed_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lpr.json"
    path.write_text(json.dumps({"schema": "cunzheng.lpr/v1", "known_through": "2020-01-01",
                                "publications": [{"published_on": "2019-09-20", "1y": "0.042",
                                                  "5y": "0.0485"},
                                                 {"published_on": "2019-08-20", "1y": "0.0425",
                                                  "5y": "0.0485"}]}))
    with pytest.raises(LprError, match="increasing date order"):
        load_lpr_table(path)
    path.write_text(json.dumps({"schema": "cunzheng.lpr/v1", "known_through": "2020-01-01",
                                "publications": [{"published_on": "2019-08-20", "1y": 0.0425,
                                                  "5y": "0.0485"}]}))
    with pytest.raises(LprError, match=r"publications\[0\] is malformed"):
        load_lpr_table(path)


def test_repricing_dates() -> None:
    assert repricing_dates("january_1", date(2024, 3, 20), date(2026, 1, 1)) == (
        date(2025, 1, 1), date(2026, 1, 1))
    assert repricing_dates("anniversary", date(2024, 3, 20), date(2026, 3, 19)) == (
        date(2025, 3, 20),)
    # 29 February falls on 28 February in a common year, and on the 29th in a leap year
    assert repricing_dates("anniversary", date(2024, 2, 29), date(2028, 3, 1)) == (
        date(2025, 2, 28), date(2026, 2, 28), date(2027, 2, 28), date(2028, 2, 29))
    assert repricing_dates("january_1", date(2025, 1, 1), date(2025, 12, 31)) == ()
