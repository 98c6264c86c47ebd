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
