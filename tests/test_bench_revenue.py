"""The benchmark's synthetic book checks with and without the plugins."""

from __future__ import annotations

import os
import re

from beancount import loader

from tokenbooks.scripts import bench_revenue


def test_benchmark_book_is_valid_with_and_without_plugins(tmp_path, monkeypatch):
    monkeypatch.setenv("BEANCOUNT_DISABLE_LOAD_CACHE", "1")
    entries = bench_revenue.build(tmp_path, customers=6, days=40, seed=3)
    assert entries > 6 * 40
    assert bench_revenue.plugin_lines() == [
        "plugin \"tokenbooks.plugins.book\" \"{'contracts': 'contracts', 'posting': 'month', "
        "'grain': 'day'}\""]
    lines = [line for line in bench_revenue.SEPARATE
             if line.split('"')[1].rsplit(".", 1)[-1] in bench_revenue.REVENUE_PLUGINS]
    assert len(lines) == 3
    lines = [re.sub(r"'contracts': '[^']*'", "'contracts': 'contracts'", line) for line in lines]
    with_plugins = bench_revenue.write_main(tmp_path, "with.beancount", lines)
    without = bench_revenue.write_main(tmp_path, "without.beancount", [])
    plain, errors, _ = loader.load_file(str(without))
    assert errors == []
    generated, errors, _ = loader.load_file(str(with_plugins))
    assert errors == []
    rules = {e.meta.get("rule") for e in generated if e.meta.get("filename") ==
             "<tokenbooks.revenue>"}
    assert {"usage", "commitment"} <= rules
    assert len(generated) > len(plain)
    assert os.path.exists(tmp_path / "contracts" / "customers")
