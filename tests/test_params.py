import datetime as dt

import pytest

from segkit.errors import ParamsError
from segkit.params import load_params

from conftest import ROOT


def write(tmp_path, text):
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["demo.yaml", "demo-zh.yaml", "cdnow.yaml"])
def test_shipped_params_load(name):
    params = load_params(ROOT / "params" / name)
    assert params.rfm.bins == 5
    assert params.source.kind in {"demo", "cdnow"}


def test_unknown_key_names_file_key_and_suggestion(tmp_path):
    path = write(tmp_path, "rfm:\n  binz: 4\n")
    with pytest.raises(ParamsError) as err:
        load_params(path)
    message = str(err.value)
    assert str(path) in message
    assert "unknown key 'rfm.binz'" in message
    assert "did you mean 'rfm.bins'" in message


def test_out_of_range_states_the_allowed_range_and_value(tmp_path):
    with pytest.raises(ParamsError, match=r"rfm.bins must be an integer from 2 to 10, got 12"):
        load_params(write(tmp_path, "rfm:\n  bins: 12\n"))


def test_wrong_type_and_wrong_choice(tmp_path):
    with pytest.raises(ParamsError, match=r"rfm.bins: .*integer.*'five'"):
        load_params(write(tmp_path, "rfm:\n  bins: five\n"))
    with pytest.raises(ParamsError, match=r"lang must be one of 'en' or 'zh', got 'fr'"):
        load_params(write(tmp_path, "lang: fr\n"))


def test_all_errors_are_reported_at_once(tmp_path):
    with pytest.raises(ParamsError) as err:
        load_params(write(tmp_path, "lang: fr\nrfm:\n  bins: 1\n"))
    assert "lang" in str(err.value) and "rfm.bins" in str(err.value)


def test_overrides_are_typed_and_validated(tmp_path):
    path = write(tmp_path, "rfm:\n  bins: 5\n")
    assert load_params(path, ["rfm.bins=4"]).rfm.bins == 4
    assert load_params(path, ["case_study.top_share=0.1"]).case_study.top_share == 0.1
    with pytest.raises(ParamsError, match="did you mean 'cluster.k_max'"):
        load_params(path, ["cluster.kmax=4"])
    with pytest.raises(ParamsError, match="write key=value"):
        load_params(path, ["rfm.bins"])


def test_month_gives_the_last_day_and_excludes_as_of(tmp_path):
    params = load_params(write(tmp_path, "month: 2024-02\n"))
    assert params.as_of_date == dt.date(2024, 2, 29)
    with pytest.raises(ParamsError, match="not both"):
        load_params(write(tmp_path, "month: 2024-02\nas_of: 2024-01-31\n"))
    with pytest.raises(ParamsError, match="month has the wrong form"):
        load_params(write(tmp_path, "month: 2024-13\n"))


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ParamsError, match="no such params file"):
        load_params(tmp_path / "nope.yaml")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(write(tmp_path, "rfm: [\n"))


def test_database_password_never_sits_in_params(tmp_path, monkeypatch):
    text = "source:\n  kind: database\n  database:\n    url: postgresql://ana:secret@db.local/shop\n"
    with pytest.raises(ParamsError, match="password_env"):
        load_params(write(tmp_path, text))
    text = ("source:\n  kind: database\n  database:\n    url: postgresql://ana@db.local:5433/shop\n"
            "    password_env: SHOP_DB_PASSWORD\n")
    params = load_params(write(tmp_path, text))
    with pytest.raises(ParamsError, match="SHOP_DB_PASSWORD, which is not set"):
        params.source.database.resolved_url()
    monkeypatch.setenv("SHOP_DB_PASSWORD", "s3cr3t-pw")
    assert params.source.database.resolved_url() == "postgresql://ana:s3cr3t-pw@db.local:5433/shop"
    assert "s3cr3t-pw" not in params.model_dump_json()


def test_column_map_naming_a_column_twice_is_refused(tmp_path):
    text = ("source:\n  kind: file\n  transactions:\n    path: x.csv\n"
            "    columns: {customer_id: 客户ID, order_id: 客户ID, amount: 金额, ordered_at: 下单时间}\n")
    with pytest.raises(ParamsError, match='column "客户ID" is mapped twice'):
        load_params(write(tmp_path, text))


def test_run_name_cannot_point_outside_the_reports_folder(tmp_path):
    for name in (".", "..", ".hidden"):
        with pytest.raises(ParamsError, match="run_name has the wrong form"):
            load_params(write(tmp_path, f"run_name: '{name}'\n"))


def test_run_name_cannot_take_the_runners_own_suffixes_or_exceed_100_characters(tmp_path):
    for name in ("k.failed", "K.FAILED", "k.tmp", "k.lock", "k.old"):
        with pytest.raises(ParamsError, match="may not end in"):
            load_params(write(tmp_path, f"run_name: '{name}'\n"))
    with pytest.raises(ParamsError, match="run_name"):
        load_params(write(tmp_path, f"run_name: {'a' * 101}\n"))
    assert load_params(write(tmp_path, "run_name: failed-runs.2026\n")).run_name == "failed-runs.2026"


def test_currency_and_amount_ceiling(tmp_path):
    p = load_params(write(tmp_path, "currency: {code: GBP, symbol: '£', minor_unit: 2}\n"))
    assert (p.currency.code, p.currency.symbol, p.currency.minor_unit) == ("GBP", "£", 2)
    assert load_params(write(tmp_path, "run_name: x\n")).cleaning.max_amount == 1e12
    for bad in ("currency: {code: pounds}", "currency: {minor_unit: 7}", "cleaning: {max_amount: 0}"):
        with pytest.raises(ParamsError):
            load_params(write(tmp_path, bad + "\n"))


def test_a_password_is_never_echoed_nor_hidden_in_the_query(tmp_path):
    text = "source:\n  kind: database\n  database: postgresql://bob:s3cret@db.example/shop\n"
    with pytest.raises(ParamsError) as err:
        load_params(write(tmp_path, text))
    assert "s3cret" not in str(err.value) and "source.database" in str(err.value)
    text = "source:\n  kind: database\n  database:\n    url: postgresql://bob@db.example/shop?password=s3cret\n"
    with pytest.raises(ParamsError) as err:
        load_params(write(tmp_path, text))
    assert "password_env" in str(err.value) and "s3cret" not in str(err.value)


def test_did_you_mean_inside_list_items_and_mappings(tmp_path):
    text = "tags:\n  - {name: x, en: X, zh: 叉, whn: 'orders > 1'}\n"
    with pytest.raises(ParamsError, match=r"unknown key 'tags.0.whn'; did you mean 'tags.0.when'\? \(allowed here: en, name, when, zh\)"):
        load_params(write(tmp_path, text))
    with pytest.raises(ParamsError, match=r"did you mean 'strategies.champions.en'"):
        load_params(write(tmp_path, "strategies:\n  champions: {eng: VIP}\n"))
