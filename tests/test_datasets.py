import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import segkit
from segkit.datasets import generate_retail, load_cdnow, load_cdnow_raw
from segkit.datasets.synthetic import CATEGORIES

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((Path(__file__).parent / "reference" / "cdnow.json").read_text())


def digest(data) -> str:
    h = hashlib.sha256()
    for frame in (data.transactions, data.customers, data.surveys):
        h.update(frame.to_csv(index=False).encode())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_other_data():
    assert digest(generate_retail(400, seed=3)) == digest(generate_retail(400, seed=3))
    assert digest(generate_retail(400, seed=3)) != digest(generate_retail(400, seed=4))


def test_generated_retail_looks_like_retail():
    data = generate_retail(3000, start="2024-01-01", months=24, seed=11)
    tx = data.transactions
    assert {"customer_id", "order_id", "ordered_at", "amount", "quantity", "category", "channel"} <= set(tx.columns)
    assert tx["ordered_at"].min() >= pd.Timestamp("2024-01-01")
    assert tx["ordered_at"].max() < pd.Timestamp("2026-01-01")
    assert set(tx["category"]) <= set(CATEGORIES) and tx["category"].nunique() >= 12
    revenue = tx.groupby("customer_id")["amount"].sum().sort_values(ascending=False)
    top_fifth = revenue.head(len(revenue) // 5).sum() / revenue.sum()
    assert 0.55 < top_fifth < 0.9, top_fifth  # a fifth of customers bring most of the revenue
    orders = tx.groupby("customer_id")["order_id"].nunique()
    assert 0.15 < (orders == 1).mean() < 0.6  # many one-off buyers, as in real shops
    assert orders.max() > 20 * orders.median()
    assert set(data.customers["customer_type"]) == {"individual", "enterprise", "government"}
    assert data.surveys["score"].between(1, 5).all() and data.surveys["nps"].between(0, 10).all()
    assert 0.2 < len(data.surveys) / len(data.customers) < 0.45


def test_the_chinese_demo_is_the_same_data_in_chinese_words():
    from segkit.datasets.synthetic import VALUES_ZH

    english, chinese = generate_retail(600, seed=3, defects=0.02), generate_retail(600, seed=3, defects=0.02, lang="zh")
    for table, columns in (("transactions", ("category", "channel")), ("customers", ("customer_type", "region"))):
        en, zh = getattr(english, table), getattr(chinese, table)
        for column in columns:
            assert zh[column].equals(en[column].map(VALUES_ZH[column])), column
            assert zh[column].dropna().str.contains(r"[\u4e00-\u9fff]").mean() > 0.5  # words, not codes (App stays)
        assert zh.drop(columns=list(columns)).equals(en.drop(columns=list(columns)))
    assert set(chinese.customers["customer_type"]) == {"个人", "企业", "政府"}
    with pytest.raises(ValueError, match="lang must be 'en' or 'zh'"):
        generate_retail(50, lang="fr")


def test_the_chinese_demo_params_tag_its_organisations():
    """demo-zh.yaml's organisation tag names the customer types as its data write them: it holds customers."""
    from segkit.intake.sources import load_source

    params = segkit.load_params(ROOT / "params" / "demo-zh.yaml", ["source.demo.customers=400"])
    customers = load_source(params.source).customers
    rule = next(tag.when for tag in params.tags if tag.name == "organisation")
    values = re.findall(r"'([^']+)'", rule)
    assert values and set(values) <= set(customers["customer_type"])


def test_defects_are_real_flaws():
    clean = generate_retail(500, seed=5).transactions
    flawed = generate_retail(500, seed=5, defects=0.03).transactions
    assert flawed["customer_id"].isna().sum() > 0
    assert (flawed["amount"] < 0).sum() > 0
    assert flawed.duplicated().sum() > 0
    assert len(flawed) > len(clean)


def test_cdnow_counts_match_the_published_figures():
    counts = REFERENCE["cdnow_master"]["counts"]
    tx = load_cdnow()
    assert len(tx) == counts["records"] == 69659
    assert tx["customer_id"].nunique() == counts["customers"] == 23570
    assert round(tx["amount"].sum(), 2) == pytest.approx(counts["dollars"], abs=0.005)
    assert tx["ordered_at"].min().date().isoformat() == counts["first_date"]
    assert tx["ordered_at"].max().date().isoformat() == counts["last_date"]
    assert tx["order_id"].nunique() == counts["customer_days"]
    assert tx["quantity"].sum() == counts["cds"]
    assert (tx["amount"] == 0).sum() == counts["zero_dollar_records"]
    assert load_cdnow_raw().duplicated().sum() == counts["exact_duplicate_records"]
    per_customer_days = tx.groupby("customer_id")["order_id"].nunique()
    assert (per_customer_days == 1).sum() == counts["customers_with_single_purchase_day"]


def test_cdnow_sample_counts():
    counts = REFERENCE["cdnow_sample"]["counts"]
    tx = load_cdnow(sample=True)
    assert len(tx) == counts["raw_records"]
    assert tx["customer_id"].nunique() == counts["customers"]
    assert round(tx["amount"].sum(), 2) == pytest.approx(counts["dollars"], abs=0.005)
    assert tx["order_id"].nunique() == counts["customer_days"]
    assert tx["quantity"].sum() == counts["cds"]
