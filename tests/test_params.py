import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest

from segkit.errors import ParamsError
from segkit.params import load_params, validate_params

from conftest import ROOT, write_params


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
    monkeypatch.setenv("SHOP_DB_PASSWORD", "")  # `export SHOP_DB_PASSWORD=` without its value
    with pytest.raises(ParamsError, match="SHOP_DB_PASSWORD, which is set but empty"):
        params.source.database.resolved_url()
    monkeypatch.setenv("SHOP_DB_PASSWORD", "s3cr3t-pw")
    assert params.source.database.resolved_url() == "postgresql://ana:s3cr3t-pw@db.local:5433/shop"
    assert "s3cr3t-pw" not in params.model_dump_json()


@pytest.mark.parametrize("line, said", [
    ("tabel: orders", "unknown key 'source.database.tabel'; did you mean 'source.database.table'?"),
    ("query: SELECT * FROM shop.orders", "unknown key 'source.database.query'; segkit reads a table or a view: create a view"),
    ('table: "(SELECT * FROM reporting.order_lines) AS q"', "table must name a table or a view (table, or schema.table), not a query"),
    ("table: select * from orders", "table must name a table or a view"),
    ("customers: {table: \"(SELECT 1) AS c\"}", "table must name a table or a view"),
])
def test_a_database_key_mistyped_or_a_query_for_a_table_says_what_to_write(tmp_path, line, said):
    # a key's name is no secret: its mistake is said as anywhere in the params (it said only "extra inputs are
    # not permitted"); a query written for the table passed `check` and failed with "no table ... (tables there: none)"
    text = f"source:\n  kind: database\n  database:\n    url: postgresql://ana@db.local/shop\n    {line}\n"
    with pytest.raises(ParamsError) as err:
        load_params(write(tmp_path, text))
    assert said in str(err.value)
    text = "source:\n  kind: database\n  database:\n    url: postgresql://ana@db.local/shop\n    table: My Orders\n"
    assert load_params(write(tmp_path, text)).source.database.table == "My Orders"  # a quoted name with a blank


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
    for bad in ("currency: {code: pounds}", "currency: {minor_unit: 7}", "cleaning: {max_amount: 0}",
                "{currency: {minor_unit: 4}, cleaning: {max_amount: 1.0e+15}}"):
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
    with pytest.raises(ParamsError, match=r"unknown key 'tags\[0\].whn'; did you mean 'tags\[0\].when'\? \(allowed here: en, name, when, zh\)"):
        load_params(write(tmp_path, text))
    with pytest.raises(ParamsError, match=r"did you mean 'strategies.champions.en'"):
        load_params(write(tmp_path, "strategies:\n  champions: {eng: VIP}\n"))


# -- bounded params: nothing a params file or an override holds can hang, exhaust or traceback ------

