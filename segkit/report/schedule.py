"""Which notebooks of a run may run side by side, and in what order they start.

A notebook reads the stage files (and run.json entries) that earlier notebooks wrote; `NEEDS` names,
for each notebook, the notebooks whose files it reads or rewrites. Two notebooks neither of which
needs the other (directly or through others) can run at once: on two cores the run then uses both,
since most notebooks compute in one Python thread. The needs are checked against what the notebooks
really read and write (tests/test_schedule.py, from `segkit.store`'s stage log), so a notebook that
starts to read another's file fails the tests until it is named here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# notebook -> the notebooks whose outputs it reads (or rewrites); a need that a run does not execute
# (03_customer_value for a customer-level source) is dropped
NEEDS: Mapping[str, tuple[str, ...]] = {
    "01_cleaning": (),
    "01_customer_table": (),
    # features, customers, surveys
    "02_rfm": ("01_cleaning", "01_customer_table"),
    # profile (and rewrites it with the value columns), repeat summaries, activity
    "03_customer_value": ("01_cleaning", "02_rfm"),
    # features only
    "04_clustering": ("01_cleaning", "01_customer_table"),
    # segments, profile with its value columns, clusters and k, holdout summary, clean rows
    "05_evaluation": ("01_cleaning", "01_customer_table", "02_rfm", "03_customer_value", "04_clustering"),
    # month-start classes and monthly KPIs (03's), profile, clusters, the segment map used
    "06_migration": ("01_cleaning", "02_rfm", "03_customer_value", "04_clustering"),
    # clean rows, segments, clusters
    "07_cross_sell": ("01_cleaning", "02_rfm", "04_clustering"),
    # segments, value, clusters, alerts and KPI trends (06's)
    "08_case_study": ("01_cleaning", "01_customer_table", "02_rfm", "03_customer_value", "04_clustering",
                      "06_migration"),
}


def needs(notebooks: Iterable[str], table: Mapping[str, Iterable[str]] = NEEDS) -> dict[str, tuple[str, ...]]:
    """For the notebooks of one run (in their order), each one's needs among them (from `table`,
    by default `NEEDS`). A notebook that `table` does not know needs every notebook before it (it
    runs alone, in order). ValueError when a need comes after the notebook that needs it."""
    notebooks = tuple(notebooks)
    result = {}
    for i, name in enumerate(notebooks):
        wanted = tuple(n for n in table[name] if n in notebooks) if name in table else notebooks[:i]
        late = [n for n in wanted if n not in notebooks[:i]]
        if late:
            raise ValueError(f"notebook {name} needs {', '.join(late)}, which run after it")
        result[name] = wanted
    return result


def ancestors(notebooks: Iterable[str], table: Mapping[str, Iterable[str]] = NEEDS) -> dict[str, set[str]]:
    """Each notebook's needs, direct or through other notebooks."""
    direct = needs(notebooks, table)
    found: dict[str, set[str]] = {}
    for name in direct:  # in run order: a notebook's needs come before it
        found[name] = set(direct[name]).union(*(found[n] for n in direct[name] if n in found))
    return found


def next_to_start(notebooks: Iterable[str], done: Iterable[str], started: Iterable[str],
                  table: Mapping[str, Iterable[str]] = NEEDS) -> list[str]:
    """The notebooks not started whose needs are all done, in run order (the first starts first)."""
    done, started = set(done), set(started)
    return [name for name, wanted in needs(notebooks, table).items()
            if name not in started and name not in done and set(wanted) <= done]
