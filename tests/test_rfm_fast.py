"""The fast RFM scoring path (issue 15, scale) against a straightforward reference.

The reference below is the scoring as it was written before the fast path: a binary search per
value (np.searchsorted), shares counted with value_counts, the rfm_code as the text of the three
score columns joined per row, grid segments looked up cell by cell in a dict, and the new columns
handed over as NumPy arrays. Every case compares frames (values and dtypes), the fitted scorer and
the errors raised, on small frames with the edge cases: ties, missing values, all-equal values, one
customer, no customer, every method and tie policy, custom maps and scores off a map's scale.
"""

import itertools

import numpy as np
import pandas as pd
import pytest

from segkit.classify import rfm
from segkit.classify.rfm import AXES, RFM_FEATURES, RFMScorer, load_segment_map

# infinite features give NaN quantiles (inf - inf) in both paths; NumPy warns, the test compares them
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")


class ReferenceScorer(RFMScorer):
    """RFMScorer as written before the fast path (fit, transform and the discrimination check)."""

    def fit(self, features):
        empty = self._checked(features)  # the options and features checked as the module does
        self.cuts_, self.max_score_, self.n_bins_, self.tied_share_, self.unusable_ = {}, {}, {}, {}, {}
        for dim, column in RFM_FEATURES.items():
            values = features[column].to_numpy(dtype=float)
            scores = self._dimension_scores(dim, column, values, column in empty)
            if scores is None:
                continue
            self.n_bins_[dim] = len(np.unique(scores))
            value_share = pd.Series(values).value_counts(normalize=True).iloc[0]
            score_share = pd.Series(scores).value_counts(normalize=True).iloc[0]
            self._judge_shares(dim, values, value_share, score_share)  # the shares counted the old way
        return self

    def transform(self, features):
        rfm._require_columns(features, ["customer_id", *RFM_FEATURES.values()])
        out = pd.DataFrame({"customer_id": features["customer_id"].to_numpy()})
        for dim, column in RFM_FEATURES.items():
            values = features[column].to_numpy(dtype=float)
            if self.unusable_.get(dim, {}).get("reason") == "no_values":
                out[f"{dim}_score"] = 1
                continue
            scores = self._rank_scores(dim, values) if self.ties == "rank" else self._cut_scores(dim, values)
            out[f"{dim}_score"] = scores.astype(int)
        out["rfm_code"] = out.r_score.astype(str) + out.f_score.astype(str) + out.m_score.astype(str)
        return out

    def _cut_scores(self, dim, values):
        position = np.searchsorted(self.cuts_[dim], values, side="left")
        return (self.max_score_[dim] - position) if dim == "r" else (position + 1)


