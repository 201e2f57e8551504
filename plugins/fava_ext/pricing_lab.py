"""The data of the pricing lab's pages in Fava (What-if, Forecast), from the reports
library (``reports.whatif``, ``reports.forecast``). Nothing here knows Fava.

* What-if: the proposals are the sub-folders of the book's ``proposals/`` folder (the
  extension's ``proposals`` option names another, relative to the book); a page shows
  one proposal over one period (a month or a quarter), computed when first asked for and
  kept for the load, with booked against proposed by month as a chart.
* Forecast: the forecast of a month as of the book's last day (kept with the month, as
  every report of a month is), with each customer's credit burn-down: the credits left
  at each month end of the book, then the days the forecast walks.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from tokenbooks.plugins.reports import Table, forecast, whatif
from tokenbooks.plugins.rules.periods import month_bounds, month_of, parse_period

from .pages import Pages

DEFAULT_PROPOSALS = "proposals"
BURN_DAYS = 120  # days of the forecast the burn-down shows
WIDTH, HEIGHT = 640, 140


def proposals_folder(pages: Pages, setting: str | None) -> Path:
    folder = Path(setting or DEFAULT_PROPOSALS)
    return folder if folder.is_absolute() else pages.ledger.root / folder


def proposals(pages: Pages, setting: str | None) -> list[str]:
    """The proposals: the sub-folders of the proposals folder, by name."""
    folder = proposals_folder(pages, setting)
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir()
                  and not p.name.startswith("."))


def quarters(periods: list[str]) -> list[str]:
    """The quarters of the months shown (2026-Q1), in order."""
    out: dict[str, None] = {}
    for p in periods:
        year, month = p.split("-")
        out[f"{year}-Q{(int(month) - 1) // 3 + 1}"] = None
    return list(out)


@dataclass
class WhatIfView:
    proposal: str
    period: str
    result: whatif.Comparison | None
    table: Table | None
    errors: list[str]


def whatif_view(pages: Pages, setting: str | None, proposal: str | None,
                period: str | None) -> WhatIfView | None:
    """The what-if of ``proposal`` over ``period`` (defaults: the first proposal, the last
    month shown), computed once per load."""
    names = proposals(pages, setting)
    if not names or not pages.last:
        return None
    name = proposal if proposal in names else names[0]
    allowed = [*pages.periods, *quarters(pages.periods)]
    chosen = period if period in allowed else pages.last
    last_month = month_of(parse_period(chosen)[1] - datetime.timedelta(days=1))
    if last_month not in pages.all_periods:
        last_month = pages.last
    cache = pages.ledger.month(last_month).cache
    key = ("whatif", name, chosen)
    found = cache.get(key)
    if found is None:
        try:
            prop = whatif.load_proposal(pages.ledger, proposals_folder(pages, setting) / name)
            result = whatif.compare(pages.ledger, prop, chosen)
            found = WhatIfView(name, chosen, result, whatif.table(result), [])
        except whatif.ProposalError as exc:
            found = WhatIfView(name, chosen, None, None, exc.messages)
        cache[key] = found
    return found


def bars_svg(series: list[tuple[str, Decimal, Decimal]], labels: tuple[str, str]) -> str:
    """An inline SVG of booked against proposed per month (two bars a month)."""
    if not series:
        return ""
    top = max([abs(v) for _, b, p in series for v in (b, p)] + [Decimal(1)])
    slot = WIDTH / len(series)
    bar = slot * 0.35
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT + 30}" '
             f'role="img" data-tb-chart="whatif">']
    for i, (month, booked, proposed) in enumerate(series):
        x = i * slot + slot * 0.1
        for j, (value, color) in enumerate(((booked, "#7a8ca3"), (proposed, "#d9822b"))):
            h = float(abs(value) / top) * HEIGHT
            parts.append(f'<rect x="{x + j * bar:.1f}" y="{HEIGHT - h:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}" fill="{color}"><title>{month} {labels[j]}: '
                         f'{value:,.2f}</title></rect>')
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT + 14}" font-size="11">{month}</text>')
    parts.append(f'<text x="0" y="{HEIGHT + 28}" font-size="11"><tspan fill="#7a8ca3">'
                 f'&#9632; {labels[0]}</tspan> <tspan fill="#d9822b">&#9632; {labels[1]}'
                 f'</tspan></text></svg>')
    return "".join(parts)


def whatif_chart(view: WhatIfView, figure: str = "revenue") -> str:
    if view.result is None:
        return ""
    return bars_svg([(m, *figures[figure]) for m, figures in view.result.monthly.items()],
                    ("booked", "proposed"))


def forecast_of(pages: Pages, period: str | None) -> forecast.Forecast | None:
    """The forecast of ``period`` (default: the last month shown), once per load."""
    if not pages.last:
        return None
    chosen = period if period in pages.periods else pages.last
    month = pages.ledger.month(chosen)
    found = month.cache.get("forecast")
    if found is None:
        found = month.cache["forecast"] = forecast.forecast(pages.ledger, chosen)
    assert isinstance(found, forecast.Forecast)
    return found


def burn_down(pages: Pages, result: forecast.Forecast
              ) -> list[tuple[str, list[tuple[datetime.date, Fraction]], int]]:
    """(customer, [(day, credits left)], index of the first projected point) of each
    customer with credits: the book's month ends to the as-of day, then the forecast."""
    out = []
    runs = pages.ledger.revenue.runs
    ends = [month_bounds(p)[1] for p in pages.ledger.periods]
    for item in result.customers:
        if item.burn is None:
            continue
        run = runs.get(item.contract.id)
        points: list[tuple[datetime.date, Fraction]] = []
        if run is not None:
            for end in ends:
                if end < result.as_of and end >= item.contract.start:
                    lots = run.lots_at(end)
                    points.append((end, sum((lot.remaining for lot in lots
                                             if lot.usable_on(end)), Fraction(0))))
        points.append((result.as_of, Fraction(item.credits_left or 0)))
        first = len(points)
        points += item.burn.balance[:BURN_DAYS]
        out.append((item.customer, points, first))
    return out


def line_svg(customer: str, points: list[tuple[datetime.date, Fraction]], first: int) -> str:
    """An inline SVG line of credits left over time (dashed where projected)."""
    if len(points) < 2:
        return ""
    t0, t1 = points[0][0], points[-1][0]
    span = max((t1 - t0).days, 1)
    top = max([float(v) for _, v in points] + [1.0])

    def xy(day: datetime.date, value: Fraction) -> str:
        return (f"{(day - t0).days / span * (WIDTH - 20) + 10:.1f},"
                f"{HEIGHT - float(value) / top * (HEIGHT - 10):.1f}")

    booked = " ".join(xy(d, v) for d, v in points[:first])
    projected = " ".join(xy(d, v) for d, v in points[first - 1:])
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT + 20}" '
            f'role="img" data-tb-chart="burn-{customer}">'
            f'<polyline points="{booked}" fill="none" stroke="#3b6ea5" stroke-width="2"/>'
            f'<polyline points="{projected}" fill="none" stroke="#d9822b" stroke-width="2" '
            f'stroke-dasharray="5,3"/>'
            f'<text x="10" y="{HEIGHT + 15}" font-size="11">{t0} .. {t1}: credits left, '
            f'{top:,.0f} at most (dashed: forecast)</text></svg>')
