"""One cell formatter and one plain-text table for every table untwine shows."""

from __future__ import annotations

from untwine.text import format_cell, text_table


def test_a_cell_shows_floats_to_four_digits_and_structures_as_sorted_json():
    assert format_cell(0.123456) == "0.1235"
    assert format_cell(3) == "3" and format_cell("betavae") == "betavae"
    assert format_cell({"b": 1, "a": [2]}) == '{"a": [2], "b": 1}'
    assert format_cell(None) == "-" and format_cell(None, missing="") == ""


def test_a_table_aligns_columns_left_or_right_and_strips_trailing_spaces():
    rows = [["run", "score", "note"], ["a/long", "1.5", ""], ["b", "12.25", "x"]]
    assert text_table(rows) == "run     score  note\na/long  1.5\nb       12.25  x\n"
    assert text_table(rows, right={1}) == "run     score  note\na/long    1.5\nb       12.25  x\n"
    assert text_table([]) == ""
