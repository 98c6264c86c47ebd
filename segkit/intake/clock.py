"""The run's clock: today's date, in one place, so that a test can set it (monkeypatch `today`).

Rows dated after the latest date a purchase can bear today are not purchases that happened
(`segkit.intake.cleaning`, rule `future_date`), and a month that has not ended by then is never whole
(`segkit.monthly.history.MonthCoverage.whole`). The data's dates are the shop's own (local time), the
machine's clock may be on another zone's date: on a server in UTC a Beijing shop's orders from 00:00 to
08:00 fall on the machine's "tomorrow", and a job run at 06:05 on the 1st in Beijing runs on the
machine's last day of the month before. So both rules give the clock TIME_ZONE_SLACK_DAYS of slack
(`latest_possible_date`): UTC+14 to UTC-12, the widest gap between two zones, is one day and two hours,
and a shop's date is never more than a day ahead of the machine's but for those two hours. The price:
on a machine whose clock is the shop's own, a job run on a month's last day takes the month as ended
(the data then decide whether it is whole: `MonthCoverage.whole`)."""

from __future__ import annotations

import datetime as dt

# the days a shop's local date may be ahead of the machine's (one: every zone's date is within a day of UTC's)
TIME_ZONE_SLACK_DAYS = 1


def today() -> dt.date:
    """Today's date on the machine's clock."""
    return dt.date.today()


def latest_possible_date(today_: dt.date | None = None) -> dt.date:
    """The latest date a shop anywhere can be on now: `today_` (None: `today()`, the machine's clock)
    plus TIME_ZONE_SLACK_DAYS. A date after it is in the future wherever the shop is (`future_date`);
    a month whose last day is before it may have ended in the shop's zone (`month_has_ended`).

    >>> latest_possible_date(dt.date(2026, 11, 30))
    datetime.date(2026, 12, 1)
    """
    return (today_ or today()) + dt.timedelta(days=TIME_ZONE_SLACK_DAYS)


def month_has_ended(month_end: dt.date, today_: dt.date | None = None) -> bool:
    """Whether the month ending on `month_end` has ended in the shop's zone, judged on the machine's
    clock (`today_`; None: `today()`) with TIME_ZONE_SLACK_DAYS of slack: the latest possible date is
    after its last day. A job at 06:05 on the 1st in Beijing (22:05 UTC the day before) reports the
    month just ended.

    >>> month_has_ended(dt.date(2026, 11, 30), dt.date(2026, 11, 30)), month_has_ended(dt.date(2026, 11, 30), dt.date(2026, 11, 29))
    (True, False)
    """
    return latest_possible_date(today_) > month_end
