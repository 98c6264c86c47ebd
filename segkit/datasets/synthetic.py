"""A seeded generator of realistic retail data for the demo, the tests and the benchmarks.

Buying follows the story that repeat-buying models tell (and that real shops show): each customer
buys at their own rate (gamma-distributed across customers), may drop out after any purchase
(beta-distributed dropout), and spends around their own typical basket (log-normal). Together
these make a few customers bring most of the revenue. The same seed gives the same data, byte for
byte.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

CATEGORIES = (
    "apparel", "shoes", "beauty", "electronics", "home", "kitchen", "toys", "books", "sports",
    "grocery", "baby", "pets", "jewelry", "office", "garden",
)
CHANNELS = ("online", "app", "store")
REGIONS = ("North", "Northeast", "East", "South", "Central", "Southwest", "Northwest")
CUSTOMER_TYPES = ("individual", "enterprise", "government")
# The demo's values as a Chinese shop writes them (`generate_retail(lang="zh")`): the same data, in words
# a Chinese analyst's own export would hold (regions as 华北 …, the customer types as 个人/企业/政府).
VALUES_ZH = {
    "category": dict(zip(CATEGORIES, ("服装", "鞋靴", "美妆", "数码", "家居", "厨具", "玩具", "图书", "运动户外",
                                      "食品", "母婴", "宠物", "珠宝", "办公", "园艺"))),
    "channel": dict(zip(CHANNELS, ("网店", "App", "门店"))),
    "region": dict(zip(REGIONS, ("华北", "东北", "华东", "华南", "华中", "西南", "西北"))),
    "customer_type": dict(zip(CUSTOMER_TYPES, ("个人", "企业", "政府"))),
}


@dataclass(frozen=True)
class RetailData:
    transactions: pd.DataFrame
    customers: pd.DataFrame
    surveys: pd.DataFrame
    campaigns: pd.DataFrame | None = None  # customer_id, campaign, sent_at, responded, revenue, control


def generate_retail(customers: int = 4000, start: dt.date | str = "2024-01-01", months: int = 24,
                    seed: int = 42, defects: float = 0.0, campaigns: bool = True, lang: str = "en") -> RetailData:
    """Transactions (one row per order line), customer attributes and survey answers.

    `lang` is the language of the values (category, channel, region, customer_type): "en" (apparel,
    North, enterprise) or "zh" (服装, 华北, 企业, from VALUES_ZH); the same rows in the same order either way.

    `defects` is the share of transaction rows given a real-world flaw, for the cleaning stage to
    find: lines exported twice, a lost customer id, returns booked as negative amounts.
    `campaigns` adds a campaigns table (see `demo_campaigns`), drawn from a random stream of its
    own, so the transactions, customers and surveys are the same with or without it.

    >>> data = generate_retail(customers=50, seed=1)
    >>> sorted(data.transactions.columns)[:3]
    ['amount', 'category', 'channel']
    """
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(start)
    end = start + pd.DateOffset(months=months)
    span_days = (end - start).days

    ids = np.array([f"C{i:06d}" for i in range(1, customers + 1)])
    kind = rng.choice(len(CUSTOMER_TYPES), size=customers, p=[0.86, 0.11, 0.03])
    region = rng.choice(len(REGIONS), size=customers, p=[0.16, 0.08, 0.26, 0.22, 0.12, 0.09, 0.07])
    # Acquisition is spread over the first 80% of the period, a little front-loaded.
    signup_day = np.floor(span_days * 0.8 * rng.beta(1.0, 1.3, size=customers)).astype(int)
    rate_per_day = rng.gamma(shape=0.55, scale=1 / 0.55, size=customers) * (1.6 / 30.0)
    rate_per_day *= np.array([1.0, 1.8, 1.3])[kind]
    dropout = rng.beta(1.1, 5.0, size=customers)
    basket = np.exp(rng.normal(np.log(45.0), 0.65, size=customers)) * np.array([1.0, 4.0, 2.5])[kind]
    favourite_channel = rng.choice(len(CHANNELS), size=customers, p=[0.55, 0.3, 0.15])
    category_taste = rng.dirichlet(np.full(len(CATEGORIES), 0.25), size=customers)

    order_rows = []  # (customer index, day offset)
    for i in range(customers):
        day = float(signup_day[i])
        while True:
            order_rows.append((i, day))
            if rng.random() < dropout[i]:
                break
            day += rng.exponential(1.0 / rate_per_day[i])
            if day >= span_days:
                break
    order_customer = np.array([c for c, _ in order_rows])
    order_day = np.array([d for _, d in order_rows])
    n_orders = len(order_rows)

    seconds = (np.floor(order_day).astype(np.int64) * 86400
               + rng.integers(8 * 3600, 22 * 3600, size=n_orders))
    ordered_at = start + pd.to_timedelta(seconds, unit="s")
    order_value = basket[order_customer] * np.exp(rng.normal(0.0, 0.45, size=n_orders))
    channel = np.where(rng.random(n_orders) < 0.8, favourite_channel[order_customer],
                       rng.integers(0, len(CHANNELS), size=n_orders))
    lines_per_order = 1 + rng.poisson(0.6, size=n_orders)

    line_order = np.repeat(np.arange(n_orders), lines_per_order)
    n_lines = len(line_order)
    share = rng.gamma(1.0, size=n_lines)
    share /= np.bincount(line_order, weights=share)[line_order]
    line_customer = order_customer[line_order]
    cumulative = category_taste[line_customer].cumsum(axis=1)
    draw = rng.random(n_lines)[:, None]
    category = np.minimum((draw > cumulative).sum(axis=1), len(CATEGORIES) - 1)
    quantity = 1 + rng.poisson(0.5, size=n_lines)

    transactions = pd.DataFrame({
        "customer_id": ids[line_customer],
        "order_id": np.char.add("O", np.char.zfill((line_order + 1).astype(str), 8)),
        "ordered_at": ordered_at[line_order].astype("datetime64[s]"),
        "amount": np.round(order_value[line_order] * share, 2).clip(min=0.5),
        "quantity": quantity,
        "category": np.array(CATEGORIES)[category],
        "channel": np.array(CHANNELS)[channel[line_order]],
    }).sort_values(["ordered_at", "order_id", "category"], kind="stable").reset_index(drop=True)
    sent = demo_campaigns(transactions, start, end, seed) if campaigns else None
    if defects > 0:
        transactions = _with_defects(transactions, rng, defects)

    customers_frame = pd.DataFrame({
        "customer_id": ids,
        "customer_type": np.array(CUSTOMER_TYPES)[kind],
        "region": np.array(REGIONS)[region],
        "signup_date": (start + pd.to_timedelta(signup_day, unit="D")).astype("datetime64[s]"),
        "age_band": rng.choice(["18-24", "25-34", "35-44", "45-54", "55+"], size=customers,
                               p=[0.14, 0.33, 0.27, 0.16, 0.10]),
    })

    # A third of the buyers answered a survey; loyal (low-dropout) customers answer more kindly.
    answered = rng.random(customers) < 0.33
    score = np.clip(np.round(5.2 - 8.0 * dropout[answered] + rng.normal(0, 0.9, answered.sum())), 1, 5)
    nps = np.clip(np.round(2.2 * score - 1 + rng.normal(0, 1.2, answered.sum())), 0, 10)
    survey_day = signup_day[answered] + rng.integers(0, 60, size=answered.sum())
    surveys = pd.DataFrame({
        "customer_id": ids[answered],
        "answered_at": (start + pd.to_timedelta(np.minimum(survey_day, span_days - 1), unit="D"))
        .astype("datetime64[s]"),
        "score": score.astype(int),
        "nps": nps.astype(int),
    })
    if lang == "zh":  # after every draw and sort: the words change, the data do not
        transactions = transactions.assign(**{column: transactions[column].map(VALUES_ZH[column])
                                              for column in ("category", "channel")})
        customers_frame = customers_frame.assign(**{column: customers_frame[column].map(VALUES_ZH[column])
                                                    for column in ("customer_type", "region")})
    elif lang != "en":
        raise ValueError(f"lang must be 'en' or 'zh', got {lang!r}")
    return RetailData(transactions, customers_frame, surveys, sent)


def _with_defects(transactions: pd.DataFrame, rng: np.random.Generator, rate: float) -> pd.DataFrame:
    n = len(transactions)
    picked = rng.choice(n, size=max(3, int(n * rate)), replace=False)
    doubled, lost_id, returned = np.array_split(picked, 3)
    flawed = transactions.copy()
    flawed.loc[lost_id, "customer_id"] = None
    returns = flawed.loc[returned].copy()
    returns["amount"] = -returns["amount"]
    returns["order_id"] = "R" + returns["order_id"].str[1:]
    returns["ordered_at"] = returns["ordered_at"] + pd.Timedelta(days=7)
    out = pd.concat([flawed, flawed.loc[doubled], returns], ignore_index=True)
    return out.sort_values(["ordered_at", "order_id"], kind="stable").reset_index(drop=True)


CAMPAIGN_STREAM = 14  # the campaigns' own random stream: numpy's default_rng([seed, 14])


def demo_campaigns(transactions: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, seed: int = 42,
                   campaigns: int = 3, control_share: float = 0.2) -> pd.DataFrame:
    """A campaigns table for the demo: `campaigns` mailings sent in the last half of the period, each
    to a random 70% of the customers who had bought by then, a `control_share` of them held out
    (control, not contacted). Responding depends on how the customer stood at the send date, so
    response differs by segment: recent and frequent buyers respond more, and the mailing adds most
    to them. Columns: customer_id, campaign, sent_at, responded, revenue (spend from a response),
    control. Random numbers come from default_rng([seed, CAMPAIGN_STREAM]), not the transactions' stream.
    """
    rng = np.random.default_rng([seed, CAMPAIGN_STREAM])
    span = (end - start).days
    parts = []
    for number in range(1, campaigns + 1):
        sent_at = (start + pd.Timedelta(days=int(span * (0.5 + 0.4 * number / (campaigns + 1))))).normalize()
        before = transactions[transactions["ordered_at"] < sent_at]
        stood = before.groupby("customer_id").agg(orders=("order_id", "nunique"), last=("ordered_at", "max"))
        if stood.empty:
            continue
        chosen = stood[rng.random(len(stood)) < 0.7]
        recency = (sent_at - chosen["last"]).dt.days.to_numpy()
        recent = recency < 90
        frequent = chosen["orders"].to_numpy() >= 4
        control = rng.random(len(chosen)) < control_share
        base = 0.02 + 0.04 * recent + 0.03 * frequent  # would buy anyway
        effect = 0.01 + 0.06 * recent + 0.08 * (recent & frequent)  # what the mailing adds
        responded = rng.random(len(chosen)) < base + np.where(control, 0.0, effect)
        revenue = np.where(responded, np.round(np.exp(rng.normal(np.log(60.0), 0.5, len(chosen))), 2), 0.0)
        parts.append(pd.DataFrame({"customer_id": chosen.index.to_numpy(), "campaign": f"CMP{number}",
                                   "sent_at": sent_at, "responded": responded, "revenue": revenue,
                                   "control": control}))
    columns = ["customer_id", "campaign", "sent_at", "responded", "revenue", "control"]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)
