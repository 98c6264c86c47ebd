"""Cross-sell rules (关联规则): frequent itemsets and association rules per segment, and each
customer's next best category.

Rules follow Agrawal, Imielinski & Swami (1993), "Mining association rules between sets of items
in large databases": support(A -> C) is the share of baskets holding A and C, confidence is
support(A and C) / support(A), lift is confidence / support(C). `mine_rules` mines itemsets with
FP-growth (Han, Pei & Yin 2000) from mlxtend; `rules_by_group` counts them level by level
(Apriori, Agrawal & Srikant 1994) over each distinct basket content once (`frequent_itemsets`: the
same supports, a test checks it against FP-growth), because a million customer baskets of twenty
categories hold a few thousand distinct contents and FP-growth inserts each basket in Python. Both
turn itemsets into rules with mlxtend's `association_rules`. Where a group's baskets are many,
one-item rules are counted in the engine (DuckDB) instead, which gives the same support and
confidence (a test checks it).
"""

from __future__ import annotations

import warnings

import ibis
import numpy as np
import pandas as pd

from segkit.crosssell.category_mix import (_check_columns, _coded_items, _engine_table, _positions, _same_item,
                                           customer_items, factorize, is_cached)
from segkit.crosssell.summaries import Purchases, basket_items_from_summaries

RULE_COLUMNS = ("group", "antecedent", "consequent", "baskets", "support", "confidence", "lift")
SEPARATOR = " + "


def baskets(transactions: pd.DataFrame | ibis.Table | Purchases, basket: str = "order", item: str = "category",
            con: ibis.BaseBackend | None = None) -> pd.DataFrame:
    """The distinct items of each basket, computed in the engine: basket_id, customer_id, item (one
    row per basket and item). A basket is an order (`order_id`; a customer-day where there is no
    order number) or, with `basket="customer"`, everything a customer bought. Missing or blank items
    are left out. Raises DataError when the item column is missing. `transactions` may also be a
    database source's per-customer summaries (`Purchases`): the same baskets, numbered customer|n
    instead of by order number (see `basket_items_from_summaries`). Customer baskets of the embedded
    engine's table are built from the customer items the mixes already brought back (the same frame,
    without a second query); `rules_by_group` and `next_best_item` then reuse their integer codes."""
    if basket not in ("order", "customer"):
        raise ValueError(f"basket must be 'order' or 'customer', got {basket!r}")
    if isinstance(transactions, Purchases):
        _same_item(transactions, item)
        return basket_items_from_summaries(transactions, basket)
    table = _engine_table(transactions)
    _check_columns(table.columns, ("customer_id", item), "transactions")
    customer = table.customer_id.cast("string")
    if basket == "customer":  # the customer's items: the per-customer summary the mixes read too
        items = customer_items(table, item, cache=not isinstance(transactions, pd.DataFrame))
        if is_cached(items):  # already summed and coded in Python for the mixes: built from those codes
            found = _customer_baskets_from_codes(_coded_items(items, None))
            if found is not None:
                return found
        rows = items.select(basket_id=items.customer_id, customer_id=items.customer_id, item=items.item)
    else:
        if "order_id" in table.columns:
            basket_id = customer.concat("|", table.order_id.cast("string").fill_null(table.ordered_at.date().cast("string")))
        else:
            basket_id = customer.concat("|", table.ordered_at.date().cast("string"))
        rows = table.select(basket_id=basket_id, customer_id=customer, item=table[item].cast("string").strip(),
                            **({"amount": table.amount} if "amount" in table.columns else {}))
        rows = rows.filter(rows.item.notnull() & (rows.item != ""))
        if "amount" in table.columns:  # an item cancelled in full in its basket (netted to zero) was not bought
            rows = rows.group_by(["basket_id", "customer_id", "item"]).aggregate(_net=rows.amount.sum())
            rows = rows.filter(rows._net > 0).select("basket_id", "customer_id", "item")
        else:
            rows = rows.distinct()
    # sorted in the engine (byte order of UTF-8 is code point order, as Python sorts strings)
    rows = rows.order_by(["basket_id", "item"])
    run = con.to_pandas if (con is not None and isinstance(transactions, pd.DataFrame)) else (lambda e: e.to_pandas())
    return run(rows).reset_index(drop=True)


