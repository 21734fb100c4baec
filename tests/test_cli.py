"""The command line: JSON results, exit codes, and one-line errors for every kind of bad input."""
import io
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from cnn_core.cli import main
from cnn_core.server.catalogue import DEFAULT_FOLDER
from tests.conftest import ROOT, needs_data

pytestmark = needs_data
SHIPPED = (DEFAULT_FOLDER / "model.tflite").is_file()
TINY = ["--iterations", "30", "--batch-size", "20", "--train-images", "600", "--lr", "0.003"]


def run_cli(capsys, *args) -> tuple[int, dict | None, str]:
    """main() in-process: exit code, the JSON object on stdout's last line, stderr."""
    code = main(list(args))
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    return code, (json.loads(lines[-1]) if code == 0 and "--json" in args else None), err


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def trained_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CNN_RUNS_DIR", str(tmp_path / "runs"))
    code, result, err = run_cli(capsys, "train", *TINY, "--json")
    assert code == 0, err
    return result


@pytest.mark.slow
def test_train_json_and_evaluate_the_run(trained_run, capsys):
    for key in ("run_dir", "test_accuracy", "seconds", "images_per_second", "device"):
        assert key in trained_run
    from cnn_core.worker.devices import resolve_device  # what TensorFlow reports here: a GPU where there is one

    assert trained_run["device"] == resolve_device("auto") and trained_run["test_images"] == 10_000
    # When each phase ended, for benchmarks/job_breakdown.py; in order.
    timeline = trained_run["timeline"]
    marks = ["tensorflow_imported", "started", "data_loaded", "model_built", "first_step", "steps_done", "scored",
             "saved", "exported"]
    assert [timeline[mark] for mark in marks] == sorted(timeline[mark] for mark in marks)
    assert os.path.isfile(os.path.join(trained_run["run_dir"], "model.keras"))
    code, result, _ = run_cli(capsys, "evaluate", "--model", trained_run["run_id"], "--json")
    assert code == 0 and result["n"] == 10_000
    assert result["accuracy"] == pytest.approx(trained_run["test_accuracy"], abs=1e-6)


