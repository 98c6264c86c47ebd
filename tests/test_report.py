"""Whole report runs, checked the way a reader meets them: index figures, HTML pages in a real
headless Chromium, and the PDF by its text and its rendered pages."""

import datetime as dt
import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from PIL import Image

import segkit
from segkit.report.pages import format_kpis
from segkit.report.runner import NOTEBOOKS, ReportError, run_report
from segkit.report.tables import AT_RISK, VALUABLE

from conftest import ROOT, chromium, replaying, require_tool, shows_nan_or_inf, write_mall_table, write_params

pytestmark = pytest.mark.slow


def independent_kpis(params_path, overrides=()):
    """The headline figures computed straight from the package, without notebooks or stage files."""
    p = segkit.load_params(params_path, list(overrides))
    intake = segkit.load_source(p.source)
    con = segkit.connect()
    cleaned = segkit.clean_transactions(con, intake.transactions, as_of=p.as_of_date,
                                        duplicates=p.cleaning.duplicates,
                                        non_positive_amount=p.cleaning.non_positive_amount)
    features = segkit.customer_features(con, cleaned.clean, cleaned.as_of)
    segments, _ = segkit.segment_customers(features, p.rfm.bins, p.rfm.segment_map, p.rfm.class_map)
    clusterer = segkit.RFMClusterer(k_min=p.cluster.k_min, k_max=p.cluster.k_max, sample_size=p.cluster.sample_size,
                                    random_state=p.cluster.random_state).fit(features)
    return p, {
        "customers": len(features),
        "orders": int(features["orders"].sum()),
        "revenue": float(cleaned.clean["amount"].sum()),
        "top_share": segkit.top_share(features["revenue"], p.case_study.top_share),
        "valuable": int(segments["segment"].isin(VALUABLE).sum()),
        "at_risk": int(segments["segment"].isin(AT_RISK).sum()),
        "clusters": clusterer.k_,
        "silhouette": clusterer.silhouette_by_k_[clusterer.k_],
        "rows_in": len(intake.transactions),
        "rows_aside": int((cleaned.quarantine["reason"] != "after_as_of").sum()),
        "rows_later": int((cleaned.quarantine["reason"] == "after_as_of").sum()),
    }


def shown_kpis(index_html: str) -> dict:
    return dict(re.findall(r'data-kpi="(\w+)"><div class="value[^"]*">([^<]+)</div>', index_html))


def test_index_figures_equal_what_the_package_computes(en_run):
    params_path, result = en_run
    params, expected = independent_kpis(params_path)
    shown = shown_kpis((result.folder / "index.html").read_text(encoding="utf-8"))
    assert shown == {key: value for key, _, value in format_kpis(expected, params)}
    assert expected["rows_aside"] > 0 and expected["customers"] > 200  # the fixture exercises cleaning


def test_section_pages_are_written_while_the_later_notebooks_run(en_run):
    from conftest import PAGES_DURING_EN_RUN

    started = {message.split("running ")[1]: pages for message, pages in PAGES_DURING_EN_RUN if "] running " in message}
    assert sorted(started) == sorted(NOTEBOOKS)  # in the order their needs allow (tests/test_schedule.py)
    assert started[NOTEBOOKS[0]] == []
    # each page is exported on a thread of its own as its notebook ends: the HTML step starts with the
    # early pages written (the last one may still be on its way), and the PDF with all of them
    assert {NOTEBOOKS[0], NOTEBOOKS[1]} <= set(dict(PAGES_DURING_EN_RUN)["writing HTML"])
    assert dict(PAGES_DURING_EN_RUN)["writing PDF"] == sorted(["index", *NOTEBOOKS])