LAUGHS = "\n".join(
    ["run_name: x", "rfm:", "  custom_maps:", '    lol: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"    l{i}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)]
) + "\n"


def run_check(path, *extra):
    """`segkit check` in this process: (exit code, everything it printed)."""
    from typer.testing import CliRunner

    from segkit.cli import app

    result = CliRunner().invoke(app, ["check", "--params", str(path), *extra])
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_a_billion_laughs_is_refused_at_once_by_load_and_by_check(tmp_path):
    import time

    path = write(tmp_path, LAUGHS)
    assert len(LAUGHS.encode()) < 1000
    start = time.perf_counter()
    with pytest.raises(ParamsError, match=r"p.yaml: the aliases expand to more than 100,000 values"):
        load_params(path)
    assert time.perf_counter() - start < 2
    exe = Path(sys.executable).with_name("segkit")  # a process of its own, so that a hang fails the test
    done = subprocess.run([str(exe), "check", "--params", str(path)], capture_output=True, text=True, timeout=30)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "aliases expand to more than" in done.stderr and done.stdout == ""


def test_too_many_aliases_deep_nesting_and_cycles_each_give_one_message(tmp_path):
    many = "a: &a 1\nb: [" + ", ".join(["*a"] * 101) + "]\n"
    with pytest.raises(ParamsError, match=r"p.yaml line 2: more than 100 aliases"):
        load_params(write(tmp_path, many))
    assert load_params(write(tmp_path, "x: &a 5\nrfm: {bins: *a}\n".replace("x: &a 5\n", "cluster: {k_max: &a 5}\n"))).rfm.bins == 5
    with pytest.raises(ParamsError, match=r"p.yaml line 1: nested more than 64 levels deep"):
        load_params(write(tmp_path, "rfm: " + "[" * 10_000 + "\n"))
    with pytest.raises(ParamsError, match=r"p.yaml line 1: nested more than 64 levels deep"):
        load_params(write(tmp_path, "rfm: " + "{a: " * 100 + "1" + "}" * 100 + "\n"))
    chain = "".join(f"l{i}: &x{i} [" + (f"*x{i - 1}" if i else "1") + "]\n" for i in range(80))
    with pytest.raises(ParamsError, match="more than 64 levels deep once the aliases are expanded"):
        load_params(write(tmp_path, chain))
    with pytest.raises(ParamsError, match=r"p.yaml line 1: an alias refers to the value that holds it"):
        load_params(write(tmp_path, "x: &a [1, *a]\n"))


@pytest.mark.parametrize("text, says", [
    ("cleaning:\n  duplicates: drop\nrfm:\n  bins: 4\ncleaning:\n  duplicates: keep\n", "lines 1 and 5: the key 'cleaning'"),
    ("run_name: a\nrun_name: b\n", "lines 1 and 2: the key 'run_name'"),
    ("rfm:\n  bins: 4\n  bins: 5\n", "lines 2 and 3: the key 'bins'"),
    ("rfm: {bins: 4, bins: 5}\n", "line 1: the key 'bins'"),
    ("x:\n  yes: 1\n  true: 2\n", "lines 2 and 3: the key 'true'"),  # equal as YAML reads them
    ("x: {1: a, 01: b}\n", "line 1: the key '01'"),
    ("x: {~: a, null: b}\n", "line 1: the key 'null'"),
])
def test_a_key_given_twice_is_refused_not_the_last_one_kept(tmp_path, text, says):
    """YAML keeps the last of two equal keys: a second `cleaning:` block at the end of a file would
    silently drop the whole first one (its returns' status values among them)."""
    with pytest.raises(ParamsError, match=re.escape(says) + ".*given twice"):
        load_params(write(tmp_path, text))


def test_merge_keys_and_equal_keys_in_different_blocks_are_fine(tmp_path):
    from segkit.params import load_yaml

    merged = load_yaml("a: &b {bins: 4}\nrfm:\n  <<: *b\n  <<: *b\n", "p.yaml")
    assert merged["rfm"] == {"bins": 4}
    assert load_yaml("x: {1: a, '1': b}\n", "p.yaml")["x"] == {1: "a", "1": "b"}  # two keys: a number, a text
    assert load_params(write(tmp_path, "rfm:\n  bins: 4\ncluster:\n  k_min: 4\n")).cluster.k_min == 4


def test_a_large_file_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("# " + "x" * 1_000_100 + "\n", encoding="utf-8")
    with pytest.raises(ParamsError, match=r"p.yaml: larger than 1,000,000 bytes, too large for a params file"):
        load_params(path)


@pytest.mark.parametrize("text, says", [
    ("rfm:\n  bins: " + "9" * 5000 + "\n", r"p.yaml line 2, column 9: not valid YAML: a number of 5,000 digits"),
    ("as_of: 2024-02-30\n", r"p.yaml line 1, column 8: not valid YAML: '2024-02-30' is not a valid timestamp"),
    ("as_of: 2024-13-01\n", r"line 1, column 8: .* is not a valid timestamp \(month must be in 1..12\)"),
    ("rfm: {bins: !!int abc}\n", r"line 1, column 13: .*'abc' is not a valid int"),
    ("rfm: {bins: !!timestamp x}\n", r"'x' is not a valid timestamp"),
    ("rfm: {bins: !!bool x}\n", r"'x' is not a valid bool"),
    ("x: !!python/object/apply:os.system ['true']\n", r"line 1, column 4: not valid YAML: could not determine a constructor"),
    ("rfm: [\n", r"p.yaml line 2, column 1: not valid YAML: while parsing a flow node, expected the node content"),
    ("a: 1\n---\nb: 2\n", r"line 2, column 1: not valid YAML: expected a single document in the stream, but found another"),
])
def test_yaml_that_python_cannot_build_is_one_message_with_its_line(tmp_path, text, says):
    with pytest.raises(ParamsError, match=says) as err:
        load_params(write(tmp_path, text))
    assert len(str(err.value)) < 500 and "\n" not in str(err.value)


def test_a_params_file_saved_as_gbk_says_where_and_to_save_as_utf8(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_bytes("run_name: demo\n# 客户分群\nlang: zh\n".encode("gbk"))
    with pytest.raises(ParamsError, match=r"p.yaml line 2, byte 3: the file is not UTF-8 \(byte 0xbf\); it looks "
                                          r"like GBK/GB18030 .* save it as UTF-8"):
        load_params(path)
    path.write_bytes("\ufeffrun_name: 带BOM\n".encode("utf-8").replace("带BOM".encode(), b"bom"))
    assert load_params(path).run_name == "bom"  # a UTF-8 BOM (Windows Notepad) is fine


@pytest.mark.parametrize("text, kind", [("- a\n- b\n", "list"), ("just text\n", "str"), ("42\n", "int")])
def test_a_params_file_that_is_not_a_mapping_says_so(tmp_path, text, kind):
    with pytest.raises(ParamsError, match=rf"p.yaml: the top level must be a mapping of keys .*got a {kind}$"):
        load_params(write(tmp_path, text))


def test_a_folder_or_a_device_as_params_path_is_one_message(tmp_path):
    (tmp_path / "monthly.yaml").write_text("run_name: m\n", encoding="utf-8")
    with pytest.raises(ParamsError, match=r"is a folder, not a params file; give the .yaml file \(YAML files there: monthly.yaml\)"):
        load_params(tmp_path)
    with pytest.raises(ParamsError, match="not a regular file"):
        load_params("/dev/zero")  # never read: it has no end


def test_long_values_are_cut_in_messages(tmp_path):
    long = "x" * 100_000
    for text in (f"lang: {long}\n", f"month: '{long}'\n", f"rfm: {{bins: '{long}'}}\n", f"? {long}\n: 1\n",
                 f"rfm: {{bins: [{', '.join(['1'] * 5000)}]}}\n", f"cleaning: {{decimal: {{a: [{long}]}}}}\n"):
        with pytest.raises(ParamsError) as err:
            load_params(write(tmp_path, text))
        message = str(err.value)
        assert len(message) < 1000 and ("…" in message or "..." in message), message[:300]


def test_many_errors_are_listed_up_to_ten(tmp_path):
    text = "".join(f"unknown{i}: 1\n" for i in range(500))
    with pytest.raises(ParamsError) as err:
        load_params(write(tmp_path, text))
    assert str(err.value).count("unknown key") == 10 and str(err.value).endswith("and 490 more")


# -- password_env names a variable; a password written there is never echoed -------------------------

@pytest.mark.parametrize("value", ["hunter2!x", "s3cr3t pass", "9LIVES", "pa$$w0rd", "x" * 300])
def test_password_env_must_name_a_variable_and_is_never_echoed(tmp_path, value, monkeypatch):
    monkeypatch.setenv("SHOP_DB_PASSWORD", "set")  # check says when the variable is not set
    text = (f"source:\n  kind: database\n  database:\n    url: postgresql://bob@db.example/shop\n"
            f"    password_env: '{value}'\n")
    path = write(tmp_path, text)
    with pytest.raises(ParamsError, match=r"source.database.password_env must be the name of an environment "
                                          r"variable .*value not shown") as err:
        load_params(path)
    assert value not in str(err.value) and value[:6] not in str(err.value)
    code, output = run_check(path)
    assert code == 2 and "password_env must be the name" in output and value not in output
    code, output = run_check(write(tmp_path, "run_name: x\n"), "--set", f"source.database.password_env={value}",
                             "--set", "source.kind=database", "--set", "source.database.url=postgresql://b@h/d")
    assert code == 2 and "password_env must be the name" in output and value not in output
    code, output = run_check(write(tmp_path, text.replace(value, "SHOP_DB_PASSWORD")))
    assert code == 0 and '"password_env": "SHOP_DB_PASSWORD"' in output  # a name is shown: it is no secret


def test_a_url_port_that_is_a_password_is_not_echoed(tmp_path):
    text = "source:\n  kind: database\n  database:\n    url: postgresql://bob:s3cretpw\n"
    with pytest.raises(ParamsError, match="port is not a number") as err:
        load_params(write(tmp_path, text))
    assert "s3cretpw" not in str(err.value)


# -- database url options ------------------------------------------------------------------------------

def db_params(tmp_path, query):
    return load_params(write(tmp_path, f"source:\n  kind: database\n  database:\n"
                                       f"    url: 'postgresql://bob@db.example:5433/shop?{query}'\n"))


def test_url_options_reach_the_connection_arguments(tmp_path):
    params = db_params(tmp_path, "sslmode=require&application_name=segkit%20monthly&connect_timeout=3"
                                 "&options=-c%20statement_timeout%3D5000&sslrootcert=/etc/ca.pem")
    args = params.source.database.connection_args()
    assert args == {"host": "db.example", "port": 5433, "user": "bob", "database": "shop", "sslmode": "require",
                    "application_name": "segkit monthly", "connect_timeout": "3",
                    "options": "-c statement_timeout=5000", "sslrootcert": "/etc/ca.pem"}


@pytest.mark.parametrize("query, says", [
    ("foo=1", r"url option 'foo' is not a connection option; allowed: application_name, .*sslmode"),
    ("sslmode=required", r"url option sslmode must be one of disable, allow, prefer, require, verify-ca, "
                         r"verify-full, got 'required'"),
    ("connect_timeout=soon", r"url option connect_timeout must be a whole number"),
    ("sslmode=require&sslmode=disable", r"url option 'sslmode' is given twice"),
    ("sslmode", r"url option 'sslmode' has no value"),
    ("host=other", r"url option 'host' goes in the url itself"),
    ("sslpassword=abc", r"the url holds a password"),
])
def test_unknown_or_malformed_url_options_are_refused_by_name(tmp_path, query, says):
    with pytest.raises(ParamsError, match=says) as err:
        db_params(tmp_path, query)
    assert "abc" not in str(err.value)


def test_an_option_name_that_may_be_a_secret_is_not_echoed(tmp_path):
    with pytest.raises(ParamsError, match=r"url option \(name not shown\) has no value") as err:
        db_params(tmp_path, "Tr0ub4dor&3=1")
    assert "Tr0ub4dor" not in str(err.value)


# -- overrides ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("override, says", [
    ("rfm.bins=*x", r"--set rfm.bins line 1, column 1: not valid YAML: found undefined alias"),
    ("rfm.bins=" + "[" * 5000, r"--set rfm.bins line 1: nested more than 64 levels deep"),
    ("rfm.bins=" + "9" * 5000, r"--set rfm.bins line 1, column 1: not valid YAML: a number of 5,000 digits"),
    ("rfm bins=4", r"--set 'rfm bins': the key must be dotted names"),
    ("rfm..bins=4", r"the key must be dotted names"),
    ("tags.7.when=orders > 1", r"--set 'tags.7.when': '7' is not an item of the list there \(items 0 to 0\)"),
    ("=4", r"write key=value"),
    ("dimensions.0.x.y=1", r"--set 'dimensions.0.x.y': reaches inside 'region', which is a single value"),
    ("dimensions.0.x=1", r"reaches inside 'region', which is a single value"),
])
def test_odd_overrides_are_one_message(tmp_path, override, says):
    path = write(tmp_path, "tags:\n  - {name: t, en: T, zh: 标, when: 'orders > 1'}\ndimensions: [region]\n")
    with pytest.raises(ParamsError, match=says):
        load_params(path, [override])


