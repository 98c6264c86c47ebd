"""Bundled data: the CDNOW purchase log (real) and a seeded synthetic retail generator.

CDNOW (Fader & Hardie): every purchase of 23,570 customers who first bought at the online CD
retailer CDNOW in the first quarter of 1997, followed until the end of June 1998. The files travel
compressed inside the package, with their licence (LICENSE-lifetimes-MIT.txt).
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

from segkit.datasets.synthetic import RetailData, generate_retail

__all__ = ["load_cdnow", "load_cdnow_raw", "generate_retail", "RetailData"]


def load_cdnow_raw(sample: bool = False) -> pd.DataFrame:
    """The CDNOW file as published: customer_id, date (YYYYMMDD), number_of_cds, dollar_value.

    `sample=True` gives the 1/10th sample (2,357 customers) used in the BG/NBD papers, which also
    carries a customer index column (`sample_id`).
    """
    name = "cdnow_sample.txt.gz" if sample else "cdnow_master.txt.gz"
    columns = (["customer_id", "sample_id"] if sample else ["customer_id"]) + ["date", "number_of_cds", "dollar_value"]
    with resources.files(__package__).joinpath(name).open("rb") as handle:
        frame = pd.read_csv(handle, compression="gzip", sep=r"\s+", header=None,
                            skiprows=0 if sample else 1, names=columns,
                            dtype={"customer_id": str, "sample_id": str, "date": str})
    return frame


def load_cdnow(sample: bool = False) -> pd.DataFrame:
    """CDNOW in segkit's transaction columns; one order is one customer's purchases on one day.

    >>> tx = load_cdnow()
    >>> len(tx), tx["customer_id"].nunique()
    (69659, 23570)
    """
    raw = load_cdnow_raw(sample)
    ordered_at = pd.to_datetime(raw["date"], format="%Y%m%d")
    return pd.DataFrame({
        "customer_id": raw["customer_id"],
        "order_id": raw["customer_id"] + "-" + raw["date"],
        "ordered_at": ordered_at,
        "amount": raw["dollar_value"].astype(float),
        "quantity": raw["number_of_cds"].astype(int),
    })
