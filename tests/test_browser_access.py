"""The real server (`streamlit run app.py`): the queue starts with it, and in real Chromium the owner
cookie and the presenter's login survive a reload and follow to a new tab, another browser is
another visitor, wrong presenter passwords are made to wait, and Markdown in ?run= stays text.

A server of its own, with a presenter password; its runs folder is the test's to write. The run a
visitor owns is faked as "running" (a heartbeat from the test), so no worker has to start."""
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from cnn_core.common.config import ModelConfig, TrainConfig
from cnn_core.common.runs import RunStore
from cnn_core.server import access
from tests.browser_support import open_page, page_warnings, start_app, stop_app, wait_idle
from tests.conftest import needs_data
from tests.support import poll

PASSWORD = "a presenter's password"
CONFIG = {"model": ModelConfig().to_dict(), "train": TrainConfig(iterations=20_000, train_images=500).to_dict()}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("access")
    process, url = start_app(folder / "runs", folder / "server.log", {"CNN_PRESENTER_PASSWORD": PASSWORD})
    yield url, RunStore(folder / "runs"), folder / "server.log"
    stop_app(process)


class Beating:
    """A run that reads as running, kept alive by heartbeats from this test (no worker)."""

    def __init__(self, store: RunStore, owner: str):
        self.store, self.run_id = store, store.create(CONFIG, owner=owner)
        store.write_status(self.run_id, "running", pid=os.getpid())
        self.done = threading.Event()
        threading.Thread(target=self._beat, daemon=True).start()

    def _beat(self):
        while not self.done.wait(0.5):
            self.store.beat(self.run_id, step=1)

    def end(self):
        self.done.set()
        self.store.write_status(self.run_id, "stopped", reason="test over")


def can_stop(page) -> bool:
    """Whether the page offers Stop for the run it shows, once the live view has said either way."""
    wait_idle(page)
    stop = page.get_by_role("button", name="Stop")
    refused = page.get_by_text("Only the visitor who launched this run, or the presenter, can stop it")
    poll(lambda: stop.count() or refused.count(), 60, "the live view to offer Stop or say who may")
    return stop.count() > 0


def owner_cookie(context) -> dict:
    return next(cookie for cookie in context.cookies() if cookie["name"] == access.OWNER_COOKIE)


@pytest.mark.browser
@needs_data
def test_ownership_and_the_presenter_login_survive_a_reload_and_follow_to_a_new_tab(browser, server):
    url, store, _ = server
    first = open_page(browser, url)
    cookie = owner_cookie(first.context)
    assert cookie["httpOnly"] and access.valid_token(cookie["value"])  # set by the server, no script can read it
    run = Beating(store, owner=cookie["value"])
    try:
        first.goto(url + f"train?run={run.run_id}")
        assert can_stop(first), "the visitor who launched the run cannot stop it"
        first.reload()
        assert can_stop(first), "a reload lost the ownership"
        tab = first.context.new_page()
        tab.goto(url + f"train?run={run.run_id}")
        assert can_stop(tab), "a new tab of the same browser is not the owner"
        assert run.run_id not in tab.url.split("run=")[0] and cookie["value"] not in tab.url

        other = open_page(browser, url, f"train?run={run.run_id}")  # another browser: another visitor
        assert not can_stop(other)
        field = other.get_by_label("Presenter password", exact=True).and_(other.locator("input"))
        field.fill(PASSWORD)
        field.press("Enter")
        other.get_by_text("Presenter: you can stop and delete every run").wait_for(timeout=30_000)
        wait_idle(other)
        assert can_stop(other)
        presenter = next(c for c in other.context.cookies() if c["name"] == access.PRESENTER_COOKIE)
        assert PASSWORD not in presenter["value"] and "." in presenter["value"]
        other.reload()
        other.get_by_text("Presenter: you can stop and delete every run").wait_for(timeout=30_000)
        assert can_stop(other), "a reload lost the presenter's login"
        second_tab = other.context.new_page()
        second_tab.goto(url + f"train?run={run.run_id}")
        assert can_stop(second_tab)
    finally:
        run.end()
    for page in (first, other):
        page.context.close()


@pytest.mark.browser
@needs_data
def test_repeated_wrong_presenter_passwords_wait_and_are_logged(browser, server):
    url, _, log = server
    page = open_page(browser, url, "train")
    field = page.get_by_label("Presenter password", exact=True).and_(page.locator("input"))
    for guess in range(access.FREE_GUESSES + 2):
        field.fill(f"guess number {guess}")
        field.press("Enter")
        wait_idle(page)
    page.get_by_text("Too many wrong passwords: wait").wait_for(timeout=30_000)
    assert "wrong presenter password from every client" in Path(log).read_text()
    page.context.close()


@pytest.mark.browser
@needs_data
def test_markdown_in_the_address_is_never_echoed_as_a_link(browser, server):
    url, _, _ = server
    page = open_page(browser, url, "train?run=[Presenter login](http://127.0.0.1:9/phish)")
    page.get_by_text("There is no run").wait_for(timeout=30_000)
    [warning] = [text for text in page_warnings(page) if "There is no run" in text]
    assert "Presenter login" not in warning and "phish" not in warning
    box = page.locator("[data-testid=stAlertContentWarning]").filter(has_text="There is no run")
    assert box.locator("a").count() == 0
    page.context.close()


@needs_data
@pytest.mark.slow
def test_the_queue_runs_without_visitors(tmp_path):
    """Issue 19: after a restart a queued run waited until a browser opened a page."""
    store = RunStore(tmp_path / "runs")
    run_id = store.create(CONFIG, owner="left by the last server")
    process, _ = start_app(tmp_path / "runs", tmp_path / "server.log")  # no page is ever opened
    try:
        poll(lambda: store.read(run_id).status == "running", 60, "the queued run to start with no visitor",
             details=lambda: (tmp_path / "server.log").read_text()[-2000:])
    finally:
        pid = json.loads((store.path(run_id) / "status.json").read_text()).get("pid")
        stop_app(process)
        command = Path(f"/proc/{pid}/cmdline")
        if isinstance(pid, int) and command.exists() and "cnn_core.worker" in command.read_text(errors="replace"):
            os.kill(pid, signal.SIGKILL)  # the worker this test's server started, by its own pid
        time.sleep(0.5)