def test_run_folder_holds_every_product(en_run):
    params_path, result = en_run
    folder = result.folder
    assert folder.name == "tiny"
    for name in NOTEBOOKS:
        assert (folder / f"{name}.html").is_file()
        assert (folder / "executed" / f"{name}.ipynb").is_file()
    for stage in ("clean_transactions", "quarantine", "ledger", "customers", "surveys", "features", "segments", "clusters",
                  "repeat_summary", "holdout_summary", "activity", "value"):
        assert (folder / "data" / f"{stage}.parquet").is_file(), stage
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert manifest["params"] == segkit.load_params(params_path).model_dump(mode="json")
    assert manifest["versions"]["pandas"] and manifest["versions"]["segkit"] == segkit.__version__
    assert set(NOTEBOOKS) <= set(manifest["timings_s"]) and manifest["timings_s"]["total"] > 0
    # a small run lays out its PDF's sections while the notebooks run (segkit.report.runner.pdf_sections_early)
    assert manifest["timings_s"]["pdf_sections_early"] > 0
    assert len(manifest["inputs"]["params"]["sha256"]) == 64
    assert not list(folder.parent.glob(".tiny.tmp-*")) + list(folder.parent.glob(".tiny.old-*")), \
        "temporary folders left behind"


def test_ledger_adds_up_in_the_report(en_run):
    import pandas as pd

    _, result = en_run
    ledger = pd.read_parquet(result.folder / "data" / "ledger.parquet")
    clean = pd.read_parquet(result.folder / "data" / "clean_transactions.parquet")
    quarantine = pd.read_parquet(result.folder / "data" / "quarantine.parquet")
    assert ledger["rows"].sum() == len(clean) + len(quarantine)
    assert not set(clean["source_row"]) & set(quarantine["source_row"])


def test_pages_hide_code_and_parameters(en_run):
    params_path, result = en_run
    for name in NOTEBOOKS:
        page = (result.folder / f"{name}.html").read_text(encoding="utf-8")
        assert "load_params" not in page and "params_path" not in page and "overrides" not in page
        assert "Analyst notes" not in page
        # no stray return value of a bookkeeping call: run.json's contents are not for the reader
        assert "&#x27;as_of&#x27;" not in page and "'as_of'" not in page and "calibration_end&#x27;" not in page
        assert not re.search(r"<script[^>]+src=\"https?://", page), "pages must work offline"
        assert 'href="index.html"' in page
    assert (result.folder / "02_rfm.html").read_text().count("data:image/png;base64") >= 4


@pytest.mark.parametrize("run", ["en_run", "zh_run"])
def test_no_page_shows_what_python_wrote_to_stderr(run, request):
    """A warning in a page is a traceback-like box with the server's paths: none in any page."""
    _, result = request.getfixturevalue(run)
    for name in NOTEBOOKS:
        page = (result.folder / f"{name}.html").read_text(encoding="utf-8")
        assert 'data-mime-type="application/vnd.jupyter.stderr"' not in page, name


def test_a_file_with_nothing_to_set_aside_shows_no_empty_charts_and_no_warning(tmp_path):
    """Nothing set aside: the page says so, with no set-aside charts (seaborn warned into the page about
    an empty bar chart, with its path on the server) and no empty sample table."""
    from conftest import run_segkit

    rows = pd.DataFrame({"customer_id": [f"C{i}" for i in range(30) for _ in range(2)],
                         "order_id": [f"O{i}" for i in range(60)],
                         "ordered_at": [f"2024-0{1 + i % 9}-1{i % 10}" for i in range(60)],
                         "amount": [f"{10 + i}.50" for i in range(60)]})
    rows.to_csv(tmp_path / "clean.csv", index=False)
    params = tmp_path / "clean.yaml"
    params.write_text(json.dumps({"run_name": "clean", "as_of": "2024-12-31",
                                  "source": {"kind": "file", "transactions": {"path": "clean.csv"}}}), encoding="utf-8")
    done = run_segkit("run", "01_cleaning", "--params", str(params), "--data-dir", str(tmp_path / "run" / "data"))
    assert done.returncode == 0, done.stderr
    ledger = pd.read_parquet(tmp_path / "run" / "data" / "ledger.parquet")
    assert not ledger.loc[ledger["outcome"] == "set_aside", "rows"].sum()
    cells = json.loads((tmp_path / "run" / "executed" / "01_cleaning.ipynb").read_text(encoding="utf-8"))["cells"]
    outputs = [output for cell in cells for output in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("name") == "stderr"], [o.get("text") for o in outputs]
    assert not [o for o in outputs if "image/png" in o.get("data", {})]
    assert any("No row was set aside." in str(o.get("data", {}).get("text/html", "")) for o in outputs)


