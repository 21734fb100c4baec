"""Start the real app (`streamlit run app.py`) on a free port and drive it with headless Chromium.

The fixtures are in conftest.py: ``app_url`` (a server for the whole test session, with its runs in
a temporary folder) and ``browser`` (Debian's /usr/bin/chromium through Playwright; nothing
downloads a browser). Helpers here: ``open_page``, ``wait_idle``, ``page_errors``, ``screenshot``.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support import poll

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
PRESENTER_PASSWORD = "presenter-for-tests"  # the shared server's; a test types it to manage any run
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(runs_dir: Path, log_path: Path, extra_env: dict | None = None,
              prefix: list[str] = ()) -> tuple[subprocess.Popen, str]:
    """Start `streamlit run app.py` headless (after ``prefix``, e.g. taskset); the process and its URL once healthy."""
    port = free_port()
    env = {**os.environ, "CNN_RUNS_DIR": str(runs_dir), "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    command = [*prefix, sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    log = open(log_path, "w")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"

    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited early; see {log_path}")
        try:
            return urllib.request.urlopen(url + "_stcore/health", timeout=1).read() == b"ok"
        except OSError:
            return False

    try:
        poll(healthy, 90, f"streamlit to answer (see {log_path})", interval=0.3)
    except AssertionError:
        process.kill()
        raise
    return process, url


def stop_app(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


def browser_available() -> bool:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return False
    return Path(CHROMIUM).exists()


def wait_idle(page, timeout: float = 60) -> None:
    """Wait until Streamlit has finished running the page's script."""
    page.wait_for_selector("[data-testid=stAppViewContainer]", timeout=timeout * 1000)
    time.sleep(0.3)
    poll(lambda: page.locator("[data-testid=stApp][data-test-script-state=notRunning]").count(), timeout,
         "the page's script to finish")


def open_page(browser, url: str, path: str = "", viewport=(1400, 1000)):
    """A new browser context (a new visitor) on ``url + path``, idle."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = context.new_page()
    page.goto(url + path)
    wait_idle(page)
    return page


def page_errors(page) -> list[str]:
    """The text of every exception or error box on the page."""
    boxes = page.locator("[data-testid=stException], [data-testid=stAlertContentError]")
    return [boxes.nth(i).inner_text() for i in range(boxes.count())]


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under artifacts/screenshots/ (git-ignored) for people to look at."""
    folder = ROOT / "artifacts" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def page_warnings(page) -> list[str]:
    """The text of every warning box on the page."""
    boxes = page.locator("[data-testid=stAlertContentWarning]")
    return [boxes.nth(i).inner_text() for i in range(boxes.count())]


def log_in_as_presenter(page) -> None:
    """Type the shared server's presenter password into the sidebar field."""
    field = page.get_by_label("Presenter password", exact=True).and_(page.locator("input"))
    field.fill(PRESENTER_PASSWORD)
    field.press("Enter")
    page.get_by_text("Presenter: you can stop and delete every run").wait_for(timeout=30_000)
    wait_idle(page)
