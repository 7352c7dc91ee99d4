"""Tables fit the terminal, $COLUMNS or 80 columns (a pipe, a file, a cron mail): whole rows, one number
format per column."""

from __future__ import annotations

import io

from mobco2_cli.common import render


def _table_text(rows: list[dict], **kw) -> str:
    out = io.StringIO()  # not a terminal
    render(rows, "table", out=out, meta={"factors": "test"}, title="footprint by month", **kw)
    return out.getvalue()


ROWS = [
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


def test_off_a_terminal_a_table_fits_80_columns_and_names_what_it_left_out(monkeypatch, capsys):
    monkeypatch.delenv("COLUMNS", raising=False)
    text = _table_text(ROWS)
    body = [line for line in text.splitlines() if line.startswith("│")]
    assert len(body) == 3  # one line a row: nothing folded
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "2024-01" in body[0] and "1,019.9" in body[0]  # the first columns stay
    assert "note" not in text


def test_the_hidden_columns_are_named_on_stderr(monkeypatch, capsys):
    monkeypatch.delenv("COLUMNS", raising=False)
    _table_text(ROWS)
    err = capsys.readouterr().err
    assert "not shown at 80 columns" in err and "note" in err and "--wide" in err


def test_columns_follow_the_COLUMNS_variable(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    assert max(len(line) for line in _table_text(ROWS).splitlines()) <= 60
    monkeypatch.setenv("COLUMNS", "200")
    assert "co2e_high_kg" in _table_text(ROWS)


def test_wide_keeps_every_column_on_one_line(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    text = _table_text(ROWS, wide=True)
    body = [line for line in text.splitlines() if line.startswith("│")]
    assert len(body) == 3
    assert max(len(line) for line in body) > 80
    assert "a long free-text cell that would have to fold at eighty columns" in body[0]


def test_a_unit_fixes_a_columns_decimals_whatever_the_values():
    zeros = _table_text([{"mode": "walk", "co2e_kg": 0.0, "distance_m": 812.4}])
    some = _table_text([{"mode": "car", "co2e_kg": 1.25, "distance_m": 10812.46}])
    assert "0.000" in zeros and "812" in zeros and "812.4" not in zeros
    assert "1.250" in some and "10,812" in some


def test_fractions_in_a_column_share_their_decimals_and_numbers_align_right():
    text = _table_text(
        [
            {"mode": "car", "ratio": 42.73, "n": 3},
            {"mode": "walk", "ratio": 0.0, "n": 12},
            {"mode": "bus", "ratio": 1.5, "n": None},
        ]
    )
    body = [line for line in text.splitlines() if line.startswith("│")]
    cells = [[c.strip("\n") for c in line.split("│")[1:-1]] for line in body]
    assert [c[1].strip() for c in cells] == ["42.73", "0.00", "1.50"]
    assert [c[2].strip() for c in cells] == ["3", "12", ""]
    # right-aligned: the numbers end in the same column, the text starts in the same column
    assert len({c[1].rstrip(" ").__len__() for c in cells}) == 1
    assert {c[0][:2] for c in cells} == {" c", " w", " b"}