# The integer codes behind the last customer baskets built from the cached customer items
# (`_customer_baskets_from_codes`), with the Arrow arrays of that frame's columns: `rules_by_group`
# and `next_best_item` read the codes instead of hashing three million strings again when they are
# handed that very frame. Arrow arrays never change in place (a pandas assignment puts a new one in
# the column), so the same arrays mean the same values.
_BASKET_CODES: dict = {}


def forget_cached() -> None:
    """Drop the kept basket codes (a kernel handed to the next notebook frees them)."""
    _BASKET_CODES.clear()


def _customer_baskets_from_codes(coded) -> pd.DataFrame | None:
    """`baskets(..., basket="customer")` from the coded customer items (`_coded_items`): the same
    frame (basket_id and customer_id the customer, item; sorted by basket_id then item), built by
    taking from the distinct ids and item names in code order instead of a second query and three
    string columns from the engine. None (the engine then answers) where the codes cannot give the
    engine's order: no rows, a missing id or item, distinct ids not in sorted order."""
    import pyarrow as pa

    customer, item, _, customer_names, item_names = coded
    if (not len(customer) or customer.min() < 0 or item.min() < 0 or len(customer_names) >= 2**31
            or not customer_names.is_monotonic_increasing):
        return None
    # codes of sorted names sort as the names: customer then item is the engine's ORDER BY basket_id, item
    order = np.argsort(customer * np.int64(len(item_names)) + item, kind="stable")
    # kept as 32-bit codes (half the memory; a code per row of three million rows at 1M customers)
    customer, item = customer[order].astype(np.int32), item[order].astype(np.int32)
    ids = pd.array(customer_names.array.take(customer), dtype="str")
    names = pd.array(pa.array(item_names, type=pa.string()).take(pa.array(item)), dtype="str")
    frame = pd.DataFrame({"basket_id": ids, "customer_id": ids, "item": names})
    _BASKET_CODES.clear()
    _BASKET_CODES.update(arrays=_arrow_columns(frame), codes=(customer, item, customer_names, list(item_names)))
    return frame


def _arrow_columns(frame: pd.DataFrame) -> tuple | None:
    """The Arrow arrays of basket_id, customer_id and item of `frame` (None where one is not Arrow)."""
    found = []
    for name in ("basket_id", "customer_id", "item"):
        array = frame[name].array if name in frame.columns else None
        if not hasattr(array, "__arrow_array__"):
            return None
        found.append(array.__arrow_array__())
    return tuple(found)


def _known_codes(basket_items: pd.DataFrame):
    """The codes `_customer_baskets_from_codes` kept for `basket_items` when it is that frame (its
    columns the same Arrow arrays): (customer, item, customer_names, item_names), a code per row
    into the sorted distinct ids and item names; the basket is the customer. Else None."""
    if not _BASKET_CODES or len(basket_items) != len(_BASKET_CODES["codes"][0]):
        return None
    arrays = _arrow_columns(basket_items)
    if arrays is None or any(a is not b for a, b in zip(arrays, _BASKET_CODES["arrays"])):
        return None
    return _BASKET_CODES["codes"]


def _with_groups(basket_items: pd.DataFrame, segments: pd.DataFrame | None, by: str) -> pd.DataFrame:
    if segments is None:
        return basket_items.assign(group="all")
    _check_columns(segments.columns, ("customer_id", by), "segments")
    groups = segments[["customer_id", by]].dropna().astype({"customer_id": str}).rename(columns={by: "group"})
    groups["group"] = groups["group"].astype(str)
    return basket_items.merge(groups, on="customer_id", how="inner")


def mine_rules(basket_items: pd.DataFrame, min_support: float = 0.01, min_confidence: float = 0.2,
               max_items: int = 3, group: str = "all") -> pd.DataFrame:
    """Association rules over the baskets of `basket_items` (basket_id, item) with mlxtend's FP-growth
    and `association_rules`, keeping rules with one consequent (what to offer next).

    Returns one row per rule (RULE_COLUMNS): group, antecedent (items joined by " + ", sorted),
    consequent, baskets (baskets holding antecedent and consequent), support (that over all
    baskets), confidence, lift; sorted by lift, confidence, support (highest first). Empty when no
    itemset reaches `min_support`.
    """
    if not 0 < min_support <= 1 or not 0 < min_confidence <= 1:
        raise ValueError(f"min_support and min_confidence must be in (0, 1], got {min_support}, {min_confidence}")
    n_baskets = basket_items["basket_id"].nunique()
    if n_baskets == 0:
        return _empty_rules()
    return _rules_from_one_hot(_one_hot(basket_items), n_baskets, min_support, min_confidence, max_items, group)