@pytest.mark.parametrize("override, says", [
    ("rfm.binz=3", r"^--set rfm\.binz=3: unknown key 'rfm\.binz'; did you mean 'rfm\.bins'\?"),
    ("rfm.bins=abc", r"^--set rfm\.bins=abc: rfm\.bins: input should be a valid integer"),
    ("rfm.bins=12", r"^--set rfm\.bins=12: rfm\.bins must be an integer from 2 to 10, got 12$"),
    ("rfm={bins: 12}", r"^--set rfm=\{bins: 12\}: rfm\.bins must be an integer from 2 to 10, got 12$"),
    ("rfm.segment_map=rfm12", r"^--set rfm\.segment_map=rfm12: segment map 'rfm12' does not exist"),
    ("source.kind=spark", r"^--set source\.kind=spark: source: kind 'spark' needs source\.spark"),
    ("tags.0.when=orderz > 1", r"^--set tags\.0\.when=orderz > 1: tags\[0\] \(t\)\.when: unknown feature 'orderz'"),
])
def test_an_error_an_override_makes_names_the_override_not_the_file(tmp_path, override, says):
    """`segkit check --params params/demo.yaml --set rfm.binz=3` said `params/demo.yaml: unknown key`."""
    path = write(tmp_path, "tags:\n  - {name: t, en: T, zh: 标, when: 'orders > 1'}\n")
    with pytest.raises(ParamsError, match=says):
        load_params(path, [override])


