"""The walls hold for the experiments too: no streamlit in cnn_core.experiments, no TensorFlow in their pages."""
from tests.conftest import ROOT
from tests.test_architecture import imported_modules


def test_experiments_never_import_streamlit():
    files = list((ROOT / "cnn_core" / "experiments").glob("*.py"))
    assert files and not [p.name for p in files if "streamlit" in imported_modules(p)]


def test_experiment_pages_never_import_tensorflow_keras_or_the_keras_stand_in():
    files = [p for p in (ROOT / "pages").glob("*.py") if p.stem in ("experiments", "lessons")]
    for path in files:
        text = path.read_text()
        assert not imported_modules(path) & {"tensorflow", "keras"}, path.name
        assert "keras_served" not in text and "compare.command_compare" not in text, path.name
