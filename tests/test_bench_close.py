"""The year's-book benchmark's own parts (scripts/bench_close.py): the grain set on the
book's plugin line and nothing else changed, Fava's book without its extension line,
a child's own CPU and peak memory, and the table of the figures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tokenbooks.scripts import bench_close

LINE = "plugin \"tokenbooks.plugins.book\" \"{'contracts': 'contracts', 'posting': 'month'}\""


def book(tmp_path: Path, line: str = LINE) -> Path:
    path = tmp_path / "main.beancount"
    path.write_text(f'option "title" "x"\n{line}\n'
                    '2026-01-01 custom "fava-extension" "tokenbooks.plugins.fava_ext"\n'
                    '; 2026-01-01 custom "fava-extension" in a comment stays\n'
                    'include "accounts.beancount"\n')
    return path


def test_the_grain_is_set_on_the_plugin_line_only(tmp_path: Path) -> None:
    path = book(tmp_path)
    before = path.read_text()
    bench_close.set_grain(path, "day")  # the default: the line is left as it is
    assert path.read_text() == before
    bench_close.set_grain(path, "month")
    assert path.read_text() == before.replace(
        "'posting': 'month'}", "'posting': 'month', 'grain': 'month'}")
    bench_close.set_grain(path, "day")
    assert "'grain': 'day'}" in path.read_text()


def test_a_book_without_the_line_is_refused(tmp_path: Path) -> None:
    path = book(tmp_path, 'plugin "tokenbooks.plugins.revenue"')
    with pytest.raises(SystemExit, match="no plugin line tokenbooks.plugins.book"):
        bench_close.set_grain(path, "month")


def test_fava_without_the_extension_keeps_everything_else(tmp_path: Path) -> None:
    path = bench_close.without_extension(book(tmp_path))
    lines = path.read_text().splitlines()
    assert path.name == "fava-without.beancount" and len(lines) == 5
    assert lines[2] == ('; (no extension) "tokenbooks.plugins.fava_ext"')
    assert lines[3].startswith("; 2026-01-01 custom") and lines[1] == LINE


def test_a_child_is_measured_alone(tmp_path: Path) -> None:
    # 300 MiB written by the child: its own peak, whatever ran before in this process
    done = bench_close.child([sys.executable, "-c", "b = b'x' * (300 << 20); print('held')"])
    assert done["output"] == "held\n" and done["status"] == 0
    assert 250 <= done["peak_mib"] < 500 and done["cpu"] > 0
    held = b"y" * (400 << 20)  # a fork of this process would start with 400 MiB as peak
    small = bench_close.child([sys.executable, "-c", "pass"])
    assert small["peak_mib"] < 100 and len(held)  # nor the largest child so far
    with pytest.raises(SystemExit, match="failed \\(3\\)"):
        bench_close.child([sys.executable, "-c", "raise SystemExit(3)"])
    assert bench_close.child([sys.executable, "-c", "raise SystemExit(3)"],
                             check=False)["status"] == 3


def test_the_table_shows_the_ratios() -> None:
    figures = {
        "events": 1234567, "usage_entries": 8900,
        "import": {"wall": 10.0, "cpu": 9.0, "peak_mib": 1500.0},
        "bean_check_open": {"with plugins": [3.0, 2.8, 400.0],
                            "without plugins": [2.0, 2.0, 300.0]},
        "closes": [{"period": "2026-01", "wall": 5.0, "cpu": 4.0, "peak_mib": 600.0},
                   {"period": "2026-12", "wall": 6.0, "cpu": 5.0, "peak_mib": 610.0}],
        "close_best": {"first": [4.5, 4.0], "last": [5.5, 4.4]}}
    text = bench_close.table(figures)
    assert "| import of the year (1,234,567 events, 8,900 usage entries) | 10.0 | 9.0 | " \
           "1,500 |  |" in text
    assert "| bean-check of the open year, with plugins | 3.0 | 2.8 | 400 | 1.40 CPU " \
           "(<= 1.5) |" in text
    assert "| close 2026-12 (best) | 5.5 | 4.4 | 610 | 1.10 CPU (<= 1.25) |" in text
