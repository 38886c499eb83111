"""A self-contained HTML profile report: one file, no scripts, histograms drawn as inline SVG."""

from __future__ import annotations

from typing import Any

from mlcd.checks.stats import ColumnStats

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Profile of {{ ref }}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #222; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
table { border-collapse: collapse; } td, th { padding: .2rem .6rem; border-bottom: 1px solid #ddd;
text-align: left; } th { background: #f4f4f4; } .num { text-align: right; font-variant-numeric:
tabular-nums; } .bad { color: #b00; } svg { background: #fafafa; }
</style></head><body>
<h1>Profile of {{ ref }}</h1>
<p>{{ rows }} rows, {{ columns|length }} columns, content id <code>{{ content_id }}</code></p>
<table id="summary"><tr><th>column</th><th>type</th><th>nulls</th><th>zeros</th><th>distinct</th>
<th>min</th><th>max</th><th>mean</th><th>std</th><th>skewness</th><th>most common</th></tr>
{% for c in columns %}<tr><td><a href="#col-{{ loop.index }}">{{ c.name }}</a></td>
<td>{{ c.dtype }}</td><td class="num">{{ pct(c.null_fraction) }}</td>
<td class="num">{{ pct(c.zero_fraction) }}</td><td class="num">{{ num(c.distinct) }}</td>
<td class="num">{{ num(c.min) }}</td><td class="num">{{ num(c.max) }}</td>
<td class="num">{{ num(c.mean) }}</td><td class="num">{{ num(c.std) }}</td>
<td class="num">{{ num(c.skewness) }}</td>
<td>{{ c.mode }} ({{ pct(c.mode_share) }})</td></tr>{% endfor %}
</table>
{% for c in columns %}<h2 id="col-{{ loop.index }}">{{ c.name }} <small>{{ c.dtype }}</small></h2>
{% if c.histogram %}{{ svg(c.histogram) | safe }}{% endif %}
{% if c.quantiles %}<table><tr>{% for q, v in c.quantiles.items() %}
<th>p{{ (q|float * 100)|round|int }}</th>{% endfor %}</tr><tr>
{% for q, v in c.quantiles.items() %}<td class="num">{{ num(v) }}</td>{% endfor %}
</tr></table>{% endif %}
{% if c.categories %}<table><tr><th>value</th><th>rows</th><th>share</th></tr>
{% for v, n in top(c.categories) %}<tr><td>{{ v }}</td><td class="num">{{ num(n) }}</td>
<td class="num">{{ pct(n / c.rows if c.rows else 0) }}</td></tr>{% endfor %}</table>{% endif %}
{% endfor %}
</body></html>
"""


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _svg(histogram: dict[str, list[float]], width: int = 480, height: int = 120) -> str:
    counts = histogram["counts"]
    edges = histogram["edges"]
    peak = max(counts) or 1
    bar = width / len(counts)
    rects = "".join(
        f'<rect x="{i * bar:.1f}" y="{height - c / peak * height:.1f}" width="{bar - 1:.1f}" '
        f'height="{c / peak * height:.1f}" fill="#4a7ab5"><title>{edges[i]:.4g} to '
        f"{edges[i + 1]:.4g}: {int(c):,}</title></rect>"
        for i, c in enumerate(counts)
    )
    return f'<svg width="{width}" height="{height}" role="img">{rects}</svg>'


def render(ref: str, content_id: str, rows: int, profile: dict[str, ColumnStats]) -> str:
    from jinja2 import Environment

    env = Environment(autoescape=True)
    template = env.from_string(TEMPLATE)
    return template.render(
        ref=ref,
        content_id=content_id,
        rows=f"{rows:,}",
        columns=list(profile.values()),
        num=_num,
        pct=_pct,
        svg=_svg,
        top=lambda cats: sorted(cats.items(), key=lambda kv: -kv[1])[:20],
    )
