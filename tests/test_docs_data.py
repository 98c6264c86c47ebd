"""docs/data.md stays in step with the params models it documents."""

import re

import yaml

from conftest import ROOT
from segkit.params import Cleaning, validate_params

TEXT = (ROOT / "docs" / "data.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```yaml\n(.*?)```", TEXT, flags=re.S)


def test_the_documented_cleaning_block_is_valid_and_shows_the_defaults():
    block = next(b for b in BLOCKS if b.startswith("cleaning:"))
    assert validate_params(yaml.safe_load(block)).cleaning == Cleaning()


def test_the_postgresql_example_is_valid_and_holds_no_password():
    block = next(b for b in BLOCKS if "kind: database" in b)
    database = validate_params(yaml.safe_load(block)).source.database
    assert database.password_env == "SHOP_DB_PASSWORD" and database.customers.table == "crm.members"


def test_every_rule_and_fix_is_documented():
    from segkit.intake.cleaning import ALL_FIXES, RULES

    for name in (*RULES, *ALL_FIXES):
        documented = f"`{name}`" in TEXT or (name.startswith("filled_") and "`filled_<field>`" in TEXT)
        assert documented, name
