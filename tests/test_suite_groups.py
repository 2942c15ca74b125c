"""The test suite's own scheduling (conftest): the files that share a session fixture form one pytest-xdist work
unit, and a file that uses one without being listed is refused at collection."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import conftest


@pytest.mark.parametrize(
    ("nodeid", "unit"),
    [
        ("tests/csim/test_csim.py::test_x[a]", "shared-run"),
        ("tests/bench/test_bench_run.py::test_y", "shared-run"),
        ("tests/train/test_multiclass_train.py::test_z", "three-class-run"),
        ("tests/test_io.py::test_w", "tests/test_io.py"),
    ],
    ids=["csim", "bench", "three-class", "own-file"],
)
def test_work_units(nodeid, unit):
    assert conftest.work_unit(nodeid) == unit


def test_every_listed_file_exists(repo):
    missing = [f for f in conftest.FILE_GROUPS if not (repo / f).is_file()]
    assert not missing


@pytest.mark.parametrize(
    ("nodeid", "fixtures", "refused"),
    [
        ("tests/x/test_new.py::test_a", ["tmp_path", "exported", "trained_run"], "trained_run"),
        ("tests/x/test_new.py::test_b", ["three_class_run"], "three_class_run"),
        ("tests/convert/test_multiclass_export.py::test_c", ["trained_run"], "trained_run"),  # the wrong group
        ("tests/csim/test_csim.py::test_d", ["exported", "trained_run"], None),
        ("tests/x/test_new.py::test_e", ["tmp_path"], None),
    ],
    ids=["unlisted-exported", "unlisted-three-class", "other-group", "listed", "no-shared-fixture"],
)
def test_a_file_outside_its_fixtures_group_is_refused(nodeid, fixtures, refused):
    items = [SimpleNamespace(nodeid=nodeid, fixturenames=fixtures)]
    if refused is None:
        conftest.pytest_collection_modifyitems(None, items)
    else:
        with pytest.raises(pytest.UsageError, match=f"{nodeid.split('::')[0]} uses the session fixture {refused}"):
            conftest.pytest_collection_modifyitems(None, items)
