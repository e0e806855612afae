"""Server-side SVG charts (pygal), inlined in the page: no JavaScript, no CDN.

pygal's default configuration links its tooltip script from a CDN; `js=[]` turns that off, so
the SVG is self-contained (values are printed on the chart instead of in tooltips).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any

import pygal
from markupsafe import Markup
from pygal.style import Style

from .escrow_view import DayPoint
from .labels import SEVERITY, SEVERITY_ORDER

FONT = "'Noto Sans CJK SC', 'Noto Sans SC', 'Source Han Sans SC', 'PingFang SC', " \
       "'Microsoft YaHei', sans-serif"
CACHE_SIZE = 64
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.S | re.I)
LABEL_FONT = 12
# Drawn at about the size they are shown (half or all of the page), so text stays legible.
HALF_WIDTH = 560
FULL_WIDTH = 1100
SEVERITY_COLOURS = {"critical": "#b71c1c", "high": "#e65100", "medium": "#f9a825",
                    "low": "#78909c"}


def _style(colours: Sequence[str]) -> Style:
    return Style(
        font_family=FONT, background="#ffffff", plot_background="#ffffff",
        foreground="#37474f", foreground_strong="#263238", foreground_subtle="#90a4ae",
        colors=tuple(colours), label_font_size=LABEL_FONT, major_label_font_size=LABEL_FONT,
        legend_font_size=13, title_font_size=15, value_font_size=12, tooltip_font_size=12,
        guide_stroke_color="#cfd8dc", major_guide_stroke_color="#b0bec5")


def _cjk_margin(labels: Iterable[str]) -> int:
    """pygal sizes label space as if every character were Latin-narrow; a Chinese character is
    a full em, so the longest label is given the difference as extra margin (else it is cut)."""
    longest = max((len(label) for label in labels), default=0)
    return int(longest * LABEL_FONT * 0.45)


def _config(**kwargs: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict(
        js=[], disable_xml_declaration=True, explicit_size=False, legend_at_bottom=True,
        legend_at_bottom_columns=4, margin=16, truncate_legend=-1, truncate_label=-1,
        include_x_axis=True, print_zeroes=False)
    base.update(kwargs)
    return base


def _svg(chart: Any) -> str:
    # pygal builds the SVG with an XML library, so labels are escaped. It always embeds a
    # <script> holding its configuration for its (absent) tooltip script: the console's CSP
    # refuses inline scripts, so it is removed rather than left to raise a violation.
    return _SCRIPT.sub("", chart.render(is_unicode=True))


def _yuan_axis(amount: float) -> str:
    """Chart labels in whole yuan, or 万元 from ten thousand: short enough not to collide.
    (Exact figures in fen are in the tables beside the charts.)"""
    if abs(amount) >= 10_000:
        return f"¥{amount / 10_000:,.1f}万"
    return f"¥{amount:,.0f}"


# Rendering is most of a chart page's time and a pure function of the figures, so each chart
# is cached by its figures: a page reloaded while nothing changed renders no chart again.
@functools.lru_cache(maxsize=CACHE_SIZE)
def _custody(days: tuple[str, ...], custody: tuple[int, ...], consumed: tuple[int, ...]) -> str:
    chart = pygal.Line(**_config(
        style=_style(("#1565c0", "#2e7d32")), width=FULL_WIDTH, height=360, show_dots=False,
        fill=False, margin_bottom=28,
        x_label_rotation=0, show_minor_x_labels=False, x_labels_major_every=15,
        value_formatter=_yuan_axis, y_labels_major_every=2))
    chart.x_labels = list(days)
    # pygal plots floats; the figures people read elsewhere on the page stay integer fen.
    chart.add("监管账户余额（日终）", [fen / 100 for fen in custody])
    chart.add("期内累计课消", [fen / 100 for fen in consumed])
    return _svg(chart)


def custody_chart(points: Sequence[DayPoint]) -> Markup:
    """Custody at the end of each day against consumption booked since the period began."""
    return Markup(_custody(tuple(p.day.strftime("%m-%d") for p in points),
                           tuple(p.custody_fen for p in points),
                           tuple(p.consumed_fen for p in points)))


@functools.lru_cache(maxsize=CACHE_SIZE)
def _flags_by_district(labels: tuple[str, ...],
                       series: tuple[tuple[str, tuple[int | None, ...]], ...]) -> str:
    chart = pygal.StackedBar(**_config(
        style=_style([SEVERITY_COLOURS[s] for s in SEVERITY_ORDER]), width=HALF_WIDTH,
        height=380,
        print_values=True, print_values_position="center", x_label_rotation=0))
    chart.x_labels = list(labels)
    for title, values in series:
        chart.add(title, list(values))
    return _svg(chart)


def flags_by_district_chart(rows: Iterable[tuple[str, str, int]],
                            districts: dict[str, str]) -> Markup:
    """Outstanding flags per district, stacked by severity."""
    codes = list(districts)
    counts = {(d, s): n for d, s, n in rows}
    series = tuple((SEVERITY[s], tuple(counts.get((c, s), 0) or None for c in codes))
                   for s in SEVERITY_ORDER)
    return Markup(_flags_by_district(tuple(districts[c] for c in codes), series))


@functools.lru_cache(maxsize=CACHE_SIZE)
def _horizontal(title: str, colour: str, labels: tuple[str, ...], values: tuple[float, ...],
                money: bool, width: int) -> str:
    extra: dict[str, Any] = {"value_formatter": _yuan_axis} if money else {}
    chart = pygal.HorizontalBar(**_config(
        style=_style((colour,)), width=width, height=max(220, 30 * len(labels) + 90),
        print_values=True, show_legend=False, print_values_position="top",
        margin_left=16 + _cjk_margin(labels), **extra))
    # pygal draws the first label at the bottom: reversed, the list reads top to bottom.
    chart.x_labels = list(reversed(labels))
    chart.add(title, list(reversed(values)))
    return _svg(chart)


def custody_by_district_chart(totals: dict[str, int], districts: dict[str, str]) -> Markup:
    codes = list(districts)
    return Markup(_horizontal("监管账户余额", "#1565c0", tuple(districts[c] for c in codes),
                              tuple(totals.get(c, 0) / 100 for c in codes), True, HALF_WIDTH))


def rule_chart(rows: Sequence[tuple[str, int]], titles: dict[str, str]) -> Markup:
    return Markup(_horizontal("待办问题数", "#5e35b1",
                              tuple(titles.get(rule, rule) for rule, _n in rows),
                              tuple(n for _rule, n in rows), False, FULL_WIDTH))
