"""The tuning panel's cells leave a batch report as it was: on the shared whole-report runs (en_run,
zh_run), the last cell of 02_rfm and 04_clustering ran, returned nothing and left no widget state,
and their pages show none of the panel."""

import json

import pytest

from segkit.i18n import t

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("notebook", ["02_rfm", "04_clustering"])
def test_batch_report_is_unaffected_by_the_tuning_cell(notebook, lang, en_run, zh_run):
    _, result = {"en": en_run, "zh": zh_run}[lang]
    executed = json.loads((result.folder / "executed" / f"{notebook}.ipynb").read_text(encoding="utf-8"))
    last = executed["cells"][-1]
    assert "segkit.tuning_panel(" in "".join(last["source"])  # the cell is there, and it ran ...
    assert last["execution_count"] is not None
    assert last["outputs"] == []  # ... returning None: no panel, no message, no widget
    assert "widgets" not in executed["metadata"]
    page = (result.folder / f"{notebook}.html").read_text(encoding="utf-8")
    for key in ("tuning.save.path", "tuning.save.overwrite", "tuning.needs_extra"):
        assert t(key, lang)[:12] not in page, key
    assert "tuning_panel" not in page and "application/vnd.jupyter.widget" not in page
