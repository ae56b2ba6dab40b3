"""CLI tables: no word is split across lines; optional columns give way first."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from cycleml.cli._common import make_table


def render(table: object, width: int = 140) -> str:
    out = io.StringIO()
    Console(file=out, width=width).print(table)
    return out.getvalue()


ROWS = [
    ("f682f1595e014c5eae254651003f5008", "boosting", "breast-cancer", "FINISHED",
     "2026-12-07 15:39:01", "0.965", "0.9505", "0.1315", "1", "0.9057", "0.5"),
    ("62b0569b238549ac988c409e5067be11", "baseline-dummy", "breast-cancer", "FINISHED",
     "2026-12-07 15:38:59", "0.6294", "0", "0.6593", "0", "0", "0.5"),
]  # fmt: skip
HEADERS = ["run id", "name", "experiment", "status", "started", "accuracy", "f1", "log_loss",
           "precision", "recall", "training_roc_auc"]  # fmt: skip


@pytest.mark.parametrize("width", [100, 140, 200])
def test_no_word_is_split_and_optional_columns_give_way(width: int) -> None:
    text = render(make_table("Runs", HEADERS, ROWS, optional=6, width=width), width)
    header_line = next(line for line in text.splitlines() if "run id" in line)
    shown = [cell.strip() for cell in header_line.strip("┃ ").split("┃")]
    assert shown[:5] == HEADERS[:5]  # the required ones always
    assert shown == HEADERS[: len(shown)]  # the optional ones in order, rightmost dropped
    for row in ROWS:
        for cell in row[: len(shown)]:
            for word in cell.split():
                assert word in text, (word, text)
    dropped = HEADERS[len(shown) :]
    if dropped:
        assert f"Not shown (too wide): {', '.join(dropped)}; see --json." in " ".join(text.split())
    if width >= 140:
        assert "2026-12-07 15:39:01" in text  # required columns are not even wrapped
        assert "accuracy" in shown


def test_long_paragraphs_wrap_between_words() -> None:
    prose = " ".join(["accuracy=0.951, f1=0.9293, training_log_loss=0.1832,"] * 8)
    rows = [("1", "Production", "ec07f042c7fa405984762d9085bf968a", prose, "2026-12-07 15:39:02")]
    text = render(make_table("m", ["version", "stage", "run", "metrics", "created"], rows))
    for word in prose.split():
        assert word in text
    assert "ec07f042c7fa405984762d9085bf968a" in text


def test_cells_are_plain_text_not_markup() -> None:
    text = render(make_table(None, ["payload"], [('{"removed": ["canary"]} [bold]x[/]',)]))
    assert '{"removed": ["canary"]} [bold]x[/]' in text


def test_a_token_longer_than_any_column_folds_instead_of_widening_the_table() -> None:
    path = "/very/long/" + "x" * 300 + "/file.parquet"
    text = render(make_table(None, ["source", "rows"], [(path, "5")]))
    assert max(len(line) for line in text.splitlines()) <= 140