def _rules_from_one_hot(onehot: pd.DataFrame, n_baskets: int, min_support: float, min_confidence: float,
                        max_items: int, group: str) -> pd.DataFrame:
    """`mine_rules` from its basket × item matrix (one bool column per item, named by the item)."""
    with warnings.catch_warnings():  # mlxtend's fpcommon sets "always" for every DeprecationWarning at import: undone here
        from mlxtend.frequent_patterns import fpgrowth

    itemsets = fpgrowth(onehot, min_support=min_support, use_colnames=True, max_len=max_items)
    return _rules_from_itemsets(itemsets, n_baskets, min_confidence, group)


def _rules_from_itemsets(itemsets: pd.DataFrame, n_baskets: int, min_confidence: float, group: str) -> pd.DataFrame:
    """The one-consequent rules (RULE_COLUMNS) of the frequent `itemsets` (support, itemsets: frozensets
    of item names, as mlxtend's fpgrowth gives them), with mlxtend's `association_rules`."""
    with warnings.catch_warnings():
        from mlxtend.frequent_patterns import association_rules

    if itemsets.empty or not (itemsets["itemsets"].map(len) > 1).any():
        return _empty_rules()
    with np.errstate(divide="ignore", invalid="ignore"):  # mlxtend's other metrics (certainty, ...) divide by 0
        found = association_rules(itemsets, metric="confidence", min_threshold=min_confidence,
                                  num_itemsets=n_baskets)
    found = found[found["consequents"].map(len) == 1]
    if found.empty:
        return _empty_rules()
    rules = pd.DataFrame({
        "group": group,
        "antecedent": found["antecedents"].map(lambda s: SEPARATOR.join(sorted(s))),
        "consequent": found["consequents"].map(lambda s: next(iter(s))),
        "baskets": np.rint(found["support"].to_numpy() * n_baskets).astype("int64"),
        "support": found["support"].to_numpy(), "confidence": found["confidence"].to_numpy(),
        "lift": found["lift"].to_numpy(),
    })
    return _sorted(rules)


def frequent_itemsets(matrix: np.ndarray, names, min_support: float, max_items: int) -> pd.DataFrame:
    """The itemsets of at most `max_items` items held by at least `min_support` of the baskets of the
    basket × item bool `matrix` (columns named by `names`): support and itemsets (frozensets of
    names), the frame mlxtend's `fpgrowth(..., use_colnames=True)` returns, with the same supports
    (count / baskets, kept where >= min_support, as there).

    Counted level by level (Apriori: Agrawal & Srikant 1994, "Fast algorithms for mining association
    rules"; an itemset's candidates are the unions of two frequent ones whose every subset is
    frequent) over each distinct basket content once, weighted by how many baskets hold exactly it:
    a million customer baskets of twenty categories hold a few thousand distinct contents, where
    FP-growth inserts every basket into its tree in Python. Items below `min_support` are left out
    first, as FP-growth does.
    """
    n = len(matrix)
    found_sets: list[frozenset] = []
    found_support: list[float] = []
    if n == 0 or matrix.shape[1] == 0:
        return pd.DataFrame({"support": pd.Series(dtype=float), "itemsets": pd.Series(dtype=object)})
    single = matrix.sum(axis=0) / float(n)
    kept = np.flatnonzero(single >= min_support)
    contents, counts = _distinct_rows(matrix[:, kept])
    return _itemsets_of_contents(contents, counts, n, [names[i] for i in kept], min_support, max_items)


