"""segkit.store's JSON, and every other JSON file segkit writes: strict JSON, which any parser reads
(a run's run.json held `"r": Infinity`, from a model parameter that ran to infinity)."""

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from segkit.params import validate_params
from segkit.report.exports import write_parquet
from segkit.report.runner import write_manifest
from segkit.store import json_text, load_run_info, save_run_info

NOT_FINITE = {"r": float("inf"), "alpha": -np.inf, "a": float("nan"), "b": np.float64("nan"),
              "fits": [1.5, float("inf"), (2, -np.inf)], "nested": {"loglik": np.float32("-inf"), "k": 3}}


def strict(text: str):
    """JSON as a strict parser reads it: NaN, Infinity and -Infinity are not JSON."""
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_numbers_that_are_not_finite_are_written_as_null():
    parsed = strict(json_text(NOT_FINITE))
    assert parsed == {"r": None, "alpha": None, "a": None, "b": None, "fits": [1.5, None, [2, None]],
                      "nested": {"loglik": None, "k": 3}}
    assert json_text({"flag": True, "n": 4, "x": 0.25, "when": None}) == '{"flag": true, "n": 4, "x": 0.25, "when": null}'


def test_run_json_is_strict_json_and_reads_back(tmp_path):
    save_run_info(tmp_path, as_of=pd.Timestamp("2024-12-31").date(), value_models=NOT_FINITE)
    save_run_info(tmp_path, silhouette=float("nan"))  # a second write merges into the first
    info = strict((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert info["value_models"]["r"] is None and info["value_models"]["fits"] == [1.5, None, [2, None]]
    assert info["silhouette"] is None
    assert load_run_info(tmp_path)["value_models"]["alpha"] is None


def test_a_run_json_written_before_with_infinity_still_reads(tmp_path):
    (tmp_path / "run.json").write_text('{"as_of": "2024-12-31", "value_models": {"r": Infinity}}', encoding="utf-8")
    save_run_info(tmp_path, k=3)
    assert strict((tmp_path / "run.json").read_text(encoding="utf-8"))["value_models"]["r"] is None


def test_the_manifest_and_the_parquet_export_metadata_are_strict_json(tmp_path):
    params_path = tmp_path / "params.yaml"
    params_path.write_text("run_name: t\n", encoding="utf-8")
    (tmp_path / "data").mkdir()
    write_manifest(tmp_path / "manifest.json", validate_params({}), params_path, tmp_path,
                   {"01_cleaning": 1.5, "02_rfm": float("nan")})
    assert strict((tmp_path / "manifest.json").read_text(encoding="utf-8"))["timings_s"] == {"01_cleaning": 1.5,
                                                                                             "02_rfm": None}
    path = write_parquet(pd.DataFrame({"customer_id": ["a"]}), tmp_path / "customers.parquet",
                         run={"run": "t", "score": float("inf")})
    assert strict(pq.read_schema(path).metadata[b"segkit"].decode()) == {"run": "t", "score": None}
