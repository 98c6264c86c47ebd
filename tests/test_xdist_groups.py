"""The suite's own distribution: under `./run.sh test` (pytest-xdist, --dist loadgroup) the tests that
share a module's fixture run on one worker, so the fixture (a whole report elsewhere) is made once."""

import pytest

MADE: list[int] = []


@pytest.fixture(scope="module")
def made_once():
    MADE.append(len(MADE))
    return object()


@pytest.mark.parametrize("n", range(4))
def test_the_tests_of_a_module_fixture_share_one_worker_and_one_fixture(n, made_once, request):
    assert MADE == [0]  # made once for all four, whichever ran first
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("checks the groups of ./run.sh test's --dist loadgroup")
    # the group in the test's id is what the scheduler reads (lost with pytest 9.2: pytest-xdist#1386)
    assert request.node.nodeid.endswith("@tests/test_xdist_groups.py")