def non_blank(png: Path) -> float:
    pixels = np.asarray(Image.open(png).convert("L"))
    return float((pixels < 240).mean())


def test_pdf_text_and_rendered_pages(en_run, tmp_path):
    require_tool("pdftotext")
    _, result = en_run
    pdf = result.folder / "report.pdf"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for title in ("Customer segmentation report", "1. Data cleaning", "2. RFM scores and segments", "3. Customer value and churn risk", "4. Clustering",
                  "5. Evaluation", "6. Who moved where: migration since last month", "8. Case study: findings and actions",
                  "Champions", "Suggested action",
                  "composite ranking", "Multi-category", "Gini coefficient", "Segments by customer type", "NPS"):
        assert title in text, title
    assert f"{result.kpis['customers']:,}" in text
    pages = int(re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout).group(1))
    assert pages >= 6
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
    rendered = sorted(tmp_path.glob("page-*.png"))
    assert len(rendered) == pages
    assert all(non_blank(p) > 0.005 for p in rendered)
    assert max(non_blank(p) for p in rendered) > 0.05  # a page with charts


def test_index_in_a_real_browser(en_run, tmp_path):
    _, result = en_run
    index = result.folder / "index.html"
    dom = chromium("--dump-dom", index.as_uri(), tmp_path=tmp_path).stdout
    # ten figures, and the rows of later months when the run has some (a return dated 2025-01-04 here)
    assert dom.count('class="kpi"') == 10 + bool(result.kpis["rows_later"]) == 11
    links = re.findall(r'<a href="([^"]+)"', dom)
    assert links == [f"{name}.html" for name in NOTEBOOKS] + ["report.pdf"]
    assert all((result.folder / link).is_file() for link in links)
    shot = tmp_path / "index.png"
    chromium(f"--screenshot={shot}", "--window-size=1100,900", index.as_uri(), tmp_path=tmp_path)
    assert shot.is_file() and non_blank(shot) > 0.02


def test_section_page_renders_its_charts_in_a_real_browser(en_run, tmp_path):
    _, result = en_run
    dom = chromium("--dump-dom", (result.folder / "04_clustering.html").as_uri(), tmp_path=tmp_path).stdout
    assert "4. Clustering" in dom
    assert dom.count("<img") >= 2
    assert 'class="segkit-table"' in dom


def test_language_switch_keeps_the_numbers(en_run, zh_run):
    assert en_run[1].kpis == zh_run[1].kpis


