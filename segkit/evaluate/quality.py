"""Evaluating and explaining classes: cluster quality and decision-tree rules."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import (accuracy_score, calinski_harabasz_score, confusion_matrix, davies_bouldin_score,
                             f1_score, precision_recall_fscore_support, recall_score, silhouette_score)
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

from segkit.i18n import counted
from segkit.models.pairwise import SampledSilhouettes, small_chunks


def cluster_quality(X: np.ndarray, labels: np.ndarray, sample_size: int = 5_000,
                    random_state: int | None = 0) -> dict[str, float]:
    """Silhouette (higher is better, -1..1), Calinski-Harabasz (higher is better) and
    Davies-Bouldin (lower is better) of a clustering of the rows of X."""
    if len(np.unique(labels)) < 2:
        raise ValueError("cluster quality needs at least 2 clusters")
    sample = min(sample_size, len(X))
    with small_chunks():
        silhouette = float(silhouette_score(X, labels, sample_size=sample, random_state=random_state))
    return {
        "silhouette": silhouette,
        "calinski_harabasz": float(calinski_harabasz_score(X, labels)),
        "davies_bouldin": float(davies_bouldin_score(X, labels)),
    }


@dataclass(frozen=True)
class TreeRule:
    # (feature, "<=" or ">", threshold); a whole number for a feature of whole numbers (orders, days)
    conditions: tuple[tuple[str, str, float], ...]
    target: object
    customers: int  # training customers that reach this leaf
    purity: float  # share of them in the predicted class


@dataclass(frozen=True)
class TreeExplanation:
    rules: tuple[TreeRule, ...]
    accuracy: float
    recall: float  # macro average over classes
    f1: float  # macro average over classes
    per_class: pd.DataFrame  # precision, recall, f1, support per class on the test split
    features: tuple[str, ...]
    # customers of the test split: true class (rows) x class the rules give (columns)
    confusion: pd.DataFrame | None = None
    customers: int | None = None  # the customers the tree was grown and scored on (train + test)
    sampled: bool = False  # True when they are a random sample of more customers (`sample_size`)

    def rules_by_class(self) -> pd.DataFrame:
        """The IF/THEN rules grouped by the class they give (THEN), largest leaves first within a
        class: columns target, conditions (tuples of (feature, "<=" or ">", threshold)), customers
        (training customers reaching the leaf), purity, and class_share (the leaf's share of all
        training customers the rules give that class)."""
        frame = pd.DataFrame([{"target": r.target, "conditions": r.conditions, "customers": r.customers,
                               "purity": r.purity} for r in self.rules])
        frame["class_share"] = frame["customers"] / frame.groupby("target")["customers"].transform("sum")
        order = {c: i for i, c in enumerate(self.per_class["target"])}
        frame["_order"] = frame["target"].map(order)
        return (frame.sort_values(["_order", "customers"], ascending=[True, False], kind="stable")
                .drop(columns="_order").reset_index(drop=True))


def compare_quality(X: np.ndarray, labelings: dict, sample_size: int = 5_000,
                    random_state: int | None = 0) -> pd.DataFrame:
    """`cluster_quality` of several classifications of the same customers in the same space, side by
    side: `X` (customers x features, e.g. `scaled_rfm(features, columns)`, the space the clusters
    were found in) and `labelings` {name: one label per row of X} (clusters, RFM segments, classes).

    One row per labeling: labeling, groups (distinct labels), silhouette (on one random sample of at
    most `sample_size` customers, the same for every labeling; `sample` says how many),
    calinski_harabasz and davies_bouldin (on all customers). A labeling with fewer than 2 groups, or
    with as many groups as customers, gets missing values (the indices are not defined there).
    Raises ValueError when a labeling does not have one label per row of X.
    Sources: Rousseeuw 1987 (silhouette), Calinski & Harabasz 1974, Davies & Bouldin 1979.
    """
    X = np.asarray(X, dtype=float)
    sample = min(sample_size, len(X))
    silhouettes = SampledSilhouettes(X, sample, random_state)  # one sample, its distances computed once
    rows = []
    for name, labels in labelings.items():
        labels = np.asarray(labels)
        if len(labels) != len(X):
            raise ValueError(f"labeling {name!r} has {counted(len(labels), 'label', 'labels')} for "
                             f"{counted(len(X), 'customer', 'customers')}")
        # integer codes: the indices sort the labels, and a million class names sort in seconds
        labels, uniques = pd.factorize(labels, use_na_sentinel=False)
        groups = len(uniques)
        scores = {"silhouette": np.nan, "calinski_harabasz": np.nan, "davies_bouldin": np.nan}
        if 2 <= groups < len(X):
            try:  # silhouette_score(X, labels, sample_size=sample, random_state=random_state), the same numbers
                scores["silhouette"] = silhouettes(labels)
            except ValueError:  # the silhouette sample drew a single group, or as many groups as customers
                scores["silhouette"] = np.nan
            scores["calinski_harabasz"] = float(calinski_harabasz_score(X, labels))
            scores["davies_bouldin"] = float(davies_bouldin_score(X, labels))
        rows.append({"labeling": name, "groups": groups, **scores, "sample": sample})
    return pd.DataFrame(rows)


def explain_with_tree(features: pd.DataFrame, target: np.ndarray | pd.Series,
                      columns=("recency_days", "orders", "revenue"), max_depth: int = 3,
                      test_size: float = 0.3, random_state: int | None = 0,
                      sample_size: int | None = None) -> TreeExplanation:
    """A shallow decision tree that says the classes as IF/THEN rules over readable features.

    Accuracy, recall and F1 are measured on customers the tree did not see (a stratified split),
    so they say how far the rules can be trusted to describe the classes. The split is stratified
    when it can be: every class has at least 2 customers and both parts can hold one of each class
    (six customers in three classes cannot: the split is then random rather than an error).

    `confusion` counts the test customers by true class (rows) and the class the rules give (columns).
    The tree is CART (Breiman et al. 1984), scikit-learn's DecisionTreeClassifier.

    Above `sample_size` customers (None: never), the tree is grown and scored on a random sample of
    that many (seeded by `random_state`): a depth-3 tree's cut points and its scores on 30,000 unseen
    customers are as good as on a million (the standard error of an accuracy of 0.9 is then 0.002),
    at a tenth of the time. `customers` and `sampled` say what was used. Raises ValueError when
    `target` does not have one class per row of `features`.
    """
    target = np.asarray(target)
    if len(target) != len(features):
        raise ValueError(f"target has {counted(len(target), 'class', 'classes')} for "
                         f"{counted(len(features), 'customer', 'customers')}")
    total = len(features)
    if sample_size is not None and total > sample_size:
        drawn = np.sort(np.random.default_rng(random_state).choice(total, size=int(sample_size), replace=False))
        features, target = features.iloc[drawn], target[drawn]
    X = features[list(columns)].to_numpy(dtype=float)
    # the classes as integer codes: the split, the tree and the scores are several times faster on
    # integers than on class names (1M customers: seconds, not a quarter of a minute); names come back
    # at the end, in sorted order as before
    codes, names = pd.factorize(pd.Series(target), sort=True)
    y = codes
    counts = pd.Series(y).value_counts()
    n_test = int(np.ceil(test_size * len(y)))
    stratify = y if counts.min() >= 2 and min(n_test, len(y) - n_test) >= len(counts) else None
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, random_state=random_state,
                                                        stratify=stratify)
    tree = DecisionTreeClassifier(max_depth=max_depth, random_state=random_state).fit(X_train, y_train)
    predicted = tree.predict(X_test)
    labels = np.unique(y)
    shown = np.asarray(names)[labels]
    precision, recall, f1, support = precision_recall_fscore_support(y_test, predicted, labels=labels, zero_division=0)
    per_class = pd.DataFrame({"target": shown, "precision": precision, "recall": recall, "f1": f1, "support": support})
    # a feature of whole numbers (orders, days) is cut between two of them (3.5): its rules say the
    # whole number on the same side ("orders <= 3", "orders > 3"), which selects the same customers
    whole = {column for position, column in enumerate(columns)
             if np.all(np.isfinite(X[:, position])) and np.all(X[:, position] == np.round(X[:, position]))}
    return TreeExplanation(
        rules=tuple(_rules(tree, list(columns), np.asarray(names), whole)),
        accuracy=float(accuracy_score(y_test, predicted)),
        recall=float(recall_score(y_test, predicted, average="macro", zero_division=0)),
        f1=float(f1_score(y_test, predicted, average="macro", zero_division=0)),
        per_class=per_class,
        features=tuple(columns),
        confusion=pd.DataFrame(confusion_matrix(y_test, predicted, labels=labels),
                               index=pd.Index(shown, name="actual"), columns=pd.Index(shown, name="predicted")),
        customers=int(len(y)),
        sampled=len(y) < total,
    )


def _rules(tree: DecisionTreeClassifier, names: list[str], classes: np.ndarray | None = None,
           whole: set[str] = frozenset()) -> list[TreeRule]:
    t = tree.tree_
    rules = []

    def walk(node: int, path: tuple) -> None:
        if t.children_left[node] == -1:
            counts = t.value[node][0]
            best = int(np.argmax(counts))
            winner = tree.classes_[best] if classes is None else classes[tree.classes_[best]]
            rules.append(TreeRule(path, winner, int(t.n_node_samples[node]),
                                  float(counts[best] / counts.sum())))
            return
        name, threshold = names[t.feature[node]], float(t.threshold[node])
        if name in whole:  # x <= 3.5 is x <= 3 and x > 3.5 is x > 3 on whole numbers
            threshold = float(np.floor(threshold))
        walk(t.children_left[node], path + ((name, "<=", threshold),))
        walk(t.children_right[node], path + ((name, ">", threshold),))

    walk(0, ())
    return sorted(rules, key=lambda r: -r.customers)