def _itemsets_from_bits(bits: np.ndarray, names, min_support: float, max_items: int) -> pd.DataFrame:
    """`frequent_itemsets` of baskets given as integers (item j of `names`: bit j; at most 62 items),
    one per basket: the same frame, from the distinct integers and how many baskets hold each."""
    n = len(bits)
    if n == 0 or not len(names):
        return frequent_itemsets(np.zeros((n, 0), dtype=bool), [], min_support, max_items)
    keys, counts = np.unique(bits, return_counts=True)
    positions = np.arange(len(names), dtype=np.uint64)
    single = counts @ ((keys[:, None] >> positions) & np.uint64(1)).astype("int64") / float(n)
    kept = np.flatnonzero(single >= min_support)
    # contents told apart only by items below min_support are one content of the kept items
    mask = np.uint64(sum(1 << int(i) for i in kept))
    merged, inverse = np.unique(keys & mask, return_inverse=True)
    weights = np.bincount(inverse.ravel(), weights=counts, minlength=len(merged)).astype("int64")
    contents = ((merged[:, None] >> kept.astype(np.uint64)) & np.uint64(1)).astype(bool)
    return _itemsets_of_contents(contents, weights, n, [names[i] for i in kept], min_support, max_items)


def _itemsets_of_contents(contents: np.ndarray, counts: np.ndarray, n: int, names, min_support: float,
                          max_items: int) -> pd.DataFrame:
    """The Apriori levels of `frequent_itemsets` over distinct contents (a bool matrix over `names`, the
    items at or above min_support) held by `counts` of the `n` baskets."""
    found_sets: list[frozenset] = []
    found_support: list[float] = []
    level = [(i,) for i in range(len(names))]
    for size in range(1, max_items + 1):
        if not level:
            break
        candidates = np.asarray(level, dtype="int64")
        support = _weighted_hits(contents, counts, candidates) / float(n)
        frequent = [tuple(c) for c in candidates[support >= min_support].tolist()]
        found_sets += [frozenset(names[i] for i in c) for c in frequent]
        found_support += support[support >= min_support].tolist()
        level = _next_level(frequent) if size < max_items else []
    return pd.DataFrame({"support": np.asarray(found_support, dtype=float), "itemsets": found_sets})


def _distinct_rows(matrix: np.ndarray, inverse: bool = False):
    """The distinct rows of a bool matrix and how many times each occurs (with `inverse`: instead,
    the position of each row's content among them)."""
    if matrix.shape[1] <= 62:  # each row as the bits of one integer: a sort of integers, not of rows
        bits = _row_bits(matrix)
        keys, extra = np.unique(bits, return_inverse=inverse, return_counts=not inverse)
        contents = ((keys[:, None] >> np.arange(matrix.shape[1], dtype=np.uint64)) & np.uint64(1)).astype(bool)
        return contents, extra
    return np.unique(matrix, axis=0, return_inverse=inverse, return_counts=not inverse)


def _row_bits(matrix: np.ndarray) -> np.ndarray:
    """Each row of a bool matrix of at most 64 columns as one integer, column j its bit j (packed
    eight columns to a byte by numpy, not shifted and summed column by column)."""
    packed = np.packbits(matrix, axis=1, bitorder="little")
    padded = np.zeros((len(matrix), 8), dtype=np.uint8)
    padded[:, :packed.shape[1]] = packed
    return padded.view("<u8").ravel().astype(np.uint64)