def test_an_override_given_as_a_mapping_is_named_too(tmp_path):
    with pytest.raises(ParamsError, match=r"^--set rfm\.binz=3: unknown key 'rfm\.binz'"):
        load_params(write(tmp_path, "run_name: x\n"), {"rfm.binz": 3})


def test_the_file_and_each_override_are_named_for_their_own_problems(tmp_path):
    path = write(tmp_path, "lang: fr\nrfm:\n  bins: 12\n")
    with pytest.raises(ParamsError) as err:
        load_params(path, ["rfm.bins=4", "cluster.k_max=99", "case_study.top_share=0.1"])
    assert str(err.value).startswith(f"{path}: lang must be one of 'en' or 'zh', got 'fr'; --set cluster.k_max=99: "
                                     "cluster.k_max must be")
    assert "rfm.bins" not in str(err.value) and "top_share" not in str(err.value)
    with pytest.raises(ParamsError, match=rf"^{re.escape(str(path))}: lang must be one of 'en' or 'zh', got 'fr'$"):
        load_params(path, ["rfm.bins=4"])  # the problem of the file the override leaves: the file's
    # a rule over several keys that fails by the override names it
    spark = write(tmp_path, "source:\n  kind: spark\n  spark: {master: 'local[2]', path: x.parquet}\n")
    with pytest.raises(ParamsError, match=r"^--set source\.spark\.existing=true: source\.spark: give either master"):
        load_params(spark, ["source.spark.existing=true"])


