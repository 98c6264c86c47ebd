"""Reading a run's stages together at a million customers without hashing a million ids: joining two
stages by customer (segkit.store.join_stages, the same rows as pandas' one-to-one merge whatever the
order, the ids' type or their gaps), the report tables and value functions that use it, the cluster
names, and the input's figures read once for the before/after table (whose first row says it counts
the rows set aside too)."""

import pandas as pd
import pytest

from segkit.models.customer_value import slipping_valuable, value_by, with_value
from segkit.report.tables import case_findings, crosstab_clusters_segments
from segkit.store import join_stages, same_customers


def merged(left, right, columns, how="inner"):
    return left.merge(right[["customer_id", *columns]], on="customer_id", how=how, validate="one_to_one")


def stages(ids, order=None):
    left = pd.DataFrame({"customer_id": pd.array(ids, dtype="str") if isinstance(ids[0], str) else ids,
                         "revenue": [float(i + 1) for i in range(len(ids))], "orders": range(1, len(ids) + 1)})
    right = pd.DataFrame({"customer_id": left["customer_id"],
                          "segment": pd.array(["champions", "lost", "loyal", "at_risk", "new_customers"][:len(ids)] * 3,
                                              dtype="str")[:len(ids)]})
    return left, (right.iloc[order].reset_index(drop=True) if order is not None else right)


@pytest.mark.parametrize("ids,order", [
    (["a", "b", "c", "d"], None),                  # the same customers in the same order: taken as they are
    (["a", "b", "c", "d"], [3, 1, 0, 2]),          # another order: merged
    (["007", "07", "7", "70"], None),              # ids that look like numbers stay text
    (["b", "a", "c", "d"], None),                  # the same order, not ascending: merged
    ([3, 10, 22, 41], None),                        # integer ids
    ([3, 10, 22, 41], [1, 0, 2, 3]),
])
def test_join_stages_equals_the_merge(ids, order):
    left, right = stages(ids, order)
    for how in ("inner", "left"):
        pd.testing.assert_frame_equal(join_stages(left, right, ["segment"], how), merged(left, right, ["segment"], how))


def test_the_joined_rows_are_numbered_afresh_as_the_merge_numbers_them():
    left, right = stages(["a", "b", "c"])
    left.index = [10, 20, 30]
    for how in ("inner", "left"):
        pd.testing.assert_frame_equal(join_stages(left, right, ["segment"], how), merged(left, right, ["segment"], how))


def test_a_customer_missing_on_one_side_or_there_twice_is_the_merges_business():
    left, right = stages(["a", "b", "c", "d"])
    fewer = right.iloc[[0, 1, 3]].reset_index(drop=True)  # c has no segment: an inner join leaves it out
    for how in ("inner", "left"):  # left: c kept, without a segment
        pd.testing.assert_frame_equal(join_stages(left, fewer, ["segment"], how), merged(left, fewer, ["segment"], how))
    twice = pd.concat([left, left.iloc[[1]]]).sort_values("customer_id", kind="stable").reset_index(drop=True)
    with pytest.raises(pd.errors.MergeError):  # b twice on both sides: the same ids in the same order
        join_stages(twice, twice[["customer_id"]].assign(segment="lost"), ["segment"])


def test_same_customers_needs_the_same_strictly_ascending_ids():
    ids = pd.Series(["a", "b", "c"], dtype="str")
    assert same_customers(ids, ids.copy())
    assert not same_customers(ids, pd.Series(["a", "b", "d"], dtype="str"))
    assert not same_customers(pd.Series(["a", "a", "b"], dtype="str"), pd.Series(["a", "a", "b"], dtype="str"))
    assert not same_customers(pd.Series(["a", None, "b"], dtype="str"), pd.Series(["a", None, "b"], dtype="str"))
    assert not same_customers(ids, ids.astype(object))  # another type: the merge decides
    assert same_customers(ids.iloc[:0], ids.iloc[:0])


def test_case_findings_and_the_crosstab_are_the_same_in_any_order():
    left, right = stages(["a", "b", "c", "d", "e"])
    clusters = pd.DataFrame({"customer_id": left["customer_id"], "cluster": [0, 1, 0, 2, 1],
                             "cluster_name": pd.array(["best", "mid", "best", "low", "mid"], dtype="str")})
    shuffled = [4, 2, 0, 3, 1]
    mixed_right, mixed_clusters = (frame.iloc[shuffled].reset_index(drop=True) for frame in (right, clusters))
    aligned, mixed = case_findings(left, right, clusters), case_findings(left, mixed_right, mixed_clusters)
    assert aligned == mixed and aligned["best_cluster"]["revenue_share"] == pytest.approx((1 + 3) / 15)
    pd.testing.assert_frame_equal(crosstab_clusters_segments(clusters, right, "rfm11", "en"),
                                  crosstab_clusters_segments(mixed_clusters, mixed_right, "rfm11", "en"))


