"""The Train page headless (AppTest): it renders, validates, queues runs in worker processes, shows results,
and lets only a run's owner (or the presenter) stop or delete it."""
import json

import pytest

from cnn_core.common.config import PRESETS, ModelConfig, TrainConfig
from tests.conftest import needs_data
from tests.support import app_on, poll

pytestmark = needs_data
TINY = {"iterations": 30, "batch_size": 20, "train_images": 600, "eval_every": 10, "eval_images": 200,
        "hidden_units": 16}
OWNER = "owner_token"


def train_page(query: dict | None = None, session: dict | None = None):
    return app_on("pages/train.py", query, session)


def fill(app, **values) -> None:
    for field, value in values.items():
        widget = app.text_input(key=f"train_{field}") if isinstance(value, str) else app.number_input(key=f"train_{field}")
        widget.set_value(value)


def folders(runs_dir) -> list[str]:
    """The run folders (the launcher's lock file is not one)."""
    return sorted(path.name for path in runs_dir.iterdir() if path.is_dir())


def status_of(runs_dir, run_id: str) -> str:
    from cnn_core.common.runs import RunStore

    return RunStore(runs_dir).read(run_id).status


@pytest.fixture
def busy_slot(runs_dir):
    """A run another worker is training, beating for as long as the test lasts: the launcher's one slot
    stays taken however slowly a loaded machine runs the test."""
    import threading

    from cnn_core.common.runs import RunStore

    store = RunStore(runs_dir)
    run_id = store.create({"model": ModelConfig().to_dict(), "train": TrainConfig().to_dict()}, owner="someone else")
    store.write_status(run_id, "running")
    done = threading.Event()

    def beat():
        while True:
            store.beat(run_id, step=1)
            if done.wait(0.5):
                return

    beating = threading.Thread(target=beat, daemon=True)
    beating.start()
    yield run_id
    done.set()
    beating.join(5)


def test_the_page_renders_with_the_seed_defaults(runs_dir):
    app = train_page()
    assert not app.exception, app.exception
    assert app.title[0].value == "Train"
    assert app.number_input(key="train_iterations").value == 2500
    assert app.text_input(key="train_learning_rate").value == "0.0001"
    assert any("No saved runs" in info.value for info in app.info)


def test_the_fast_preset_fills_the_form(runs_dir):
    app = train_page()
    app.selectbox(key="train_preset").set_value("fast").run()
    fast = PRESETS["fast"]
    assert app.number_input(key="train_batch_size").value == fast.batch_size
    assert app.number_input(key="train_iterations").value == fast.iterations
    assert app.selectbox(key="train_schedule").value == fast.schedule


def test_invalid_values_get_a_message_and_queue_nothing(runs_dir):
    app = train_page()
    fill(app, iterations=0, conv_channels="32, lots")
    app.button(key="train_launch").click().run()
    assert not app.exception, app.exception
    assert app.error and folders(runs_dir) == []


@pytest.mark.slow
def test_the_form_queues_a_tiny_run_a_worker_trains_it_and_the_page_shows_its_results(runs_dir):
    app = train_page()
    fill(app, conv_channels="4, 8", **TINY)
    app.button(key="train_launch").click().run()
    assert not app.exception, app.exception
    [run_id] = folders(runs_dir)
    config = json.loads((runs_dir / run_id / "config.json").read_text())
    assert config["train"]["iterations"] == 30 and config["model"]["conv_channels"] == [4, 8]
    assert app.query_params["run"] in (run_id, [run_id])
    poll(lambda: status_of(runs_dir, run_id) not in ("queued", "running"), 240, "the run to finish", interval=0.5)
    assert status_of(runs_dir, run_id) == "completed", (runs_dir / run_id / "worker.log").read_text()[-2000:]
    app.run()
    assert not app.exception, app.exception
    assert any(metric.label.startswith("Full test accuracy") for metric in app.metric)
    assert any(f"Run `{run_id}`: completed" in md.value for md in app.markdown)
    assert len(app.get("plotly_chart")) >= 3  # loss, accuracy, confusion matrix, mistakes


def test_a_visitor_waits_behind_the_running_run_and_may_queue_only_one(runs_dir, busy_slot):
    running = busy_slot
    app = train_page()
    fill(app, conv_channels="4, 8", **TINY)
    app.button(key="train_launch").click().run()
    [queued] = [name for name in folders(runs_dir) if name != running]
    assert status_of(runs_dir, queued) == "queued"
    assert any("Next in the queue" in info.value or "Waiting in the queue" in info.value for info in app.info)
    app.button(key="train_launch").click().run()
    assert not app.exception
    assert any("already have a run waiting" in w.value for w in app.warning)
    assert len(folders(runs_dir)) == 2  # the refused launch made no folder


def test_only_the_owner_sees_stop_and_stop_takes_a_queued_run_out(runs_dir, busy_slot):
    running = busy_slot
    owner = train_page()
    fill(owner, conv_channels="4, 8", **TINY)
    owner.button(key="train_launch").click().run()
    [queued] = [name for name in folders(runs_dir) if name != running]
    stranger = train_page({"run": queued})
    assert not [b for b in stranger.button if b.key == "train_stop"]
    assert any("Only the visitor who launched" in c.value for c in stranger.caption)
    owner.button(key="train_stop").click().run()
    assert status_of(runs_dir, queued) == "stopped"


def test_the_presenter_password_lets_a_visitor_manage_every_run(runs_dir, busy_slot, monkeypatch):
    monkeypatch.setenv("CNN_PRESENTER_PASSWORD", "s3cret demo")
    running = busy_slot
    app = train_page({"run": running})
    app.text_input(key="presenter_password_input").input("wrong").run()
    assert any("not the presenter password" in e.value for e in app.error)
    app.text_input(key="presenter_password_input").input("s3cret demo").run()
    assert [b for b in app.button if b.key == "train_stop"]


@pytest.mark.slow
def test_without_data_or_internet_launch_says_why_in_full_and_queues_nothing(runs_dir, tmp_path, monkeypatch):
    """No dataset anywhere and no internet: the whole message shows, and no run folder is made."""
    monkeypatch.setenv("CNN_DATA_DIR", str(tmp_path / "no-data-here"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no Keras cache either
    monkeypatch.chdir(tmp_path)  # no ./data/ either
    import cnn_core.common.data as data

    monkeypatch.setattr(data, "search_dirs", lambda name: [tmp_path / "no-data-here" / name])
    app = train_page()
    fill(app, **TINY)
    app.button(key="train_launch").click().run()
    assert not app.exception, app.exception
    [message] = [e.value for e in app.error if "No run was queued" in e.value]
    assert "could not be downloaded" in message and message.rstrip().endswith("then launch again.")
    assert folders(runs_dir) == []


def test_a_run_watched_here_comes_back_after_another_page(runs_dir, tiny_models, mnist):
    """Back on Train from another page, the run last watched (and its results) are on show again."""
    from cnn_core.common.runs import RunStore
    from tests.support import completed_run

    run_id = completed_run(RunStore(runs_dir), tiny_models.cnn, accuracy=0.5, predictions=mnist.test_labels)
    app = app_on("pages/train.py", {"run": run_id})
    assert any("Full test accuracy" in metric.label for metric in app.metric)
    app.switch_page("pages/filters.py").run()
    app.query_params.clear()  # the navigation drops the address's parameters
    app.switch_page("pages/train.py").run()
    assert not app.exception, app.exception
    assert any("Full test accuracy" in metric.label for metric in app.metric)
    assert app.query_params["run"] == run_id