def test_chinese_report(zh_run, tmp_path):
    require_tool("pdftotext")
    _, result = zh_run
    index = (result.folder / "index.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in index and "客户分类分析报告" in index and "核心指标" in index
    text = subprocess.run(["pdftotext", str(result.folder / "report.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    for words in ("客户分类分析报告", "1. 数据清洗", "2. RFM评分与客户分群", "冠军客户", "建议行动", "多品类客户",
                  "高频", "高价值", "客户综合排序", "按客户类型划分的客户群"):
        assert words in text, words
    for name in NOTEBOOKS:  # no chart fell back to boxes for missing Chinese glyphs
        executed = nbformat.read(result.folder / "executed" / f"{name}.ipynb", as_version=4)
        for cell in executed.cells:
            for output in cell.get("outputs", []):
                assert "Glyph" not in output.get("text", ""), (name, output.get("text"))


def test_chinese_value_pages_name_what_they_show(zh_run):
    _, result = zh_run
    pages = {name: (result.folder / f"{name}.html").read_text(encoding="utf-8")
             for name in ("03_customer_value", "05_evaluation", "08_case_study")}
    value_page, case_study = pages["03_customer_value"], pages["08_case_study"]
    assert "未来价值" in case_study and "存活概率" in value_page and "预测的把握程度" in value_page
    assert "各月初所属客户群的留存率" in value_page and "首购后各月的销售额" in value_page
    assert not shows_nan_or_inf("".join(pages.values()))


def test_the_chinese_demo_is_the_demo_in_chinese():
    """params/demo-zh.yaml differs from params/demo.yaml in its name, its language, the language of its
    own action text and of the demo's values (a tag names the customer types as the data write them)
    only: the same data and settings, so the demo's whole-report test covers its numbers and zh_run its
    Chinese pages."""
    from segkit.datasets.synthetic import VALUES_ZH

    english, chinese = (segkit.load_params(ROOT / "params" / name).model_dump(mode="json")
                        for name in ("demo.yaml", "demo-zh.yaml"))
    assert (english.pop("run_name"), chinese.pop("run_name")) == ("demo", "demo-zh")
    assert (english.pop("lang"), chinese.pop("lang")) == ("en", "zh")
    assert (english["source"]["demo"].pop("lang"), chinese["source"]["demo"].pop("lang")) == ("en", "zh")
    for tag in english["tags"]:
        for value, word in VALUES_ZH["customer_type"].items():
            tag["when"] = tag["when"].replace(f"'{value}'", f"'{word}'")
    # the same actions in both, each in both languages (a text in one language would stand for both)
    assert english["strategies"] and all(texts["en"] and re.search(r"[\u4e00-\u9fff]", texts["zh"])
                                         for texts in english["strategies"].values())
    assert english == chinese


def test_a_failed_run_keeps_the_last_good_report(en_run, tmp_path, monkeypatch):
    params_path, result = en_run
    reports = tmp_path / "reports"
    shutil.copytree(result.folder, reports / "tiny")
    good_index = (reports / "tiny" / "index.html").read_bytes()
    notebooks = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", notebooks)
    broken = nbformat.read(notebooks / "04_clustering.ipynb", as_version=4)
    broken.cells.insert(4, nbformat.v4.new_code_cell('raise RuntimeError("the clustering broke")'))
    nbformat.write(broken, notebooks / "04_clustering.ipynb")
    # the notebooks before it replayed from the shared report; the broken one runs in a real kernel
    from segkit.report import runner

    replay, real = replaying(result.folder, []), runner.execute_notebook

    def execute(source, target, parameters, cwd, notebook, *args, **kwargs):
        run = real if notebook == "04_clustering" else replay
        return run(source, target, parameters, cwd, notebook, *args, **kwargs)

    monkeypatch.setattr(runner, "execute_notebook", execute)
    with pytest.raises(ReportError) as err:
        run_report(params_path, reports_dir=reports, notebooks_dir=notebooks, pdf=False, force=True)
    message = str(err.value)
    assert "notebook 04_clustering failed in cell" in message and "the clustering broke" in message
    assert f"the executed notebook is at {reports / 'tiny.failed' / 'executed' / '04_clustering.ipynb'}" in message
    assert message.endswith(f"the last good report in {reports / 'tiny'} is untouched")
    assert (reports / "tiny" / "index.html").read_bytes() == good_index
    assert (reports / "tiny.failed" / "executed" / "04_clustering.ipynb").is_file()
    assert not (reports / "tiny.failed" / "index.html").exists()


# CDNOW in Chinese is the same numbers as in English, and demo-zh.yaml is demo.yaml in Chinese
# (test_the_chinese_demo_is_the_demo_in_chinese): the Chinese pages are checked on zh_run; demo.yaml's
# report is made by the installed wheel and checked as this one (tests/test_wheel.py)
@pytest.mark.parametrize("name, overrides", [("cdnow.yaml", [])])
def test_shipped_params_run_end_to_end(name, overrides, tmp_path):
    params_path = ROOT / "params" / name
    # CDNOW also writes its PDF, checked as the demo's are (tests/test_pdf_layout.py): real data, no new run
    result = run_report(params_path, overrides=overrides, reports_dir=tmp_path / "reports", pdf=name == "cdnow.yaml")
    params, expected = independent_kpis(params_path, overrides)
    shown = shown_kpis((result.folder / "index.html").read_text(encoding="utf-8"))
    assert shown == {key: value for key, _, value in format_kpis(expected, params)}
    case_study = (result.folder / "08_case_study.html").read_text(encoding="utf-8")
    evaluation = (result.folder / "05_evaluation.html").read_text(encoding="utf-8")
    value_page = (result.folder / "03_customer_value.html").read_text(encoding="utf-8")
    assert not shows_nan_or_inf(value_page + case_study + evaluation)
    if name == "cdnow.yaml":
        # the published CDNOW figures, through the whole pipeline: every record accounted for
        assert shown["rows_in"] == "69,659" and shown["rows_aside"] == "80"  # the zero-dollar records
        assert shown["revenue"] == "$2,500,315.63"  # in the params currency (USD)
        assert shown["orders"] == f"{67591 - 80:,}"  # published customer-days less the zero-dollar ones
        # the holdout check on the full data set, calibrated through 1997-09-30 as in the literature
        assert ("用截至 1997-09-30 的购买数据拟合" if params.lang == "zh" else
                "fitted on the purchases up to 1997-09-30") in evaluation
        holdout = pd.read_parquet(result.folder / "data" / "holdout_summary.parquet")
        features = pd.read_parquet(result.folder / "data" / "features.parquet")
        # the CDNOW cohort joined in 1997's first quarter; a customer whose first clean purchase is after the
        # calibration end (the earlier ones were zero-dollar, set aside) has no calibration period: left out
        late = int((pd.to_datetime(features["first_purchase"]) > "1997-09-30").sum())
        assert late == 2 and len(holdout) == len(features) - late and holdout["x_holdout"].sum() > 0
        if params.lang == "en":
            assert "no survey answers" in case_study and "no product categories" in case_study
            assert "Future value:" in case_study
        # the printed report: every column header of every table in the PDF text, no page more than half
        # empty except before a new section, each section from a new page
        from test_pdf_layout import check_report_layout

        check_report_layout(result, tmp_path)


def test_the_customer_value_section(en_run):
    _, result = en_run
    data = result.folder / "data"
    value = pd.read_parquet(data / "value.parquet")
    profile = pd.read_parquet(data / "profile.parquet")
    assert len(value) == len(profile) and value["p_alive"].between(0, 1).all() and (value["clv"] >= 0).all()
    assert (value["churn_risk"] == (value["p_alive"] < 0.5)).all()
    assert profile.set_index("customer_id")["clv"].equals(value.set_index("customer_id")["clv"].reindex(profile["customer_id"]))
    models = json.loads((data / "run.json").read_text())["value_models"]
    assert set(models["bgnbd"]["params"]) == {"r", "alpha", "a", "b"} and models["better_fit"] in ("bgnbd", "pareto_nbd")
    page = (result.folder / "03_customer_value.html").read_text(encoding="utf-8")
    for words in ("P(alive)", "Predicted CLV", "Valuable but probably lost", "Retention rate", "Cohorts by first-purchase month",
                  "How sure the predictions are", "Average order value and purchase frequency",
                  "Revenue of each first-purchase cohort", "Retention rate by segment at the start of each month"):
        assert words in page, words
    # rates, order values, cohort shares and revenue, retention and repurchase by segment
    assert page.count("<img") >= 6
    history = pd.read_parquet(data / "month_start_features.parquet")
    activity = pd.read_parquet(data / "activity.parquet")
    assert 1 <= history["month"].nunique() <= 12 and history["month"].min() > activity["month"].min()
    evaluation = (result.folder / "05_evaluation.html").read_text(encoding="utf-8")
    assert "The honest test of the purchase model" in evaluation and "Pareto/NBD, fitted on the same calibration" in evaluation


def test_a_good_run_writes_its_month_into_the_history(en_run):
    import duckdb

    from segkit.monthly.history import history_path

    params, result = en_run
    assert result.history is None  # written
    profile = pd.read_parquet(result.folder / "data" / "profile.parquet")
    as_of = json.loads((result.folder / "data" / "run.json").read_text())["as_of"]
    with duckdb.connect(str(history_path(result.folder.parent)), read_only=True) as con:
        runs = con.execute("SELECT run_name, month, as_of, customers FROM runs").fetchall()
        rows = con.execute("SELECT customer_id, segment, cluster FROM assignments ORDER BY customer_id").df()
        revenue = con.execute("SELECT value FROM kpis WHERE name = 'revenue'").fetchone()[0]
    assert [(r[0], r[2].isoformat(), r[3]) for r in runs] == [("tiny", as_of, len(profile))]
    assert runs[0][1].day == 1 and runs[0][1].month == int(as_of[5:7])
    assert rows["customer_id"].tolist() == sorted(profile["customer_id"].astype(str))
    assert rows.set_index("customer_id")["segment"].to_dict() == profile.set_index("customer_id")["segment"].to_dict()
    assert rows["cluster"].notna().all() and revenue == pytest.approx(result.kpis["revenue"])


def test_a_history_that_cannot_be_written_leaves_the_report_good(en_run, tmp_path, monkeypatch):
    from segkit.monthly.history import history_path
    from segkit.report import runner

    params, done = en_run  # its notebooks replayed: the rest of the run is real
    monkeypatch.setattr(runner, "execute_notebook", replaying(done.folder, []))
    reports = tmp_path / "reports"
    history_path(reports).mkdir(parents=True)  # a folder where the history file should be
    said = []
    result = run_report(params, reports_dir=reports, pdf=False, progress=said.append)
    assert (result.folder / "index.html").is_file() and result.history
    assert any("was not updated" in line and "next run will show this month as missing" in line for line in said)
    assert result.kpis == done.kpis


def test_a_notebook_reruns_alone_from_the_saved_outputs(en_run, tmp_path):
    from conftest import run_segkit

    params_path, result = en_run
    data = tmp_path / "data"
    shutil.copytree(result.folder / "data", data)
    (data / "clusters.parquet").unlink()
    done = run_segkit("run", "04_clustering", "--params", str(params_path), "--data-dir", str(data),
                      "--set", "cluster.k_max=3")
    assert done.returncode == 0, done.stderr
    assert (data / "clusters.parquet").is_file()
    assert (tmp_path / "executed" / "04_clustering.ipynb").is_file()
    assert not (data / ".run.json.lock").exists()  # as a report leaves its data folder
    missing = tmp_path / "empty"
    failed = run_segkit("run", "02_rfm", "--params", str(params_path), "--data-dir", str(missing))
    assert failed.returncode == 2
    assert "features.parquet is missing: run notebook 01_cleaning first" in failed.stderr


def test_a_customer_table_source_runs_end_to_end(tmp_path, monkeypatch):
    """The shipped customer-level example (one row per customer): its own intake page, no customer-value
    page, the later notebooks unchanged, the sections that need transactions named."""
    import shutil as _shutil

    from segkit.report.pages import CUSTOMER_TABLE_NOTEBOOKS
    from segkit.report.schedule import NEEDS, needs
    from stage_log import stage_conflicts, stage_logs

    for name in ("customers-example.yaml", "customers-example.csv"):
        _shutil.copy(ROOT / "params" / name, tmp_path / name)
    monkeypatch.setenv("SEGKIT_STAGE_LOG_DIR", str(tmp_path))  # what each notebook reads and writes
    before = Path.cwd()
    # two notebooks at a time where their needs allow (the shared reports run them one at a time)
    result = run_report(tmp_path / "customers-example.yaml", overrides=["report.notebooks_at_once=2"],
                        reports_dir=tmp_path / "reports", pdf=False)
    assert Path.cwd() == before  # papermill moves the whole process: the runner must not let it
    logs = stage_logs(tmp_path)
    assert sorted(logs) == sorted(CUSTOMER_TABLE_NOTEBOOKS)
    assert stage_conflicts(logs, CUSTOMER_TABLE_NOTEBOOKS, NEEDS) == []  # its notebooks side by side, safely
    spans = {}
    for name in CUSTOMER_TABLE_NOTEBOOKS:
        meta = json.loads((result.folder / "executed" / f"{name}.ipynb").read_text(encoding="utf-8"))["metadata"]
        spans[name] = tuple(dt.datetime.fromisoformat(meta["papermill"][k]) for k in ("start_time", "end_time"))
    assert spans["02_rfm"][0] < spans["04_clustering"][1] and spans["04_clustering"][0] < spans["02_rfm"][1]
    for name, wanted in needs(CUSTOMER_TABLE_NOTEBOOKS).items():  # none started before its needs ended
        assert all(spans[n][1] <= spans[name][0] for n in wanted), name
    pages = {name: (result.folder / f"{name}.html").read_text(encoding="utf-8") for name in CUSTOMER_TABLE_NOTEBOOKS}
    assert not (result.folder / "03_customer_value.html").exists()
    intake = pages["01_customer_table"]
    assert "one row per customer, not one row per purchase" in intake and "source_kind" not in intake
    index = (result.folder / "index.html").read_text(encoding="utf-8")
    assert re.findall(r'<li><a href="([^"]+)\.html">', index) == list(CUSTOMER_TABLE_NOTEBOOKS)
    ledger = pd.read_parquet(result.folder / "data" / "ledger.parquet")
    features = pd.read_parquet(result.folder / "data" / "features.parquet")
    raw = pd.read_csv(tmp_path / "customers-example.csv", dtype=str)
    assert ledger["rows"].sum() == len(raw)  # every row of the table accounted for
    assert len(features) == ledger.loc[ledger.outcome != "set_aside", "rows"].sum()
    assert shown_kpis(index)["customers"] == f"{len(features):,}"
    assert "Champions" in pages["08_case_study"] and result.history is None
    assert "the data are one row per customer, so there are no purchases over time" in pages["05_evaluation"]


def test_a_customer_table_with_spend_only_finishes_and_says_what_it_cannot_do(tmp_path):
    """The 'mall customers' layout: id, gender, age, income and a spending score; no recency, no order count."""
    write_mall_table(tmp_path / "mall.csv")
    (tmp_path / "mall.yaml").write_text(
        "run_name: mall\nsource:\n  kind: customers\n  customers:\n    path: mall.csv\n"
        '    columns: {customer_id: CustomerID, revenue: "Spending Score (1-100)", age: Age, gender: Gender}\n'
        "dimensions: [gender]\n", encoding="utf-8")
    result = run_report(tmp_path / "mall.yaml", reports_dir=tmp_path / "reports", pdf=False)
    clustering = (result.folder / "04_clustering.html").read_text(encoding="utf-8")
    assert "Clustering is skipped: the data give no recency_days, orders for any customer" in clustering
    rfm = (result.folder / "02_rfm.html").read_text(encoding="utf-8")
    assert "cannot tell customers apart" in rfm and "No customer is called Champion or Loyal" in rfm
    kpis = shown_kpis((result.folder / "index.html").read_text(encoding="utf-8"))
    assert kpis["clusters"] == "—" and kpis["orders"] == "—"  # no order count in the table: not "0"
    # recency cannot tell these customers apart: no group sentence claims who bought recently or long ago
    case_study = (result.folder / "08_case_study.html").read_text(encoding="utf-8")
    assert "cannot tell these customers apart" in case_study
    assert "recent big spenders" not in case_study and "have not bought for a long time" not in case_study


def test_a_notebook_alone_refuses_a_finished_reports_data_folder_without_force(tmp_path):
    """Run alone in a finished report's data/, a notebook would rewrite stage files under the report's pages,
    manifest checksums and exports: refused with what to do, and nothing written."""
    from conftest import run_segkit

    report = tmp_path / "reports" / "demo"
    (report / "data").mkdir(parents=True)
    (report / "manifest.json").write_text("{}", encoding="utf-8")
    (report / "data" / "features.parquet").write_bytes(b"as the report wrote it")
    refused = run_segkit("run", "02_rfm", "--params", str(ROOT / "params" / "demo.yaml"), "--data-dir",
                         str(report / "data"))
    assert refused.returncode == 2
    assert "finished report" in refused.stderr and "--force" in refused.stderr and "Traceback" not in refused.stderr
    assert sorted(p.name for p in report.rglob("*")) == ["data", "features.parquet", "manifest.json"]
