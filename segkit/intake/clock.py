"""The run's clock: today's date, in one place, so that a test can set it (monkeypatch `today`).

Rows dated after today are not purchases that happened (`segkit.intake.cleaning`, rule
`future_date`), and a month that has not ended by today is never whole
(`segkit.monthly.history.MonthCoverage.whole`)."""

from __future__ import annotations

import datetime as dt


def today() -> dt.date:
    """Today's date on the machine's clock."""
    return dt.date.today()
