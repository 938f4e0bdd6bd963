"""Geometry for the server-rendered SVG charts of the reviewer dashboard.

Pure functions: they turn figures into coordinates; the template draws them (names
and labels stay autoescaped there). No chart library, nothing from a CDN.
"""
from collections.abc import Callable
from dataclasses import dataclass, field

PALETTE = ["#2f5fb3", "#c2571a", "#237a3b", "#8a3ffc", "#a67c00", "#b42318", "#0f7b8a", "#6b7785"]
SMALL_N = 30


@dataclass
class Point:
    x: float
    y: float
    value: float
    n: int
    label: str
    href: str = ""

    @property
    def small(self) -> bool:
        return self.n < SMALL_N


@dataclass
class Line:
    name: str
    color: str
    points: list[Point] = field(default_factory=list)

    @property
    def path(self) -> str:
        return " ".join(f"{'M' if i == 0 else 'L'}{p.x:.1f},{p.y:.1f}" for i, p in enumerate(self.points))


@dataclass
class LineChart:
    width: int
    height: int
    left: int
    top: int
    plot_width: int
    plot_height: int
    lines: list[Line]
    x_ticks: list[tuple[float, str]]
    y_ticks: list[tuple[float, str]]

    @property
    def bottom(self) -> int:
        return self.top + self.plot_height

    @property
    def right(self) -> int:
        return self.left + self.plot_width


def line_chart(
    series: dict[str, list[dict]],
    *,
    link: Callable[[str, str], str] | None = None,
    colors: dict[str, str] | None = None,
    width: int = 720,
    height: int = 240,
    y_range: tuple[float, float] = (0.0, 1.0),
) -> LineChart | None:
    """series: name → [{"week", "value", "n"}]; ``link(name, week)`` gives each
    point's link; ``colors[name]`` its line's colour (else the palette in order)."""
    weeks = sorted({point["week"] for points in series.values() for point in points if point["value"] is not None})
    if not weeks:
        return None
    left, top, right_margin, bottom_margin = 44, 12, 16, 28
    plot_width, plot_height = width - left - right_margin, height - top - bottom_margin
    low, high = y_range
    step = plot_width / max(1, len(weeks) - 1)
    x_of = {week: left + (i * step if len(weeks) > 1 else plot_width / 2) for i, week in enumerate(weeks)}

    def y_of(value: float) -> float:
        return top + plot_height * (1 - (min(high, max(low, value)) - low) / (high - low))

    lines = []
    for i, (name, points) in enumerate(series.items()):
        line = Line(name=name, color=(colors or {}).get(name) or PALETTE[i % len(PALETTE)])
        for point in points:
            if point["value"] is None:
                continue
            href = link(name, point["week"]) if link else ""
            line.points.append(
                Point(
                    x=x_of[point["week"]],
                    y=y_of(point["value"]),
                    value=point["value"],
                    n=point["n"],
                    label=f"{name}, week of {point['week']}: {100 * point['value']:.0f}% (n = {point['n']})",
                    href=href,
                )
            )
        if line.points:
            lines.append(line)
    every = max(1, len(weeks) // 8)
    x_ticks = [(x_of[week], week[5:]) for week in weeks[::every]]
    y_ticks = [(y_of(low + (high - low) * k / 4), f"{100 * (low + (high - low) * k / 4):.0f}%") for k in range(5)]
    return LineChart(width, height, left, top, plot_width, plot_height, lines, x_ticks, y_ticks)


@dataclass
class Bar:
    label: str
    value: float
    n: int
    y: float
    length: float
    color: str
    href: str = ""

    @property
    def small(self) -> bool:
        return self.n < SMALL_N


@dataclass
class BarChart:
    width: int
    height: int
    left: int
    plot_width: int
    bars: list[Bar]
    bar_height: int
    reference_x: float | None
    reference_label: str

    @property
    def ticks(self) -> list[tuple[float, str]]:
        return [(self.left + self.plot_width * k / 4, f"{25 * k}%") for k in range(5)]


def bar_chart(
    rows: list[dict], *, reference: float | None = None, reference_label: str = "", width: int = 520
) -> BarChart | None:
    """rows: [{"label", "value" (0..1), "n", "href"?, "color"?}]; bars without a value are left out."""
    rows = [row for row in rows if row.get("value") is not None]
    if not rows:
        return None
    left, bar_height, gap = 170, 20, 8
    plot_width = width - left - 56
    bars = [
        Bar(
            label=row["label"],
            value=row["value"],
            n=row["n"],
            y=8 + i * (bar_height + gap),
            length=max(1.0, plot_width * min(1.0, max(0.0, row["value"]))),
            color=row.get("color") or PALETTE[i % len(PALETTE)],
            href=row.get("href", ""),
        )
        for i, row in enumerate(rows)
    ]
    height = 8 + len(bars) * (bar_height + gap) + 22
    reference_x = left + plot_width * reference if reference is not None else None
    return BarChart(width, height, left, plot_width, bars, bar_height, reference_x, reference_label)


def heat(share: float | None) -> str:
    """Background of a confusion cell: the row share as blue intensity."""
    alpha = 0.06 + 0.8 * share if share else 0.0
    return f"rgba(47, 95, 179, {alpha:.2f})"