@pytest.mark.slow
def test_export_writes_model_and_metadata(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CNN_RUNS_DIR", str(tmp_path / "runs"))
    target = tmp_path / "shipped"
    code, result, err = run_cli(capsys, "train", *TINY, "--export", str(target), "--json")
    assert code == 0, err
    metadata = json.loads((target / "meta.json").read_text())
    assert metadata["command"].startswith("python -m cnn_core train") and metadata["train"]["iterations"] == 30
    # The metadata's score must be the exported files' own: score them afresh instead of comparing it
    # with the run's figure (both come from the same variable, so that comparison proved nothing).
    code, evaluated, err = run_cli(capsys, "evaluate", "--model", str(target / "model.keras"), "--json")
    assert code == 0 and evaluated["n"] == 10_000, err
    assert metadata["test_accuracy"] == pytest.approx(evaluated["accuracy"], abs=1e-6)
    from cnn_core.common.data import load_dataset
    from cnn_core.server.serving import ServedModel  # The exported folder serves as models/seed-mnist/ does.

    test = load_dataset("mnist")
    served = ServedModel(target).probabilities(test.test_images / 255.0).argmax(axis=1)
    assert np.mean(served == test.test_labels) == pytest.approx(metadata["test_accuracy"], abs=2e-3)
    code, _, err = run_cli(capsys, "train", *TINY, "--export", str(tmp_path / "model.keras"), "--json")
    assert code == 2 and "needs a folder" in err


@pytest.mark.skipif(not SHIPPED, reason="no shipped model")
def test_the_shipped_model_reaches_99_percent(capsys):
    code, result, _ = run_cli(capsys, "evaluate", "--json")
    assert code == 0 and result["n"] == 10_000 and result["accuracy"] >= 0.99


def drawn(digit_image: np.ndarray, size=(400, 300), offset=(40, 150), scale=8, dark_on_white=False) -> np.ndarray:
    """An MNIST digit redrawn as a person might: bigger, off-centre, either ink colour."""
    big = np.asarray(Image.fromarray(digit_image).resize((28 * scale // 2, 28 * scale // 2), Image.BILINEAR))
    canvas = np.zeros(size[::-1], np.uint8)
    top, left = offset
    canvas[top:top + big.shape[0], left:left + big.shape[1]] = big
    return 255 - canvas if dark_on_white else canvas


@pytest.mark.skipif(not SHIPPED, reason="no shipped model")
def test_predict_reads_drawn_digits(tmp_path, capsys):
    from cnn_core.common.data import load_dataset

    dataset = load_dataset("mnist")
    for index in range(6):
        image, label = dataset.test_images[index], int(dataset.test_labels[index])
        path = tmp_path / f"digit{index}.png"
        path.write_bytes(png_bytes(drawn(image, dark_on_white=index % 2 == 1, offset=(20 + index * 10, 30 + index * 40))))
        code, result, err = run_cli(capsys, "predict", str(path), "--json")
        assert code == 0, err
        assert result["digit"] == label and abs(sum(result["probabilities"]) - 1) < 1e-6
        assert len(result["probabilities"]) == 10


def bad_files(tmp_path):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(bomb)
    truncated = png_bytes(np.full((64, 64), 200, np.uint8))
    files = {"missing": tmp_path / "nope.png", "empty": tmp_path / "empty.png", "text": tmp_path / "notes.png",
             "truncated": tmp_path / "cut.png", "blank": tmp_path / "blank.png", "bomb": bomb}
    files["empty"].write_bytes(b"")
    files["text"].write_text("this is not an image")
    files["truncated"].write_bytes(truncated[:len(truncated) // 2])
    files["blank"].write_bytes(png_bytes(np.zeros((100, 100), np.uint8)))
    return files


def test_bad_images_are_one_line_errors(tmp_path, capsys):
    for name, path in bad_files(tmp_path).items():
        code, _, err = run_cli(capsys, "predict", str(path), "--json")
        assert code == 2, name
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, (name, err)


@pytest.mark.parametrize("args,message", [
    (["train", "--lr", "-1"], "learning_rate"), (["train", "--batch-size", "0"], "batch_size"),
    (["train", "--iterations", "abc"], "invalid int value"), (["train", "--device", "tpu"], "invalid choice"),
    (["evaluate", "--model", "/etc/passwd"], "expected a .keras model file"),
    (["evaluate", "--model", "gone.keras"], "no such model file"), (["evaluate", "--model", "no-such-run"], "no run"),
    (["compare", "--cnn", "../no/such/folder"], "no such model file"), (["compare", "--mlp", "a b"], "invalid run id"),
    (["bench", "--steps", "1"], "--steps"), ([], "required"),
    (["train", "--config", "[1]"], "expected a JSON object"), (["train", "--config", '{"bogus": 1}'], "bogus is not"),
    (["train", "--config", '{"beta_1": 2}'], "beta_1 must be"),
])
def test_bad_flags_are_one_line_errors(capsys, args, message):
    code, _, err = run_cli(capsys, *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.slow
def test_missing_data_and_a_real_exit_status(tmp_path):
    """A real process: no data anywhere and no internet -> exit 2, one line, no traceback."""
    env = {**os.environ, "CNN_DATA_DIR": str(tmp_path), "KERAS_HOME": str(tmp_path / "keras"),
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "cnn_core", "train", "--iterations", "5"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: mnist: not found locally") and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_bench_figures_agree_with_its_own_timings(capsys):
    """Each headline figure is checked against the raw timings it is made from, not just for '> 0'."""
    code, result, err = run_cli(capsys, "bench", "--steps", "20", "--repeats", "1", "--json")
    assert code == 0, err
    images = result["steps"] * result["batch_size"]
    assert result["steps"] == 20 and result["repeats"] == 1 and len(result["fit_seconds"]) == 1
    assert result["fit_images_per_second"] == pytest.approx(images / result["fit_seconds"][0], rel=1e-3)
    assert result["job_images_per_second"] == pytest.approx(images / result["job_seconds"][0], rel=1e-3)
    assert result["ratio"] == pytest.approx(result["fit_seconds"][0] / result["job_seconds"][0], rel=1e-3)
    assert result["ratio_min"] <= result["ratio"] <= result["ratio_max"]
    assert 0 < result["job_test_batch_seconds"] < result["job_seconds"][0]
    # How fast and how big are the benchmark's to report (benchmarks/RESULTS.md), not a test's to bound.
    assert 0 < result["predict_ms_p50"] <= result["predict_ms_p95"] and result["peak_memory_mb"] > 0


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    script = textwrap.dedent("""
        import sys, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from cnn_core.cli import main
        sys.exit(main(sys.argv[1:]))
    """)
    env = {**os.environ, "CNN_RUNS_DIR": str(tmp_path / "runs"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script, "train", "--strategy", "mirrored", *TINY, "--json"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["device"] == "mirrored" and result["steps"] == 30 and result["test_accuracy"] > 0.3


@pytest.mark.slow
def test_train_in_a_terminal_draws_a_progress_bar_on_stderr_and_json_stays_one_line(tmp_path):
    """A real process whose stderr is a terminal (a pty) and whose stdout is a pipe, as in `... --json | jq`."""
    import pty
    import threading

    env = {**os.environ, "CNN_RUNS_DIR": str(tmp_path / "runs"), "PYTHONPATH": str(ROOT)}
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "cnn_core", "train", *TINY, "--json"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=terminal, text=True)
    os.close(terminal)
    screen = bytearray()

    def read_terminal():
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the process closed the terminal.
                return
            if not chunk:
                return
            screen.extend(chunk)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    stdout, _ = process.communicate(timeout=300)
    reader.join(10)
    os.close(controller)
    drawn = screen.decode(errors="replace")
    assert process.returncode == 0, drawn[-2000:]
    assert len(stdout.strip().splitlines()) == 1 and json.loads(stdout)["steps"] == 30
    final = drawn.replace("\r\n", "\n").rstrip("\n").split("\r")[-1]  # The last redraw (the pty adds \r to \n).
    assert "[##############################] 30/30 loss " in final and " img/s ETA " in final, drawn[-500:]
    assert "test acc " in final and "Traceback" not in drawn