def test_check_names_the_override_a_problem_came_from():
    code, output = run_check(ROOT / "params" / "demo.yaml", "--set", "rfm.binz=3")
    assert code == 2 and "error: --set rfm.binz=3: unknown key 'rfm.binz'" in output and "demo.yaml" not in output


def test_an_override_of_a_secret_is_named_without_its_value(tmp_path):
    with pytest.raises(ParamsError) as err:
        load_params(write(tmp_path, "run_name: x\n"), ["source.kind=database", "source.database.url=postgresql://h/d",
                                                       "source.database.password_env=hunter2!x"])
    assert "--set source.database.password_env=(value not shown): " in str(err.value)
    assert "hunter2" not in str(err.value)


def test_an_override_reaches_into_a_list_by_position(tmp_path):
    path = write(tmp_path, "tags:\n  - {name: t, en: T, zh: 标, when: 'orders > 1'}\n")
    assert load_params(path, ["tags.0.when=orders > 5"]).tags[0].when == "orders > 5"


# -- fuzz: any params text or structure loads or is one ParamsError --------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_KEYS = st.sampled_from(["run_name", "lang", "month", "as_of", "source", "kind", "database", "url", "password_env",
                         "transactions", "path", "encoding", "columns", "rfm", "bins", "method", "cuts",
                         "recency_days", "custom_maps", "tags", "name", "when", "en", "zh", "strategies",
                         "champions", "tiers", "monetary", "quantiles", "ranking", "weights", "cluster", "k_min",
                         "currency", "code", "cleaning", "outliers", "threshold", "0", "x"])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30), st.floats(allow_nan=True),
                     st.text(max_size=20), st.sampled_from(["postgresql://a@h/d?sslmode=require", "demo", "file",
                                                             "database", "orders > 1", "2024-01", "utf-9"]))
