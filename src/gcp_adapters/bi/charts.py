"""The report's charts, as Vega-Altair specifications over rows read from the marts.

Money leaves DuckDB as text (DECIMAL cast to VARCHAR) and Vega parses it for drawing only:
no Python float ever holds an amount. Rendering to PNG and SVG is vl-convert's, offline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import altair as alt
import attrs
import duckdb

WIDTH: Final = 640
HEIGHT: Final = 260
# Below this many rows a bar chart per day gives each day a labelled band of its own; from it
# on, the days stand on a time scale (too many bands to label).
DAY_BANDS_BELOW: Final = 40
Rows = list[dict[str, Any]]


@attrs.frozen
class Chart:
    name: str
    title: str
    caption: str
    spec: dict[str, Any]


def rows(db: duckdb.DuckDBPyConnection, sql: str) -> Rows:
    result = db.execute(sql)
    names = [column[0] for column in result.description or ()]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def _drawing(values: Rows, *numbers: str) -> alt.Chart:
    """A drawing of `values` (inline data); Vega parses the `numbers` columns (money comes as
    text) as numbers, for drawing only."""
    return alt.Chart({"values": values, "format": {"parse": dict.fromkeys(numbers, "number")}})


def _chart(
    name: str,
    title: str,
    caption: str,
    drawing: alt.Chart,
    *,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Chart:
    """The report's chart `name`: `drawing` at its size, titled `title` (in the picture and
    the report)."""
    spec: dict[str, Any] = drawing.properties(width=width, height=height, title=title).to_dict()
    return Chart(name, title, caption, spec)


def _day_bands(values: Rows) -> bool:
    """Whether bars per day get a band per day (few rows) rather than a time scale."""
    return len(values) < DAY_BANDS_BELOW


def _day_axis(values: Rows) -> alt.X:
    """The x axis of bars per day: a labelled band per day, or a time scale (DAY_BANDS_BELOW)."""
    return alt.X("yearmonthdate(day):O" if _day_bands(values) else "day:T", title="day (UTC)")


def liability(db: duckdb.DuckDBPyConnection) -> Chart:
    values = rows(
        db,
        "SELECT strftime(day, '%Y-%m-%d') AS day, currency, "
        "CAST(closing_balance AS VARCHAR) AS closing_balance, outstanding_certificates "
        "FROM liability_daily ORDER BY day, currency",
    )
    drawing = (
        _drawing(values, "closing_balance", "outstanding_certificates")
        .mark_line(point=len(values) < 60)
        .encode(
            x=alt.X("day:T", title="day (UTC)"),
            y=alt.Y("closing_balance:Q", title="outstanding liability (closing)"),
            color=alt.Color("currency:N"),
            tooltip=["day:T", "currency:N", "closing_balance:Q", "outstanding_certificates:Q"],
        )
    )
    return _chart(
        "liability",
        "Outstanding liability by currency",
        "Closing balance of liability_daily: what GCP owes on its certificates each day.",
        drawing,
    )


def issuance(db: duckdb.DuckDBPyConnection) -> Chart:
    values = rows(
        db,
        "SELECT strftime(day, '%Y-%m-%d') AS day, channel, currency, certificates, "
        "CAST(amount AS VARCHAR) AS amount FROM issuance_daily ORDER BY ALL",
    )
    drawing = (
        _drawing(values, "certificates", "amount")
        .mark_bar()
        .encode(
            x=_day_axis(values),
            y=alt.Y("sum(certificates):Q", title="certificates issued"),
            color=alt.Color("channel:N"),
            tooltip=["day:T", "channel:N", "currency:N", "certificates:Q", "amount:Q"],
        )
    )
    return _chart(
        "issuance",
        "Issuance by channel per day",
        "Certificates issued per day, stacked by sales channel (issuance_daily).",
        drawing,
    )


def redemptions(db: duckdb.DuckDBPyConnection) -> Chart:
    values = rows(
        db,
        "SELECT strftime(day, '%Y-%m-%d') AS day, kind, currency, "
        "CAST(sum(amount) AS VARCHAR) AS amount, count(*) AS events "
        "FROM redemptions WHERE kind IN ('REDEMPTION', 'REVERSAL') GROUP BY ALL ORDER BY ALL",
    )
    drawing = (
        _drawing(values, "amount", "events")
        .mark_bar()
        .encode(
            x=_day_axis(values),
            y=alt.Y("sum(amount):Q", title="amount"),
            color=alt.Color("kind:N", scale=alt.Scale(range=["#4c78a8", "#e45756"])),
            # In a day's band, redemptions and reversals side by side.
            xOffset="kind:N" if _day_bands(values) else alt.Undefined,
            row=alt.Row("currency:N"),
            tooltip=["day:T", "kind:N", "currency:N", "amount:Q", "events:Q"],
        )
    )
    return _chart(
        "redemptions",
        "Redemptions and reversals per day",
        "Money taken from certificates, and given back by reversals (redemptions).",
        drawing,
        height=HEIGHT // 2,
    )


def breakage(db: duckdb.DuckDBPyConnection) -> Chart:
    values = rows(
        db,
        "SELECT strftime(issue_month, '%Y-%m') AS cohort, currency, months_since_issue, "
        "CAST(cumulative_redemption_rate AS VARCHAR) AS rate "
        "FROM redemption_curve ORDER BY ALL",
    )
    drawing = (
        _drawing(values, "months_since_issue", "rate")
        .mark_line(point=True)
        .encode(
            x=alt.X(
                "months_since_issue:Q", title="months since issue", axis=alt.Axis(tickMinStep=1)
            ),
            y=alt.Y("rate:Q", title="share of issued amount redeemed", axis=alt.Axis(format="%")),
            color=alt.Color(
                "cohort:O", title="issue month", scale=alt.Scale(scheme="viridis", reverse=True)
            ),
            column=alt.Column("currency:N"),
            tooltip=[
                "cohort:O",
                "currency:N",
                "months_since_issue:Q",
                alt.Tooltip("rate:Q", format=".1%"),
            ],
        )
    )
    return _chart(
        "breakage",
        "Redemption curve per issue-month cohort",
        "Cumulative share of each cohort's issued amount redeemed (net of reversals), per "
        "currency; where a curve flattens below 100% is the breakage (redemption_curve, "
        "breakage_cohorts).",
        drawing,
        width=WIDTH // 3,
    )


def notifications(db: duckdb.DuckDBPyConnection) -> Chart:
    values = rows(
        db,
        "SELECT strftime(date_trunc('week', day), '%Y-%m-%d') AS week, channel, "
        "sum(requested) AS requested, sum(sent) AS sent, sum(failed) AS failed, "
        "CAST(CAST(sum(sent) AS DECIMAL(18, 6)) / nullif(sum(requested), 0) AS VARCHAR) "
        "AS delivery_rate FROM notifications_daily GROUP BY ALL ORDER BY ALL",
    )
    drawing = (
        _drawing(values, "requested", "sent", "failed", "delivery_rate")
        .mark_line(point=True)
        .encode(
            x=alt.X("week:T", title="week (UTC)"),
            y=alt.Y(
                "delivery_rate:Q",
                title="delivered (sent / requested)",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(zero=False),
            ),
            color=alt.Color("channel:N"),
            tooltip=[
                "week:T",
                "channel:N",
                "requested:Q",
                "sent:Q",
                "failed:Q",
                alt.Tooltip("delivery_rate:Q", format=".1%"),
            ],
        )
    )
    return _chart(
        "notifications",
        "Notification delivery rate",
        "CVC notifications CRM reported SENT per notification requested, week by week and by "
        "channel (notifications_daily has the daily counts, failures included).",
        drawing,
    )


def pools(db: duckdb.DuckDBPyConnection) -> Chart:
    values = rows(
        db,
        "SELECT strftime(occurred_at, '%Y-%m-%dT%H:%M:%S') AS occurred_at, pool, status, "
        "coalesce(reason, '') AS reason FROM pool_events ORDER BY ALL",
    )
    drawing = (
        _drawing(values)
        .mark_point(size=120, filled=True)
        .encode(
            x=alt.X("occurred_at:T", title="when (UTC)"),
            y=alt.Y("pool:N"),
            color=alt.Color(
                "status:N",
                scale=alt.Scale(domain=["ISSUE_BLOCKED", "POOL_LOW"], range=["#e45756", "#f58518"]),
            ),
            shape=alt.Shape("status:N", scale=alt.Scale(domain=["ISSUE_BLOCKED", "POOL_LOW"])),
            tooltip=["occurred_at:T", "pool:N", "status:N", "reason:N"],
        )
    )
    return _chart(
        "pool_events",
        "Pool events",
        "Each ISSUE_BLOCKED (a sale found the pool empty) and POOL_LOW (stock under the low "
        "watermark) publication (pool_events).",
        drawing,
        height=max(60, 40 * len({v["pool"] for v in values})),  # a row per pool
    )


CHARTS: Final[tuple[Callable[[duckdb.DuckDBPyConnection], Chart], ...]] = (
    liability,
    issuance,
    redemptions,
    breakage,
    notifications,
    pools,
)