def _weighted_hits(contents: np.ndarray, counts: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """For each candidate itemset (a row of item positions, sorted; candidates sorted), how many
    baskets hold all its items: candidates sharing all but their last item are counted together,
    the weights of the contents holding that prefix summed per last item in one integer product
    over the item-major contents (one product per prefix, not one pass per candidate; exact)."""
    weights = counts.astype("int64")
    by_item = np.ascontiguousarray(contents.T)  # one row per item: a prefix's rows are read whole
    if candidates.shape[1] == 1:
        return by_item[candidates[:, 0]] @ weights
    hits = np.zeros(len(candidates), dtype="int64")
    prefixes = candidates[:, :-1]
    starts = np.flatnonzero(np.r_[True, (prefixes[1:] != prefixes[:-1]).any(axis=1)])
    for start, end in zip(starts, np.r_[starts[1:], len(candidates)]):
        held = np.where(by_item[prefixes[start]].all(axis=0), weights, 0)  # the prefix's baskets, by content
        hits[start:end] = by_item[candidates[start:end, -1]] @ held
    return hits


def _next_level(frequent: list[tuple]) -> list[tuple]:
    """Apriori's candidates one item larger: two frequent itemsets (sorted tuples) that share all but
    their last item, joined, kept where every subset one item smaller is frequent."""
    known = set(frequent)
    found = []
    for i, left in enumerate(frequent):
        for right in frequent[i + 1:]:
            if left[:-1] != right[:-1]:
                continue
            joined = (*left, right[-1]) if left[-1] < right[-1] else (*right, left[-1])
            if all(joined[:k] + joined[k + 1:] in known for k in range(len(joined))):
                found.append(joined)
    return sorted(found)


def _one_hot(basket_items: pd.DataFrame) -> pd.DataFrame:
    """The basket × item matrix FP-growth reads: one row per basket (sorted by basket_id), one bool
    column per item (sorted by name), True where the basket holds the item; built from integer
    codes (pandas' crosstab groups basket by basket in Python: 9 s for 330,000 rows)."""
    baskets_, basket_names = pd.factorize(basket_items["basket_id"], sort=True)
    items, item_names = pd.factorize(basket_items["item"], sort=True)
    matrix = np.zeros((len(basket_names), len(item_names)), dtype=bool)
    known = (baskets_ >= 0) & (items >= 0)  # a missing basket or item is no purchase
    matrix[baskets_[known], items[known]] = True
    return pd.DataFrame(matrix, index=basket_names, columns=[str(name) for name in item_names])


def pair_rules(con: ibis.BaseBackend | None, basket_items: pd.DataFrame | ibis.Table, min_support: float = 0.01,
               min_confidence: float = 0.2) -> pd.DataFrame:
    """One-item rules (A -> C) from pair counts computed in the engine, per group: the same support,
    confidence and lift as `mine_rules` gives for its one-item rules, without a basket × item matrix
    in memory (for tens of millions of lines). `basket_items` holds group, basket_id, item."""
    from segkit.intake.sources import connect

    table = ibis.memtable(basket_items) if isinstance(basket_items, pd.DataFrame) else basket_items
    sizes = table.group_by("group").aggregate(n=table.basket_id.nunique())
    singles = table.group_by(["group", "item"]).aggregate(item_baskets=table.basket_id.nunique())
    left, right = table.view(), table.view()
    pairs = left.join(right, [left.group == right.group, left.basket_id == right.basket_id, left.item != right.item])
    pairs = pairs.select(group=left.group, antecedent=left.item, consequent=right.item, basket_id=left.basket_id)
    counted = pairs.group_by(["group", "antecedent", "consequent"]).aggregate(baskets=pairs.basket_id.count())
    a = singles.rename(antecedent="item", a_baskets="item_baskets")
    c = singles.rename(consequent="item", c_baskets="item_baskets")
    expr = counted.join(sizes, "group").join(a, ["group", "antecedent"]).join(c, ["group", "consequent"])
    frame = (con or connect()).to_pandas(expr) if isinstance(basket_items, pd.DataFrame) else expr.to_pandas()
    if frame.empty:
        return _empty_rules()
    frame["support"] = frame["baskets"] / frame["n"]
    frame["confidence"] = frame["baskets"] / frame["a_baskets"]
    frame["lift"] = frame["confidence"] / (frame["c_baskets"] / frame["n"])
    # the antecedent itself must be frequent, as in FP-growth
    keep = ((frame["support"] >= min_support) & (frame["confidence"] >= min_confidence)
            & (frame["a_baskets"] / frame["n"] >= min_support))
    frame = frame[keep].astype({"baskets": "int64"})
    return _sorted(frame[list(RULE_COLUMNS)])


def rules_by_group(basket_items: pd.DataFrame, segments: pd.DataFrame | None = None, by: str = "segment",
                   min_support: float = 0.01, min_confidence: float = 0.2, max_items: int = 3,
                   engine_above: int = 200_000, con: ibis.BaseBackend | None = None,
                   min_baskets: int = 1) -> pd.DataFrame:
    """The rules of each group's own baskets (a customer's group from `segments[by]`; all baskets as
    group "all" when `segments` is None): each group is mined alone, so its support and confidence are
    shares of its own baskets, and Champions' rules can be set beside At Risk customers'. Groups with
    more than `engine_above` baskets get one-item rules counted in the engine (`pair_rules`). Rules
    held by fewer than `min_baskets` baskets are left out (in a small segment, a share is few baskets).

    Returns RULE_COLUMNS as `mine_rules` does, groups sorted by name; the same rules as `mine_rules`
    on each group's baskets alone. Rows are grouped by integer codes (no string merge); where a
    customer is in two groups of `segments`, the baskets are merged with the groups instead and count
    in both. Raises ValueError for a support or confidence outside (0, 1], DataError for a missing
    column of `segments`."""
    if not 0 < min_support <= 1 or not 0 < min_confidence <= 1:
        raise ValueError(f"min_support and min_confidence must be in (0, 1], got {min_support}, {min_confidence}")
    coded = _coded(basket_items, segments, by)
    if coded is None:  # a customer in two groups: their baskets count in both, by the merge
        found = _rules_by_merged_group(basket_items, segments, by, min_support, min_confidence, max_items,
                                       engine_above, con)
    else:
        found = []
        basket, item, group, item_names, group_names = coded
        n_baskets = int(basket.max()) + 1 if len(basket) else 0
        for code, name in enumerate(group_names):
            inside = np.flatnonzero(group == code)
            if not len(inside):
                continue
            seen = np.zeros(n_baskets, dtype=bool)
            seen[basket[inside][basket[inside] >= 0]] = True
            if seen.sum() > engine_above:  # counted before any basket × item matrix is made
                part = basket_items.iloc[inside]
                found.append(pair_rules(con, pd.DataFrame({"group": name, "basket_id": part["basket_id"].to_numpy(),
                                                           "item": part["item"].to_numpy()}), min_support, min_confidence))
                continue
            if not seen.any():
                continue
            if len(item_names) <= 62:  # each basket's items as the bits of one integer, from the group's rows
                known = inside[(basket[inside] >= 0) & (item[inside] >= 0)]
                bits = np.zeros(n_baskets, dtype=np.uint64)
                np.bitwise_or.at(bits, basket[known], np.left_shift(np.uint64(1), item[known].astype(np.uint64)))
                itemsets = _itemsets_from_bits(bits[seen], [str(i) for i in item_names], min_support, max_items)
                found.append(_rules_from_itemsets(itemsets, int(seen.sum()), min_confidence, name))
                continue
            onehot = _one_hot_codes(basket[inside], item[inside], item_names, n_baskets)
            itemsets = frequent_itemsets(onehot.to_numpy(), list(onehot.columns), min_support, max_items)
            found.append(_rules_from_itemsets(itemsets, len(onehot), min_confidence, name))
    found = [f[f["baskets"] >= min_baskets] for f in found]
    found = [f for f in found if not f.empty]
    return _sorted(pd.concat(found, ignore_index=True)) if found else _empty_rules()


def _coded(basket_items: pd.DataFrame, segments: pd.DataFrame | None, by: str):
    """basket_items as integer codes, for mining each group without string merges and group-bys:
    (basket, item, group, item_names, group_names), one code per row (-1: missing basket or item; no
    group), item_names and group_names sorted; None when a customer is in two groups of `segments`."""
    known = _known_codes(basket_items)
    if known is not None:  # the customer baskets built from codes: the basket is the customer
        basket, item, customer_values, item_names = known
        customer_codes = basket
    else:
        basket = factorize(basket_items["basket_id"])[0]
        item, item_names = pd.factorize(basket_items["item"], sort=True)
    if segments is None:
        return basket, item, np.zeros(len(basket_items), dtype="int64"), item_names, ["all"]
    _check_columns(segments.columns, ("customer_id", by), "segments")
    groups = segments[["customer_id", by]].dropna()
    if known is None:
        customer_codes, customer_values = factorize(basket_items["customer_id"])
    positions = _positions(groups["customer_id"].astype(str), pd.Index(customer_values).astype(str))
    if positions is None:
        return None
    codes, group_names = pd.factorize(groups[by].astype(str), sort=True)
    # each distinct customer's group first, then each row's (a million lookups, not one per row twice)
    found = positions >= 0
    per_customer = np.full(len(positions), -1, dtype="int64")
    per_customer[found] = codes[positions[found]]
    group = _take(per_customer, customer_codes)
    return basket, item, group, item_names, [str(g) for g in group_names]


def _one_hot_codes(basket: np.ndarray, item: np.ndarray, item_names, n_baskets: int) -> pd.DataFrame:
    """`_one_hot` from integer codes (basket codes below `n_baskets`): one row per basket code (>= 0)
    of these rows, one bool column per item code present (in code order, which is name order), True
    where the basket holds the item. Marks and running counts over the codes, no sort."""
    known_basket = basket >= 0
    seen = np.zeros(n_baskets, dtype=bool)
    seen[basket[known_basket]] = True
    row_of = np.cumsum(seen) - 1
    present = np.zeros(len(item_names), dtype=bool)
    present[item[item >= 0]] = True
    column_of = np.cumsum(present) - 1
    known = known_basket & (item >= 0)
    matrix = np.zeros((int(seen.sum()), int(present.sum())), dtype=bool)
    matrix[row_of[basket[known]], column_of[item[known]]] = True
    return pd.DataFrame(matrix, columns=[str(item_names[c]) for c in np.flatnonzero(present)])


def _rules_by_merged_group(basket_items, segments, by, min_support, min_confidence, max_items, engine_above, con):
    """The rules of each group, from basket_items merged with the groups (a customer may be in several)."""
    grouped = _with_groups(basket_items, segments, by)
    found = []
    for group, rows in grouped.groupby("group", sort=True):
        if rows["basket_id"].nunique() > engine_above:
            found.append(pair_rules(con, rows[["group", "basket_id", "item"]], min_support, min_confidence))
        else:
            found.append(mine_rules(rows, min_support, min_confidence, max_items, group=str(group)))
    return found


def top_rules(rules: pd.DataFrame, top: int = 5, order=None) -> pd.DataFrame:
    """At most `top` rules per group (highest lift, then confidence, then support), groups in `order`."""
    shown = rules.groupby("group", sort=False).head(top)
    if order is not None:
        rank = {g: i for i, g in enumerate(order)}
        shown = shown.assign(_rank=shown["group"].map(rank).fillna(len(rank)), _lift=shown["lift"].round(9)).sort_values(
            ["_rank", "_lift", "confidence", "support"], ascending=[True, False, False, False], kind="stable")
        shown = shown.drop(columns=["_rank", "_lift"])
    return shown.reset_index(drop=True)


def next_best_item(basket_items: pd.DataFrame, segments: pd.DataFrame, rules: pd.DataFrame,
                   by: str = "segment") -> pd.DataFrame:
    """Each customer's next best category: among the rules of the customer's own group whose
    antecedent items the customer has all bought (in any basket) and whose consequent they have not,
    the consequent of the highest lift, then confidence, then support (then the first by name).

    One row per customer of `segments`: customer_id, group (the `by` value), next_best (missing when
    no rule applies), and the rule used (rule_antecedent, rule_lift, rule_confidence). For the CRM
    export: a customer with no rule keeps an empty next_best rather than a guess.
    """
    _check_columns(segments.columns, ("customer_id", by), "segments")
    customers = segments[["customer_id", by]].astype({"customer_id": str}).rename(columns={by: "group"})
    customers["group"] = customers["group"].astype(str)
    result = customers.assign(next_best=pd.Series(pd.NA, index=customers.index, dtype="string"),
                              rule_antecedent=pd.Series(pd.NA, index=customers.index, dtype="string"),
                              rule_lift=np.nan, rule_confidence=np.nan)
    if rules.empty:
        return result
    ranked = rules.assign(_lift=rules["lift"].round(9)).sort_values(
        ["_lift", "confidence", "support", "consequent", "antecedent"],
        ascending=[False, False, False, True, True], kind="stable").drop(columns="_lift")
    # what each customer bought, as a customer × item matrix of integer codes (no per-customer Python)
    # (factorised first: the distinct values are looked up, not every row's Arrow string)
    known = _known_codes(basket_items)  # the customer baskets built from codes: no strings hashed again
    if known is not None:
        customer_codes, item_codes, customer_values, item_values = known
    else:
        item_codes, item_values = pd.factorize(basket_items["item"])
        customer_codes, customer_values = factorize(basket_items["customer_id"])
    item_values = [str(v) for v in item_values]
    names = pd.Index(sorted(set(item_values) | set(ranked["consequent"].astype(str))
                            | {i for a in ranked["antecedent"] for i in a.split(SEPARATOR)}))
    positions = _positions(customers["customer_id"], pd.Index(customer_values).astype(str))
    if positions is None:  # an id twice in the segments: pandas' own error, as before
        positions = pd.Index(customers["customer_id"]).get_indexer(pd.Index(customer_values).astype(str))
    row_of = _take(positions, customer_codes)
    column_of = _take(names.get_indexer(item_values), item_codes)
    known = (row_of >= 0) & (column_of >= 0)
    bought = np.zeros((len(customers), len(names)), dtype=bool)
    bought[row_of[known], column_of[known]] = True
    chosen = np.full(len(customers), -1, dtype="int64")  # the position in `ranked` of each customer's rule
    # each group's customers by the codes of the group column (no Python string per customer)
    member_codes, member_groups = pd.factorize(customers["group"])
    # what each customer bought as the bits of one integer (item j: bit j), where the items fit in one
    bits = _row_bits(bought) if len(names) <= 62 else None
    for group, rows in ranked.assign(_position=np.arange(len(ranked))).groupby("group", sort=False):
        code = member_groups.get_indexer([str(group)])[0]
        inside = np.flatnonzero(member_codes == code) if code >= 0 else np.zeros(0, dtype="int64")
        if not len(inside):
            continue
        # customers who bought the same items get the same rule: each distinct content is matched once;
        # the group's rules in rank order: the first one a customer qualifies for is theirs
        rules_here = zip(rows["_position"], rows["antecedent"], rows["consequent"].astype(str))
        if bits is None:
            has, content_of = _distinct_rows(bought[inside], inverse=True)
            pick = np.full(len(has), -1, dtype="int64")
            for position, antecedent, consequent in rules_here:
                fits = (pick < 0) & ~has[:, names.get_loc(consequent)]
                for need in antecedent.split(SEPARATOR):
                    fits &= has[:, names.get_loc(need)]
                pick[fits] = position
        else:
            contents, content_of = np.unique(bits[inside], return_inverse=True)
            pick = np.full(len(contents), -1, dtype="int64")
            for position, antecedent, consequent in rules_here:
                need = np.uint64(sum(1 << names.get_loc(i) for i in set(antecedent.split(SEPARATOR))))
                offer = np.uint64(1 << names.get_loc(consequent))
                fits = (pick < 0) & ((contents & need) == need) & ((contents & offer) == 0)
                pick[fits] = position
        chosen[inside] = pick[content_of]
    picked = chosen >= 0

    def text(values):  # the chosen rules' texts, missing for the others: taken in Arrow, not a million objects
        import pyarrow as pa

        taken = pa.array([str(v) for v in values], type=pa.string()).take(pa.array(chosen, mask=~picked))
        return pd.array(taken, dtype="string")

    def number(values):  # the chosen rules' numbers, NaN for the others
        return np.where(picked, np.asarray(values, dtype="float64")[np.where(picked, chosen, 0)], np.nan)

    return customers.assign(next_best=text(ranked["consequent"]), rule_antecedent=text(ranked["antecedent"]),
                            rule_lift=number(ranked["lift"]), rule_confidence=number(ranked["confidence"]))


def _take(positions: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """positions[codes], with -1 where the code is -1 (a missing value) or nothing was found."""
    taken = np.asarray(positions, dtype="int64")[codes] if len(positions) else np.full(len(codes), -1, dtype="int64")
    return np.where(codes >= 0, taken, -1)


def next_best_counts(next_best: pd.DataFrame) -> pd.DataFrame:
    """How many customers of each group get each next best category (group, next_best, customers),
    with the customers that no rule reaches as next_best missing."""
    counts = (next_best.assign(next_best=next_best["next_best"].astype(object))
              .groupby(["group", "next_best"], dropna=False).size().rename("customers").reset_index())
    return counts.sort_values(["group", "customers"], ascending=[True, False], kind="stable").reset_index(drop=True)


def _sorted(rules: pd.DataFrame) -> pd.DataFrame:
    # lift rounded for the order: A -> C and C -> A have the same lift, computed with other float noise
    ordered = rules.assign(_lift=rules["lift"].round(9)).sort_values(
        ["group", "_lift", "confidence", "support", "antecedent", "consequent"],
        ascending=[True, False, False, False, True, True], kind="stable")
    return ordered.drop(columns="_lift").reset_index(drop=True)


def _empty_rules() -> pd.DataFrame:
    return pd.DataFrame({"group": pd.Series(dtype=str), "antecedent": pd.Series(dtype=str),
                         "consequent": pd.Series(dtype=str), "baskets": pd.Series(dtype="int64"),
                         "support": pd.Series(dtype=float), "confidence": pd.Series(dtype=float),
                         "lift": pd.Series(dtype=float)})


def check_item_column(columns, item: str) -> bool:
    """Whether the transactions have the `item` column (category or product): without it there are
    no baskets of items, and 07_cross_sell says so instead of failing."""
    return item in columns