def reference_grid_segments(scores, segment_map, bins, unusable=()):
    """assign_grid_segments as written before: a dict of cells, one lookup per customer."""
    top = bins if isinstance(bins, dict) else {"r": bins, "f": bins, "m": bins}
    scale = segment_map.scale
    middle = pd.Series((scale + 1) // 2, index=scores.index)
    rescaled = {d: middle if d in unusable else rfm._rescale(scores[f"{d}_score"], top[d], scale) for d in "rfm"}
    used = [d for d in AXES[segment_map.axes] if d not in unusable]
    second = (rescaled["f"] + rescaled["m"] + 1) // 2 if len(used) == 2 else (rescaled[used[0]] if used else middle)
    axis = segment_map.second_axis
    lookup = {}
    for segment in segment_map.segments:
        for box in segment["boxes"]:
            for cell in itertools.product(range(box["r"][0], box["r"][1] + 1), range(box[axis][0], box[axis][1] + 1)):
                lookup[cell] = segment["code"]
    codes = [lookup[cell] for cell in zip(rescaled["r"].astype(int).tolist(), second.astype(int).tolist())]
    return pd.Series(codes, index=scores.index, name="segment")


def reference_segment_customers(features, scorer, segment_map="rfm11", class_map="cn8"):
    scores = scorer.transform(features)
    grid = rfm.grid_for(segment_map, scorer.unusable_)
    scores["segment"] = reference_grid_segments(scores, grid, scorer.max_score_, scorer.unusable_).to_numpy()
    scores["rfm_class"] = rfm.assign_high_low_classes(features, load_segment_map(class_map))[0].to_numpy()
    return scores


def outcome(call):
    """What a call gives: its result, or the type and message of the error it raised."""
    try:
        return "ok", call()
    except Exception as err:  # noqa: BLE001 - the errors themselves are compared
        return "error", (type(err), str(err))


def assert_same_scorer(new, reference):
    assert new.max_score_ == reference.max_score_
    assert new.n_bins_ == reference.n_bins_
    assert new.tied_share_ == reference.tied_share_
    assert new.unusable_ == reference.unusable_
    for dim, cuts in reference.cuts_.items():
        np.testing.assert_array_equal(new.cuts_[dim], cuts)
        assert [str(c) for c in new.cuts_[dim]] == [str(c) for c in cuts]  # the sign of a zero cut too


def assert_same_scoring(features, to_score=None, segment_map="rfm11", **options):
    """Fit on `features`, score `to_score` (default: the same customers) and segment them, with the
    fast path and the reference; results, dtypes and errors must be identical."""
    to_score = features if to_score is None else to_score
    new_fit = outcome(lambda: RFMScorer(**options).fit(features))
    reference_fit = outcome(lambda: ReferenceScorer(**options).fit(features))
    assert new_fit[0] == reference_fit[0], (new_fit, reference_fit)
    if new_fit[0] == "error":
        assert new_fit[1] == reference_fit[1]
        return None
    new, reference = new_fit[1], reference_fit[1]
    assert_same_scorer(new, reference)
    new_scores, reference_scores = outcome(lambda: new.transform(to_score)), outcome(lambda: reference.transform(to_score))
    assert new_scores[0] == reference_scores[0]
    if new_scores[0] == "error":
        assert new_scores[1] == reference_scores[1]
        return new
    pd.testing.assert_frame_equal(new_scores[1], reference_scores[1], check_exact=True)
    assert new_scores[1].dtypes.equals(reference_scores[1].dtypes)
    new_segments = outcome(lambda: rfm.segment_customers(to_score, new, segment_map)[0])
    reference_segments = outcome(lambda: reference_segment_customers(to_score, reference, segment_map))
    assert new_segments[0] == reference_segments[0]
    if new_segments[0] == "ok":
        pd.testing.assert_frame_equal(new_segments[1], reference_segments[1], check_exact=True)
        assert new_segments[1].dtypes.equals(reference_segments[1].dtypes)
    else:
        assert new_segments[1] == reference_segments[1]
    return new


def frame(recency, orders, revenue, ids=None):
    ids = [f"c{i}" for i in range(len(recency))] if ids is None else ids
    return pd.DataFrame({"customer_id": ids, "recency_days": recency, "orders": orders, "revenue": revenue})


RNG = np.random.default_rng(15)
RANDOM = frame(RNG.integers(0, 400, 300), RNG.choice([1, 1, 1, 2, 3, 7], 300), np.round(RNG.gamma(2, 40, 300), 2))

CASES = {
    "random": RANDOM,
    "ties: most customers with one order": frame(list(range(40)), [1] * 35 + [2, 2, 3, 5, 9], [10.0] * 20 + list(range(20))),
    "all equal values": frame([7] * 12, [2] * 12, [50.0] * 12),
    "one customer": frame([3], [2], [10.0]),
    "two customers": frame([3, 300], [1, 8], [10.0, 900.0]),
    "a feature missing for every customer": frame([1, 5, 9, 20], [np.nan] * 4, [30.0, 20, 10, 5]),
    "a feature missing for some customers": frame([1, 5, 9, 20], [1, np.nan, 2, 3], [30.0, 20, 10, 5]),
    "no customer": frame([], [], []),
    "signed zeros and infinities": frame([0.0, -0.0, 0.0, 5, 9, 12], [1, 1, 2, 2, 3, 4], [0.0, -0.0, 5, np.inf, 7, 8]),
    "almost all tied at the threshold": frame(list(range(20)), [1] * 19 + [2], list(range(20))),
    "integer customer ids": frame([1, 5, 9, 20, 30], [1, 2, 2, 3, 1], [30.0, 20, 10, 5, 1], ids=[10, 11, 12, 13, 14]),
}

OPTIONS = {
    "quantile": {},
    "quantile, 3 bins": {"bins": 3},
    "quantile, 10 bins": {"bins": 10},
    "rank ties": {"ties": "rank"},
    "rank ties, 4 bins, 0.6 tied share": {"ties": "rank", "bins": 4, "max_tied_share": 0.6},
    "every tie flagged only at 1.0": {"max_tied_share": 1.0},
    "percentile": {"method": "percentile", "percentiles": {c: [10, 50, 90] for c in RFM_FEATURES.values()}},
    "fixed": {"method": "fixed", "cuts": {"recency_days": [30, 90, 180], "orders": [1, 2, 5], "revenue": [0, 20, 100]}},
    "fixed, unsorted and repeated cuts": {"method": "fixed", "cuts": {"recency_days": [90, 30, 180], "orders": [2, 2, 1],
                                                                       "revenue": [100, 0, 20, 20]}},
    "fixed, every customer in one score": {"method": "fixed", "cuts": {c: [1e9] for c in RFM_FEATURES.values()}},
    "bad bins": {"bins": 12},
    "bad method": {"method": "kmeans"},
    "rank with fixed": {"method": "fixed", "ties": "rank", "cuts": {c: [1] for c in RFM_FEATURES.values()}},
    "bad tied share": {"max_tied_share": 0.3},
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("option", OPTIONS)
def test_fast_scoring_equals_the_reference(case, option):
    assert_same_scoring(CASES[case], **OPTIONS[option])


@pytest.mark.parametrize("option", ["quantile", "rank ties", "fixed", "fixed, unsorted and repeated cuts"])
def test_new_customers_with_missing_and_extreme_values_score_as_the_reference(option):
    # cut points learned on one month, applied to customers beyond them and with missing values
    later = frame([-5, 0, 10_000, np.nan, 40, 40], [0, 1, 500, 2, np.nan, 3], [-1.0, 0, 1e12, np.nan, 5, np.inf])
    if option == "rank ties":  # a rank of a missing value is no score: both raise or give the same
        later = later.dropna()
    assert_same_scoring(RANDOM, later, **OPTIONS[option])


@pytest.mark.parametrize("option", ["quantile", "rank ties", "a feature missing for every customer"])
def test_scoring_no_customer_with_fitted_cut_points_gives_the_reference_columns(option):
    fitted_on = CASES["a feature missing for every customer"] if option.startswith("a feature") else RANDOM
    nobody = RANDOM.iloc[:0]
    assert_same_scoring(fitted_on, nobody, **OPTIONS.get(option, {}))
    assert_same_scoring(fitted_on, CASES["no customer"], **OPTIONS.get(option, {}))


@pytest.mark.parametrize("ids", [
    ["a", "b", "c", "d"],
    pd.array(["a", "b", None, "d"], dtype="str"),
    pd.Series(["a", "b", "c", "d"], dtype=object),
    pd.Series(["a", 2, "c", 4.5], dtype=object),
    pd.Categorical(["a", "b", "a", "d"]),
    pd.array(["a", "b", "c", "d"], dtype="string"),
    [1.5, 2.5, np.nan, 4.0],
])
def test_customer_id_column_keeps_the_type_the_reference_gives(ids):
    f = frame([1, 5, 9, 20], [1, 2, 2, 3], [30.0, 20, 10, 5])
    f["customer_id"] = ids
    assert_same_scoring(f, bins=2)


@pytest.mark.parametrize("column", ["customer_id", "orders"])
def test_a_frame_with_a_repeated_column_fails_as_the_reference(column):
    f = frame([1, 5, 9, 20], [1, 2, 2, 3], [30.0, 20, 10, 5])
    repeated = pd.concat([f, f[[column]]], axis=1)
    scorer, reference = RFMScorer(2).fit(f), ReferenceScorer(2).fit(f)
    new_outcome, reference_outcome = outcome(lambda: scorer.transform(repeated)), outcome(lambda: reference.transform(repeated))
    assert new_outcome[0] == reference_outcome[0] == "error"
    assert new_outcome[1] == reference_outcome[1]


def test_a_frame_not_indexed_from_zero_scores_as_the_reference():
    f = RANDOM.set_index(pd.Index(np.arange(len(RANDOM)) * 3 + 7)).iloc[::-1]
    assert_same_scoring(f)


CUSTOM_MAPS = {
    # r against m on a 3-point scale, with text codes
    "r_m3": {"kind": "grid", "axes": "r_m", "scale": 3, "segments": [
        {"code": "best", "en": "Best", "zh": "最好", "boxes": [{"r": [3, 3], "m": [2, 3]}]},
        {"code": "rest", "en": "Rest", "zh": "其余", "boxes": [{"r": [1, 2], "m": [1, 3]}, {"r": [3, 3], "m": [1, 1]}]}]},
    # number codes (YAML `code: 1`): the column is then numbers, as before
    "numbered": {"kind": "grid", "scale": 2, "segments": [
        {"code": 1, "en": "One", "zh": "一", "boxes": [{"r": [1, 1], "fm": [1, 2]}]},
        {"code": 2, "en": "Two", "zh": "二", "boxes": [{"r": [2, 2], "fm": [1, 2]}]}]},
    # mixed number and text codes: an object column, as before
    "mixed": {"kind": "grid", "scale": 2, "segments": [
        {"code": 1, "en": "One", "zh": "一", "boxes": [{"r": [1, 1], "fm": [1, 2]}]},
        {"code": "two", "en": "Two", "zh": "二", "boxes": [{"r": [2, 2], "fm": [1, 2]}]}]},
}


@pytest.mark.parametrize("name", CUSTOM_MAPS)
@pytest.mark.parametrize("case", ["random", "ties: most customers with one order", "one customer", "no customer"])
def test_custom_maps_segment_as_the_reference(name, case):
    segment_map = load_segment_map(name, custom=CUSTOM_MAPS)
    assert_same_scoring(CASES[case], segment_map=segment_map, bins=4)


@pytest.mark.parametrize("shipped", ["rfm11", "rm6"])
@pytest.mark.parametrize("bins", [2, 3, 5, {"r": 4, "f": 1, "m": 7}])
@pytest.mark.parametrize("unusable", [(), ("f",), ("r",), ("f", "m"), ("r", "f", "m")])
def test_grid_segments_equal_the_reference_for_every_scale_and_unusable_dimension(shipped, bins, unusable):
    segment_map = load_segment_map(shipped)
    top = bins if isinstance(bins, dict) else dict.fromkeys("rfm", bins)
    rng = np.random.default_rng(7)
    scores = pd.DataFrame({f"{d}_score": rng.integers(1, top[d] + 1, 200) for d in "rfm"},
                          index=pd.Index(rng.permutation(200) + 1000))
    for some in (scores, scores.iloc[:1], scores.iloc[:0]):
        new = rfm.assign_grid_segments(some, segment_map, bins, unusable)
        pd.testing.assert_series_equal(new, reference_grid_segments(some, segment_map, bins, unusable), check_exact=True)


def test_a_map_that_is_not_a_partition_fails_on_the_same_cell_and_keeps_the_last_box():
    # SegmentMap objects are not checked when passed in as objects: a gap raises KeyError for the
    # first customer that falls in it, and where boxes overlap the later segment wins, as before
    gappy = rfm.SegmentMap(name="gappy", kind="grid", scale=2, segments=(
        {"code": "a", "en": "A", "zh": "甲", "boxes": [{"r": [1, 1], "fm": [1, 2]}]},
        {"code": "b", "en": "B", "zh": "乙", "boxes": [{"r": [1, 2], "fm": [2, 2]}]}))
    scores = pd.DataFrame({"r_score": [1, 1, 2, 2], "f_score": [1, 2, 2, 1], "m_score": [1, 2, 2, 1]})
    pd.testing.assert_series_equal(rfm.assign_grid_segments(scores.iloc[:3], gappy, 2),
                                   reference_grid_segments(scores.iloc[:3], gappy, 2), check_exact=True)
    assert rfm.assign_grid_segments(scores.iloc[:3], gappy, 2).tolist() == ["a", "b", "b"]
    assert outcome(lambda: reference_grid_segments(scores, gappy, 2)) == ("error", (KeyError, "(2, 1)"))
    assert outcome(lambda: rfm.assign_grid_segments(scores, gappy, 2)) == ("error", (KeyError, "(2, 1)"))


@pytest.mark.parametrize("scores", [
    {"r_score": [1, 6, 2], "f_score": [1, 2, 3], "m_score": [2, 2, 2]},  # above the scale given
    {"r_score": [1, 0, 2], "f_score": [1, 2, 3], "m_score": [2, 2, 2]},  # below it
    {"r_score": [1.0, np.nan, 2], "f_score": [1, 2, 3], "m_score": [2, 2, 2]},  # a missing score
])
@pytest.mark.parametrize("bins", [5, 3])
def test_scores_off_the_scale_fail_as_the_reference(scores, bins):
    scores = pd.DataFrame(scores)
    segment_map = load_segment_map("rfm11")
    new = outcome(lambda: rfm.assign_grid_segments(scores, segment_map, bins))
    reference = outcome(lambda: reference_grid_segments(scores, segment_map, bins))
    assert new[0] == reference[0]
    if new[0] == "ok":
        pd.testing.assert_series_equal(new[1], reference[1], check_exact=True)
    else:
        assert new[1] == reference[1]


def test_cut_positions_equal_a_binary_search():
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.normal(0, 10, 500), [np.nan, np.inf, -np.inf, 0.0, -0.0], np.arange(-5, 6)])
    for cuts in ([], [0.0], [-0.0, 0.0], [-3, -3, 0, 2.5, 2.5, 9], list(range(-8, 9)), [5, -5, 1], [1, np.nan],
                 list(np.linspace(-20, 20, 16))):
        cuts = np.asarray(cuts, dtype=float)
        found = rfm._cut_positions(cuts, values)
        np.testing.assert_array_equal(found, np.searchsorted(cuts, values, side="left"))
        assert found.dtype == np.intp


def test_rfm_codes_equal_the_text_of_the_scores_joined():
    rng = np.random.default_rng(5)
    for top in (1, 2, 5, 10):
        r, f, m = (rng.integers(1, top + 1, 50) for _ in range(3))
        expected = pd.Series(r).astype(str) + pd.Series(f).astype(str) + pd.Series(m).astype(str)
        pd.testing.assert_series_equal(rfm._score_codes(r, f, m), expected, check_exact=True)
    # scores no scorer gives (negative, or far apart) take the plain way and still match
    for r, f, m in (([-1, 2], [3, 4], [5, 6]), ([100, 2], [300, 4], [5, 600]), ([], [], [])):
        r, f, m = (np.asarray(a, dtype=np.int64) for a in (r, f, m))
        expected = pd.Series(r).astype(str) + pd.Series(f).astype(str) + pd.Series(m).astype(str)
        pd.testing.assert_series_equal(rfm._score_codes(r, f, m), expected, check_exact=True)


def test_the_fast_path_does_not_mutate_its_input():
    f = CASES["ties: most customers with one order"].copy()
    before = f.copy()
    scorer = RFMScorer(3).fit(f)
    rfm.segment_customers(f, scorer)
    pd.testing.assert_frame_equal(f, before)
