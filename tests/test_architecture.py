"""The walls, as package rules: cnn_core never imports streamlit, and only cnn_core/worker/ holds TensorFlow.

Read from the source with ``ast`` (every import, at module level or inside a function), then held at
run time: a fresh interpreter imports every module outside cnn_core/worker/, renders all seven pages
with an interaction each, and must not have loaded tensorflow or keras.
"""
import ast
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, needs_data

TENSORFLOW = {"tensorflow", "keras"}
WORKER = ROOT / "cnn_core" / "worker"
ENTRY_POINT = ROOT / "cnn_core" / "cli.py"  # dispatches train and bench to cnn_core.worker


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in the file, by its full dotted name."""
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def crosses_the_wall(name: str) -> bool:
    return name.split(".")[0] in TENSORFLOW or name == "cnn_core.worker" or name.startswith("cnn_core.worker.")


def python_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*.py") if ".venv" not in path.parts)


def test_the_engine_never_imports_streamlit():
    files = python_files(ROOT / "cnn_core")
    offenders = [str(p.relative_to(ROOT)) for p in files if any(n.split(".")[0] == "streamlit" for n in imported_modules(p))]
    assert len(files) > 30 and not offenders


def test_nothing_outside_the_worker_folder_imports_tensorflow_keras_or_the_worker():
    files = [ROOT / "app.py", *python_files(ROOT / "pages"), *python_files(ROOT / "cnn_core")]
    outside = [path for path in files if WORKER not in path.parents and path != ENTRY_POINT]
    offenders = {str(path.relative_to(ROOT)): sorted(filter(crosses_the_wall, imported_modules(path))) for path in outside}
    assert {path: names for path, names in offenders.items() if names} == {}
    assert len(outside) > 30


def test_the_worker_folder_is_where_tensorflow_is():
    """Not a rule but a check that the rule above tests something: the worker does import Keras."""
    assert any(imported_modules(path) & TENSORFLOW for path in python_files(WORKER))


def test_the_entry_point_imports_the_worker_only_inside_functions():
    tree = ast.parse(ENTRY_POINT.read_text())
    top_level = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    names = {alias.name for node in top_level if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module for node in top_level if isinstance(node, ast.ImportFrom) and node.module}
    assert not [name for name in names if crosses_the_wall(name)]


SERVER_WITHOUT_TENSORFLOW = r"""
import importlib, json, pkgutil, sys
import cnn_core
from streamlit.testing.v1 import AppTest

modules = [info.name for info in pkgutil.walk_packages(cnn_core.__path__, "cnn_core.")
           if not info.name.startswith("cnn_core.worker") and not info.name.endswith("__main__")]
for name in modules:
    importlib.import_module(name)

def app_on(page):
    app = AppTest.from_file("app.py", default_timeout=180)
    if page:
        app.switch_page(page)
    return app.run()

failures = []
def check(app, what):
    failures.extend(f"{what}: {e.value}" for e in app.exception)

for page in (None, "pages/tour.py", "pages/train.py", "pages/filters.py", "pages/predict.py", "pages/experiments.py",
             "pages/lessons.py"):
    check(app_on(page), page or "home")
app = app_on("pages/predict.py")
app.button(key="predict_sample_button").click().run()   # a prediction, served
check(app, "predict: sample")
app = app_on("pages/filters.py")
app.number_input(key="filters_index").set_value(3).run()  # feature maps, served
check(app, "filters: another digit")
app = app_on("pages/experiments.py")
app.button(key="experiments_random").click().run()          # every experiment view on another digit
check(app, "experiments: another digit")
app = app_on("pages/lessons.py")
app.query_params["view"] = "quiz"                            # the quiz's tab, as a lesson link opens it
app.run()
app.button(key="lessons_new").click().run()                 # a new quiz question
check(app, "lessons: quiz")
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("tensorflow", "keras"))
print(json.dumps({"modules": len(modules), "failures": failures, "loaded": loaded[:10]}))
"""


@needs_data
@pytest.mark.slow
def test_every_module_and_page_runs_without_importing_tensorflow_or_keras(tmp_path):
    """In a fresh interpreter (other tests here import TensorFlow): every module, all seven pages, an interaction each."""
    env = {**os.environ, "CNN_RUNS_DIR": str(tmp_path / "runs")}
    done = subprocess.run([sys.executable, "-c", SERVER_WITHOUT_TENSORFLOW], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    expected = [info.name for info in pkgutil.walk_packages([str(ROOT / "cnn_core")], "cnn_core.")
                if not info.name.startswith("cnn_core.worker") and not info.name.endswith("__main__")]
    assert result["modules"] == len(expected) > 30
    assert result["failures"] == []
    assert result["loaded"] == [], f"the web server imported {result['loaded']}"
