"""`gcp bi report --out DIR`: DIR/index.html with the charts embedded (PNG, as data: URIs, so
it opens from disk with nothing fetched), each chart as DIR/<name>.png and .svg, and each mart
as DIR/<table>.csv."""

from __future__ import annotations

import base64
import html
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import duckdb
import vl_convert as vlc

from gcp_adapters.bi.charts import CHARTS, Chart, rows
from gcp_adapters.bi.reconcile import open_marts

MARTS: Final = (
    "certificate_history",
    "liability_daily",
    "issuance_daily",
    "redemptions",
    "breakage_cohorts",
    "redemption_curve",
    "notifications_daily",
    "pool_events",
    "tender_mix",
    "rejected_messages",
)

_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>GCP BI report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
td, th {{ border: 1px solid #ccc; padding: .3rem .6rem; text-align: right; }}
th {{ background: #f4f4f4; }} figure {{ margin: 2rem 0; }} img {{ max-width: 100%; }}
figcaption {{ color: #555; }}
</style></head><body>
<h1>GCP BI report</h1>
<p>Built {built} from {marts}. Money is exact (DECIMAL); days are UTC.</p>
<h2>Outstanding liability (last day)</h2>
{summary}
{figures}
<h2>Marts (CSV)</h2>
<ul>{links}</ul>
</body></html>
"""


def _summary(db: duckdb.DuckDBPyConnection) -> str:
    last = rows(
        db,
        "SELECT strftime(day, '%Y-%m-%d') AS day, currency, CAST(closing_balance AS VARCHAR) "
        "AS closing, outstanding_certificates FROM liability_daily "
        "QUALIFY row_number() OVER (PARTITION BY currency ORDER BY day DESC) = 1 ORDER BY 2",
    )
    if not last:
        return "<p>No certificate issued yet.</p>"
    body = "".join(
        f"<tr><td>{html.escape(str(r['day']))}</td><td>{html.escape(str(r['currency']))}</td>"
        f"<td>{html.escape(str(r['closing']))}</td><td>{r['outstanding_certificates']}</td></tr>"
        for r in last
    )
    return (
        "<table><tr><th>day</th><th>currency</th><th>outstanding liability</th>"
        f"<th>certificates holding a balance</th></tr>{body}</table>"
    )


def _figure(chart: Chart, png: bytes) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return (
        f'<figure id="{chart.name}"><h2>{html.escape(chart.title)}</h2>'
        f'<img alt="{html.escape(chart.title)}" src="data:image/png;base64,{encoded}">'
        f"<figcaption>{html.escape(chart.caption)} "
        f'(<a href="{chart.name}.png">PNG</a>, <a href="{chart.name}.svg">SVG</a>)'
        "</figcaption></figure>"
    )


def write_report(marts: Path, out: Path) -> list[Path]:
    """Writes the report into `out`; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    db = open_marts(marts)
    written: list[Path] = []
    try:
        figures = []
        for make in CHARTS:
            chart = make(db)
            png = vlc.vegalite_to_png(chart.spec, scale=2)
            (out / f"{chart.name}.png").write_bytes(png)
            (out / f"{chart.name}.svg").write_text(vlc.vegalite_to_svg(chart.spec), "utf-8")
            written += [out / f"{chart.name}.png", out / f"{chart.name}.svg"]
            figures.append(_figure(chart, png))
        for table in MARTS:
            path = out / f"{table}.csv"
            # `table` is one of MARTS (constants), the path quoted: no input reaches the SQL.
            copy = f"COPY (SELECT * FROM {table} ORDER BY ALL) TO '{_quoted(path)}' (HEADER)"  # noqa: S608
            db.execute(copy)
            written.append(path)
        page = _PAGE.format(
            built=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            marts=html.escape(str(marts)),
            summary=_summary(db),
            figures="\n".join(figures),
            links="".join(f'<li><a href="{t}.csv">{t}.csv</a></li>' for t in MARTS),
        )
    finally:
        db.close()
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return [index, *written]


def _quoted(path: Path) -> str:
    return str(path.resolve()).replace("'", "''")
