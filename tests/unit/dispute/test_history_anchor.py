"""Which anchor a package's loan history is taken at (`dispute.history.history_anchor`): the
newest final one a witness has cosigned; else the newest mined one. Found by the demo test
under load: the newest anchor, moments old, had no cosigner yet."""

from __future__ import annotations

from anchoring.anchor_store import FINAL, INCLUDED, AnchorRow, Cosignature
from dispute.history import history_anchor


def _row(size: int, status: str, mined: bool = True) -> AnchorRow:
    return AnchorRow(size, bytes(32), 0, 1337, "0x" + "11" * 20, "0x" + "22" * 32, status,
                     size if mined else None, "0x" + "33" * 32 if mined else None,
                     "2026-11-30T00:00:00Z" if mined else None, 2, 1,
                     "2026-11-30T00:00:00Z", "2026-11-30T00:00:00Z")


class Anchors:
    def __init__(self, rows: list[AnchorRow], cosigned: set[int]) -> None:
        self.rows = sorted(rows, key=lambda r: -r.tree_size)
        self.cosigned = cosigned

    def latest(self) -> AnchorRow | None:
        return self.rows[0] if self.rows else None

    def recent(self, limit: int = 50) -> list[AnchorRow]:
        return self.rows[:limit]

    def cosigners(self, size: int) -> list[Cosignature]:
        return [Cosignature(size, "0x" + "44" * 20, "0x" + "55" * 32, 1)] \
            if size in self.cosigned else []


def test_the_newest_final_and_cosigned_anchor_is_taken() -> None:
    anchors = Anchors([_row(10, FINAL), _row(20, FINAL), _row(30, INCLUDED)], {10, 20})
    assert history_anchor(anchors).tree_size == 20  # 30 is not final yet
    anchors = Anchors([_row(10, FINAL), _row(20, FINAL)], {10})
    assert history_anchor(anchors).tree_size == 10  # 20 is final but not witnessed yet


def test_without_a_cosigned_anchor_the_newest_mined_one_is_taken() -> None:
    assert history_anchor(Anchors([_row(10, FINAL), _row(20, INCLUDED)], set())).tree_size == 20
    assert history_anchor(Anchors([_row(10, FINAL), _row(20, INCLUDED, mined=False)],
                                  set())) is None
    assert history_anchor(Anchors([], set())) is None