def test_the_value_tables_are_the_same_in_any_order():
    profile = pd.DataFrame({"customer_id": pd.array(["a", "b", "c", "d"], dtype="str"),
                            "segment": pd.array(["champions", "lost", "champions", "loyal"], dtype="str"),
                            "monetary_tier": ["high", "high", "low", "high"], "revenue": [50.0, 40.0, 5.0, 30.0],
                            "recency_days": [3, 200, 40, 90]})
    value = pd.DataFrame({"customer_id": profile["customer_id"], "p_alive": [0.9, 0.2, 0.6, 0.4],
                          "clv": [120.0, 3.0, 10.0, 25.0], "expected_purchases": [2.0, 0.1, 0.5, 0.8],
                          "expected_spend": [60.0, 30.0, 20.0, 31.0], "clv_tier": ["high", "low", "mid", "mid"],
                          "churn_risk": [False, True, False, True]})
    shuffled = value.iloc[[2, 0, 3, 1]].reset_index(drop=True)
    pd.testing.assert_frame_equal(with_value(profile, value), with_value(profile, shuffled))
    pd.testing.assert_frame_equal(with_value(profile, value.iloc[[0, 1]]),  # c and d without a value
                                  profile.merge(value.iloc[[0, 1]], on="customer_id", how="left"))
    pd.testing.assert_frame_equal(value_by(profile, value, "segment"), value_by(profile, shuffled, "segment"))
    slipping = slipping_valuable(profile, value)
    assert slipping["customer_id"].tolist() == ["b", "d"]
    pd.testing.assert_frame_equal(slipping, slipping_valuable(profile, shuffled))


def test_before_after_takes_the_figures_already_read_for_the_input():
    import ibis

    from segkit.report.tables import before_after, describe_transactions

    raw = pd.DataFrame({"customer_id": ["a", "a", "b", "c"], "order_id": ["1", "2", "3", "4"],
                        "ordered_at": pd.to_datetime(["2024-01-02", "2024-02-03", "2024-03-04", "2024-05-06"]),
                        "amount": [10.0, 5.5, 7.25, -3.0]})
    clean = ibis.memtable(raw[raw["amount"] > 0])
    read_twice = before_after(raw, clean, "zh")
    assert read_twice.equals(before_after(describe_transactions(raw), clean, "zh"))
    assert read_twice["rows"].tolist() == [4, 3] and read_twice["customers"].tolist() == [3, 2]
    assert read_twice["last_date"].tolist() == ["2024-05-06", "2024-03-04"]
    assert read_twice["stage"].tolist() == ["读入的全部 4 行（含被隔离的 1 行）", "清洗后：保留的行"]
    kept_all = before_after(raw, raw, "en")["stage"].tolist()
    assert kept_all == ["As read: all 4 rows, none set aside", "After cleaning: the rows kept"]


def test_before_after_says_the_input_row_counts_the_rows_set_aside():
    # an export's trailing "Total" line: cleaning sets it aside, and the input's revenue is doubled by it
    from ledger_check import clean_checked, text
    from segkit.report.html import say, table
    from segkit.report.tables import before_after

    tx = text([["a", "1", "2024-01-02", "10.00"], ["b", "2", "2024-01-03", "30.00"],
               ["a", "3", "2024-02-01", "20.00"], ["Total", "", "", "60.00"]])
    result = clean_checked(tx)
    for lang, as_read, kept in (("en", "As read: all 4 rows, including the 1 set aside", "After cleaning: the rows kept"),
                                ("zh", "读入的全部 4 行（含被隔离的 1 行）", "清洗后：保留的行")):
        shown = before_after(tx, result.clean, lang)
        assert shown["stage"].tolist() == [as_read, kept]
        assert shown["revenue"].tolist() == [120.0, 60.0] and shown["rows"].tolist() == [4, 3]
        assert as_read in table(shown, lang).to_html()
    assert "only the second is the customers' data" in say("cleaning.before_after", "en").markup
    assert "只有第二行是客户的数据" in say("cleaning.before_after", "zh").markup


def test_cluster_names_reads_each_clusters_name_once():
    from segkit.models.cluster import cluster_names

    clusters = pd.DataFrame({"customer_id": list("abcde"), "cluster": [2, 0, 2, 1, 0],
                             "cluster_name": pd.array(["低频", "best", "低频", "mid", "best"], dtype="str")})
    assert cluster_names(clusters) == dict(zip(clusters["cluster"], clusters["cluster_name"])) == {2: "低频", 0: "best", 1: "mid"}
    assert cluster_names(None) == {} and cluster_names(clusters.iloc[:0]) == {}


def test_ids_of_other_python_types_or_names_met_twice_are_the_merges_business():
    text = pd.DataFrame({"customer_id": pd.Series(["1", "2"], dtype=object), "x": [1, 2]})
    numbers = pd.DataFrame({"customer_id": pd.Series([1, 2], dtype=object), "s": [10, 20]})
    pd.testing.assert_frame_equal(join_stages(text, numbers, ["s"]), merged(text, numbers, ["s"]))  # no row matches
    flags = pd.DataFrame({"customer_id": pd.Series([False, True], dtype=object), "s": [10, 20]})
    zero_one = pd.DataFrame({"customer_id": pd.Series([0, 1], dtype=object), "x": [1, 2]})
    pd.testing.assert_frame_equal(join_stages(zero_one, flags, ["s"]), merged(zero_one, flags, ["s"]))
    left, right = stages(["a", "b", "c"])
    both = left.assign(segment="old")  # a column of that name on both sides: the merge's s_x, s_y
    pd.testing.assert_frame_equal(join_stages(both, right, ["segment"]), merged(both, right, ["segment"]))
    with pytest.raises(ValueError):  # the key itself as a column to join, as the merge refuses it
        join_stages(left, right, ["customer_id"])
