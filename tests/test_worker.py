"""The training worker's command line (cnn_core.worker): a run it cannot train exits 2 with one line."""
import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def worker(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnn_core.worker", *arguments], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("run_id", ["../etc", "abc\n", "a/b", ""])
def test_a_bad_run_id_exits_2_with_one_error_line(run_store, run_id):
    result = worker(run_id, "--runs-dir", str(run_store.root))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("error: invalid run id") and result.stdout == ""


def test_a_missing_or_broken_run_exits_2_and_is_left_as_it_was(run_store):
    result = worker("no-such-run", "--runs-dir", str(run_store.root))
    assert result.returncode == 2 and result.stderr.startswith("error: config.json: unreadable")
    assert len(result.stderr.strip().splitlines()) == 1

    run_id = run_store.create({"model": {"conv_channels": "many"}, "train": {}})
    result = worker(run_id, "--runs-dir", str(run_store.root))
    assert result.returncode == 2 and result.stderr.startswith("error: config.json:")
    assert len(result.stderr.strip().splitlines()) == 1
    assert json.loads((run_store.path(run_id) / "status.json").read_text())["status"] == "queued"


def test_a_symlinked_run_is_refused(run_store, tmp_path):
    run_store.root.mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (run_store.root / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    result = worker("linked", "--runs-dir", str(run_store.root))
    assert result.returncode == 2 and "symbolic link" in result.stderr