_TREES = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(_KEYS, inner, max_size=4)), max_leaves=25)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_KEYS, _TREES, max_size=5))
def test_any_structure_validates_or_raises_one_params_error(raw):
    from segkit.params import validate_params

    try:
        validate_params(raw)
    except ParamsError as err:
        assert len(str(err)) < 5000


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(max_size=200), st.lists(st.sampled_from(
    ["rfm:", " bins:", " 4", "\n", "  ", "- ", "[", "]", "{", "}", ": ", "&a ", "*a", "!!int ", "!!timestamp ",
     "<<: ", "? ", "'", '"', "2024-13-01", "9" * 50, "#", "---", "...", "%YAML 1.1", "!x ", "|", ">", "\t",
     "\x00", "\ufeff", "as_of:", "tags:", "when:"]), max_size=30).map("".join)))
def test_any_text_loads_or_raises_one_params_error(tmp_path, text):
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_params(path)
    except ParamsError as err:
        assert len(str(err)) < 5000


def test_a_long_list_of_tags_is_refused_with_the_count_not_the_list(tmp_path):
    from segkit.params import validate_params

    tags = [{"name": f"t{i}", "en": "T", "zh": "标", "when": "orders > 1"} for i in range(300)]
    with pytest.raises(ParamsError, match=r"^params: tags may hold at most 200 items, got 300$"):
        validate_params({"tags": tags})


@pytest.mark.parametrize("text, says", [
    ("cluster: {random_state: -1}\n", r"cluster.random_state must be an integer from 0 to 4294967295, got -1"),
    ("evaluate: {random_state: 4294967296}\n", r"evaluate.random_state must be an integer from 0 to 4294967295"),
    ("source: {demo: {seed: -5}}\n", r"source.demo.seed must be an integer from 0 to 4294967295"),
    ("rfm: {method: fixed, cuts: {recency_days: [.nan, .nan], orders: [1, 2], revenue: [1, 2]}}\n",
     r"rfm.cuts.recency_days\[0\]: input should be a finite number, got nan"),
    ("satisfaction: {very_satisfied: .inf}\n", r"satisfaction.very_satisfied: input should be a finite number"),
    ("ranking: {weights: {amount: .inf}}\n", r"ranking.weights.amount: input should be a finite number"),
])
def test_numbers_that_fail_later_are_refused_at_load(tmp_path, text, says):
    # seeds outside numpy's range and NaN/infinity used to pass the check and fail inside a notebook
    with pytest.raises(ParamsError, match=says):
        load_params(write(tmp_path, text))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.text(max_size=30), st.builds(
    lambda k, v: f"{k}={v}", st.lists(_KEYS, min_size=1, max_size=4).map(".".join),
    st.one_of(st.text(max_size=20), st.sampled_from(["[", "*a", "&a 1", "{a: [1", "9" * 5000, "!!int x", "- 1",
                                                     "2024-13-40", ".nan", "a: b: c", "~"])))), max_size=4))
def test_any_overrides_load_or_raise_one_params_error(tmp_path, overrides):
    path = write(tmp_path, "tags:\n  - {name: t, en: T, zh: 标, when: 'orders > 1'}\ndimensions: [region]\n")
    try:
        load_params(path, overrides)
    except ParamsError as err:
        assert len(str(err)) < 5000


def test_an_empty_params_file_is_refused_not_read_as_the_defaults(tmp_path):
    for text in ("", "\n\n", "# only a comment\n"):
        with pytest.raises(ParamsError, match="the params file is empty"):
            load_params(write(tmp_path, text))


def test_the_tie_threshold_is_bounded_and_fallback_segments_may_have_strategies(tmp_path):
    assert load_params(write(tmp_path, "rfm:\n  max_tied_share: 0.9\n")).rfm.max_tied_share == 0.9
    for bad in ("0.5", "1.2"):
        with pytest.raises(ParamsError, match="max_tied_share"):
            load_params(write(tmp_path, f"rfm:\n  max_tied_share: {bad}\n"))
    # the recency x spend grid (rm6) a run falls back to: its segments may get their own action text
    params = load_params(write(tmp_path, "strategies:\n  recent_big_spenders: {en: Call them, zh: 致电}\n"))
    assert "recent_big_spenders" in params.strategies
    with pytest.raises(ParamsError, match="not a segment"):
        load_params(write(tmp_path, "strategies:\n  big_spenders: {en: Call them, zh: 致电}\n"))


