"""The two walls: cnn_core never imports streamlit; pages never import tensorflow or keras."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_cnn_core_never_imports_streamlit():
    offenders = [p.name for p in (ROOT / "cnn_core").glob("*.py") if "streamlit" in imported_modules(p)]
    assert not offenders


def test_pages_never_import_tensorflow_or_keras():
    files = [ROOT / "app.py", *(ROOT / "pages").glob("*.py")]
    offenders = [p.name for p in files if imported_modules(p) & {"tensorflow", "keras"}]
    assert not offenders and len(files) >= 2
