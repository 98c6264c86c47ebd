"""Customer value: how concentrated revenue is (the 80/20 view)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def top_share(revenue: pd.Series, top: float = 0.2) -> float:
    """Share of total revenue brought by the top `top` fraction of customers (at least one customer).

    >>> top_share(pd.Series([80.0, 5, 5, 5, 5]), top=0.2)
    0.8
    """
    if not 0 < top < 1:
        raise ValueError(f"top must be a fraction between 0 and 1, got {top}")
    values = np.sort(revenue.to_numpy(dtype=float))[::-1]
    if len(values) == 0 or values.sum() <= 0:
        raise ValueError("top_share needs customers with positive total revenue")
    n_top = max(1, int(round(len(values) * top)))
    return float(values[:n_top].sum() / values.sum())


def concentration_curve(revenue: pd.Series) -> pd.DataFrame:
    """Cumulative share of customers (largest first) against cumulative share of revenue."""
    values = np.sort(revenue.to_numpy(dtype=float))[::-1]
    n = len(values)
    return pd.DataFrame({
        "customer_share": np.concatenate([[0.0], np.arange(1, n + 1) / n]),
        "revenue_share": np.concatenate([[0.0], np.cumsum(values) / values.sum()]),
    })


def pareto_table(revenue: pd.Series, tops=(0.01, 0.05, 0.1, 0.2, 0.5)) -> pd.DataFrame:
    """Revenue share of the top 1/5/10/20/50% of customers."""
    return pd.DataFrame({"top": list(tops), "customers": [max(1, int(round(len(revenue) * t))) for t in tops],
                         "revenue_share": [top_share(revenue, t) for t in tops]})


def gini(revenue: pd.Series) -> float:
    """Gini coefficient of revenue across customers: 0 when all spend alike, near 1 when one spends all.

    >>> gini(pd.Series([1.0, 1.0, 1.0, 1.0]))
    0.0
    >>> round(gini(pd.Series([0.0, 0.0, 0.0, 10.0])), 2)
    0.75
    """
    values = np.sort(revenue.to_numpy(dtype=float))
    n = len(values)
    if n == 0 or values.sum() <= 0:
        raise ValueError("gini needs customers with positive total revenue")
    ranks = np.arange(1, n + 1)
    return float(2 * (ranks * values).sum() / (n * values.sum()) - (n + 1) / n)


def abc_classes(revenue: pd.Series, cutoffs: tuple[float, float] = (0.8, 0.95)) -> pd.Series:
    """ABC class per customer: A are the largest customers that together bring the first `cutoffs[0]`
    of revenue, B the next ones up to `cutoffs[1]`, C the rest. A customer whose revenue crosses a
    cut-off belongs to the class it completes.

    >>> abc_classes(pd.Series([50.0, 30, 10, 6, 4])).tolist()
    ['A', 'A', 'B', 'B', 'C']
    """
    order = revenue.sort_values(ascending=False, kind="stable")
    before = (order.cumsum() - order) / order.sum()  # share already covered before this customer
    classes = np.where(before < cutoffs[0], "A", np.where(before < cutoffs[1], "B", "C"))
    return pd.Series(classes, index=order.index, name="abc_class").reindex(revenue.index)


def tiers(values: pd.Series, method: str = "quantile", quantiles=(0.5, 0.8), thresholds=None) -> pd.Series:
    """low / mid / high per customer: above the second cut is high, above the first is mid.

    Cuts are the given quantiles of `values` or fixed `thresholds`; equal values share a tier.

    >>> tiers(pd.Series([1, 1, 1, 2, 5]), method="threshold", thresholds=(1, 3)).tolist()
    ['low', 'low', 'low', 'mid', 'high']
    """
    low, high = tier_cuts(values, method, quantiles, thresholds)
    result = np.where(values > high, "high", np.where(values > low, "mid", "low"))
    return pd.Series(result, index=values.index)


def tier_cuts(values: pd.Series, method: str = "quantile", quantiles=(0.5, 0.8), thresholds=None) -> tuple[float, float]:
    """The two values that separate low/mid and mid/high (for the report)."""
    if method == "quantile":
        low, high = np.quantile(values.to_numpy(dtype=float), quantiles)
        return float(low), float(high)
    if method == "threshold":
        return float(thresholds[0]), float(thresholds[1])
    raise ValueError(f"method must be quantile or threshold, got {method!r}")