def test_a_currency_code_must_be_one_iso_4217_knows():
    from segkit.params import Currency

    assert Currency(code="CNY").code == "CNY" and Currency(code="JPY", minor_unit=0).minor_unit == 0
    with pytest.raises(ValueError, match="XYZ is not an ISO 4217 currency code"):
        Currency(code="XYZ")
    with pytest.raises(ValueError, match="did you mean .*CNY"):
        Currency(code="CYN")


def test_a_password_variable_that_is_not_set_is_said_by_check_and_before_a_report_starts(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from segkit.cli import app
    from segkit.report.runner import run_report

    monkeypatch.delenv("SHOP_DB_PASSWORD", raising=False)
    params = write(tmp_path, "source:\n  kind: database\n  database:\n    url: postgresql://ana@db.local:5433/shop\n"
                             "    password_env: SHOP_DB_PASSWORD\n    table: orders\n")
    checked = CliRunner().invoke(app, ["check", "--params", str(params)])
    assert checked.exit_code == 2 and "SHOP_DB_PASSWORD, which is not set" in checked.output
    with pytest.raises(ParamsError, match="export SHOP_DB_PASSWORD=... before the run"):
        run_report(params, reports_dir=tmp_path / "reports")
    assert not (tmp_path / "reports").exists()  # nothing started: no run folder, no .failed folder
    monkeypatch.setenv("SHOP_DB_PASSWORD", "pw")
    assert CliRunner().invoke(app, ["check", "--params", str(params)]).exit_code == 0  # check never connects


@pytest.mark.parametrize("value", ["31/12/2025", "Dec 31 2025", "20251231x", "\"2025-02-30\""])
def test_a_date_param_written_another_way_says_how_to_write_it(tmp_path, value):
    """as_of: 31/12/2025 was refused in pydantic's words ("invalid character in year")."""
    path = write_params(tmp_path)
    with pytest.raises(ParamsError, match=r"as_of must be a date that exists, written YYYY-MM-DD \(e\.g\. 2025-12-31\), got '"):
        load_params(path, [f"as_of={value}"])


def test_a_status_both_unpaid_and_a_return_is_refused_naming_it(tmp_path):
    """Listed in both, a status went silently to whichever rule comes first (unpaid_order)."""
    text = "cleaning:\n  unpaid_status_values: [cancelled, on-hold]\n  returns: {status_values: [' Cancelled', refunded]}\n"
    with pytest.raises(ParamsError, match=r"cleaning: unpaid_status_values and returns.status_values both list "
                                          r"\['cancelled'\].*keep it in one of them"):
        load_params(write(tmp_path, text))
    load_params(write(tmp_path, "cleaning:\n  unpaid_status_values: [on-hold]\n  returns: {status_values: [refunded]}\n"))


@pytest.mark.parametrize(("unpaid", "returned", "refused"), [
    ("'卖家已发货，等待买家确认'", "'卖家已发货,等待买家确认 '", True),  # the full-width comma the text fix makes ASCII
    ("'①'", "'1'", False),  # NFKC makes them one; the rules (`status_keys`) tell them apart
])
def test_a_status_in_both_lists_is_told_as_the_rules_compare_statuses(tmp_path, unpaid, returned, refused):
    text = f"cleaning:\n  unpaid_status_values: [{unpaid}]\n  returns: {{status_values: [{returned}]}}\n"
    if refused:
        with pytest.raises(ParamsError, match="both list"):
            load_params(write(tmp_path, text))
    else:
        load_params(write(tmp_path, text))


def test_a_section_left_empty_is_its_defaults(tmp_path):
    """`cleaning:` with every line under it commented out is YAML's null: it was refused with pydantic's
    "input should be a valid dictionary or instance of cleaning, got None" (in English under lang: zh)."""
    path = tmp_path / "p.yaml"
    path.write_text("lang: zh\ncleaning:\n  # day_first: true\nrfm:\nexports:\nsource:\n  kind: demo\n  demo:\n",
                    encoding="utf-8")
    p = load_params(path)
    defaults = validate_params({})
    assert (p.cleaning, p.rfm, p.exports, p.source.demo) == (defaults.cleaning, defaults.rfm, defaults.exports,
                                                             defaults.source.demo)
    assert validate_params({"source": {"kind": "demo", "customers": None}}).source.customers is None  # optional: null
