"""The evaluate block of the params: defaults, the settings compared, and clear refusals."""

import pytest

from segkit.errors import ParamsError
from segkit.params import load_params


def test_defaults(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("run_name: t\n", encoding="utf-8")
    evaluate = load_params(path).evaluate
    assert evaluate.stability_bands == (0.5, 0.6, 0.75, 0.85)  # Hennig (2007)
    assert [s.as_dict() for s in evaluate.compare][:2] == [{"method": "rfm", "bins": 3}, {"method": "rfm", "bins": 5}]
    assert evaluate.matrix_cut == "median" and evaluate.compare_by == "high_f1"


@pytest.mark.parametrize("text, words", [
    ("evaluate: {compare: [{method: kmeans}]}", "needs k"),
    ("evaluate: {compare: [{method: rfm, bins: 4, kk: 3}]}", "kk"),
    ("evaluate: {matrix_cut: threshold}", "matrix_thresholds"),
    ("evaluate: {stability_bands: [0.5, 0.9, 0.7, 0.95]}", "increasing"),
    ("evaluate: {compare_by: accuracy}", "compare_by"),
])
def test_refusals_name_the_key(tmp_path, text, words):
    path = tmp_path / "p.yaml"
    path.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(ParamsError, match=words):
        load_params(path)
