"""Tables printed where there is no terminal (a pipe, a file, a cron mail): whole rows, aligned numbers."""

from __future__ import annotations

import io

from mobco2_cli.common import render


def _table_text(rows: list[dict]) -> str:
    out = io.StringIO()  # not a terminal: rich would otherwise fold at its default 80 columns
    render(rows, "table", out=out, meta={"factors": "test"}, title="footprint by month")
    return out.getvalue()


def test_a_wide_table_keeps_each_row_on_one_line_when_not_printed_to_a_terminal():
    rows = [
        {
            "month": f"2024-{m:02d}",
            "km": 1018.948 + m,
            "trips": 142 + m,
            "co2e_kg": 42.73,
            "co2e_low_kg": 42.73,
            "co2e_high_kg": 49.5,
            "saved_co2e_kg": 102.219,
            "unknown_share": 0.0125,
            "note": "a long free-text cell that would have to fold at eighty columns",
        }
        for m in range(1, 4)
    ]
    text = _table_text(rows)
    body = [line for line in text.splitlines() if line.startswith("│")]
    assert len(body) == 3  # one line a row: nothing folded
    assert max(len(line) for line in body) > 80
    assert "1,019.948" in body[0] and "a long free-text cell that would have to fold at eighty columns" in body[0]


def test_fractions_in_a_column_share_their_decimals_and_numbers_align_right():
    text = _table_text(
        [
            {"mode": "car", "kg": 42.73, "n": 3},
            {"mode": "walk", "kg": 0.0, "n": 12},
            {"mode": "bus", "kg": 1.5, "n": None},
        ]
    )
    body = [line for line in text.splitlines() if line.startswith("│")]
    cells = [[c.strip("\n") for c in line.split("│")[1:-1]] for line in body]
    assert [c[1].strip() for c in cells] == ["42.73", "0.00", "1.50"]
    assert [c[2].strip() for c in cells] == ["3", "12", ""]
    # right-aligned: the numbers end in the same column, the text starts in the same column
    assert len({c[1].rstrip(" ").__len__() for c in cells}) == 1
    assert {c[0][:2] for c in cells} == {" c", " w", " b"}
