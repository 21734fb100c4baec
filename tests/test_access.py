"""Who a visitor is (cnn_core.server.access, pages.shared): the owner token from a cookie, the presenter's
signed token, the slow-down for wrong presenter passwords, the cookie the server sets, and the quota
and the saved-runs limit that follow the token."""
import asyncio
import logging
import re

import pytest

from cnn_core.common.config import ModelConfig, TrainConfig
from cnn_core.server import access
from cnn_core.server.launcher import EMPTY_RUNS_KEPT, Launcher, LaunchRefused
from tests.conftest import needs_data
from tests.support import app_on

TINY = TrainConfig(iterations=40, train_images=500, batch_size=50, eval_every=20, eval_images=200)
CONFIG = {"model": ModelConfig().to_dict(), "train": TINY.to_dict()}


def test_a_presenter_token_holds_until_it_expires_or_the_password_changes():
    secret = b"k" * 32
    token = access.presenter_token(secret, "demo", now=1000.0, days=1)
    assert access.presenter_token_valid(token, secret, "demo", now=1000.0 + 3600)
    assert not access.presenter_token_valid(token, secret, "demo", now=1000.0 + 2 * 86400)  # expired
    assert not access.presenter_token_valid(token, secret, "another password", now=1000.0)
    assert not access.presenter_token_valid(token, b"x" * 32, "demo", now=1000.0)  # another server's
    assert "demo" not in token and not access.presenter_token_valid(token.replace(".", ".0"), secret, "demo", now=1000.0)
    for forged in (None, "", "demo", "99999999999.abc", token + "x"):
        assert not access.presenter_token_valid(forged, secret, "demo", now=1000.0)


def test_the_server_secret_is_kept_private_in_the_runs_folder(tmp_path):
    first = access.server_secret(tmp_path / "runs", environ={})
    assert first == access.server_secret(tmp_path / "runs", environ={}) and len(first) >= 32
    assert (tmp_path / "runs" / access.SECRET_FILE).stat().st_mode & 0o077 == 0
    assert access.server_secret(tmp_path / "runs", environ={"CNN_SECRET": "set-by-the-operator"}) == b"set-by-the-operator"


def test_wrong_guesses_slow_down_after_a_few_and_are_logged(caplog):
    now = [0.0]
    guard = access.Throttle(clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="cnnlab.presenter"):
        delays = [guard.failed("203.0.113.9") for _ in range(8)]
    assert delays[:access.FREE_GUESSES] == [0.0] * access.FREE_GUESSES
    assert delays[access.FREE_GUESSES:] == [2.0, 4.0, 8.0, 16.0, 32.0]
    assert guard.wait("203.0.113.9") == 32.0 and guard.wait("198.51.100.1") == 0.0  # per address
    now[0] = 40.0
    assert guard.wait("203.0.113.9") == 0.0
    assert len([r for r in caplog.records if "wrong presenter password from 203.0.113.9" in r.getMessage()]) == 8
    guard.succeeded("203.0.113.9")
    assert guard.failed("203.0.113.9") == 0.0


def serve_once(cookie_header: bytes | None, content_type: bytes = b"text/html", scheme: str = "http") -> list:
    """The headers the middleware sends for one request."""
    async def inner(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", content_type)]})

    sent = []

    async def send(message):
        sent.append(message)

    headers = [(b"cookie", cookie_header)] if cookie_header else []
    asyncio.run(access.OwnerCookie(inner)({"type": "http", "scheme": scheme, "headers": headers}, None, send))
    return [value.decode() for key, value in sent[0]["headers"] if key == b"set-cookie"]


def test_the_first_page_a_browser_gets_sets_its_owner_cookie():
    [cookie] = serve_once(None)
    assert re.fullmatch(r"cnnlab_owner=[A-Za-z0-9_-]{43}; Path=/; Max-Age=\d+; HttpOnly; SameSite=Lax", cookie)
    assert serve_once(b"_x=1; cnnlab_owner=" + b"a" * 43) == []  # already has one
    assert serve_once(None, b"application/javascript") == []  # only pages, not every asset
    assert serve_once(None, scheme="https")[0].endswith("; Secure")
    assert len(serve_once(b"cnnlab_owner=forged<script>")) == 1  # not a token of ours: replaced


@pytest.fixture
def cookies(monkeypatch):
    """The browser's cookies as pages.shared reads them, set by the test."""
    import pages.shared as shared

    jar: dict[str, str] = {}
    monkeypatch.setattr(shared, "_cookie", jar.get)
    return jar


@needs_data
def test_a_reload_or_a_new_tab_with_the_cookie_is_the_same_owner(runs_dir, cookies):
    from cnn_core.common.runs import RunStore

    cookies[access.OWNER_COOKIE] = token = access.new_token()
    store = RunStore(runs_dir)
    run_id = store.create(CONFIG, owner=token)
    store.write_status(run_id, "running")
    store.beat(run_id, step=1)
    for _ in range(2):  # two sessions: the first tab, then a reload of it (or a second tab)
        app = app_on("pages/train.py", {"run": run_id})
        assert [b for b in app.button if b.key == "train_stop"], "the owner lost the Stop button"
    cookies[access.OWNER_COOKIE] = access.new_token()  # another browser
    app = app_on("pages/train.py", {"run": run_id})
    assert not [b for b in app.button if b.key == "train_stop"]


@needs_data
def test_the_presenter_stays_logged_in_through_a_reload_by_a_signed_token(runs_dir, cookies, monkeypatch):
    monkeypatch.setenv("CNN_PRESENTER_PASSWORD", "s3cret demo")
    app = app_on("pages/train.py")
    app.text_input(key="presenter_password_input").input("s3cret demo").run()
    scripts = [element.proto.body for element in app.sidebar if type(element).__name__ == "Html"]
    token = next(re.search(r"cnnlab_presenter=([0-9]+\.[0-9a-f]{64})", text).group(1)
                 for text in scripts if "cnnlab_presenter=" in text)
    assert "s3cret" not in "".join(scripts)
    cookies[access.PRESENTER_COOKIE] = token  # what the browser sends after the reload
    again = app_on("pages/train.py")
    assert any("Presenter: you can stop and delete every run" in caption.value for caption in again.caption)
    again.button(key="presenter_logout").click().run()
    assert not any("Presenter:" in caption.value for caption in again.caption)


@needs_data
def test_repeated_wrong_presenter_passwords_are_made_to_wait(runs_dir, cookies, monkeypatch, caplog):
    import pages.shared as shared

    monkeypatch.setenv("CNN_PRESENTER_PASSWORD", "s3cret demo")
    frozen = access.Throttle(clock=lambda: 0.0)  # no time passes between the guesses
    monkeypatch.setattr(shared, "_presenter_guard", lambda: frozen)
    app = app_on("pages/train.py")
    with caplog.at_level(logging.WARNING, logger="cnnlab.presenter"):
        for guess in range(access.FREE_GUESSES + 2):
            app.text_input(key="presenter_password_input").input(f"guess {guess}").run()
    errors = [error.value for error in app.error]
    assert any("Too many wrong passwords: wait" in error for error in errors), errors
    app.text_input(key="presenter_password_input").input("s3cret demo").run()  # even the right one waits
    assert not any("Presenter:" in caption.value for caption in app.caption)
    assert sum("wrong presenter password" in record.getMessage() for record in caplog.records) == access.FREE_GUESSES + 1


def test_a_visitor_who_launches_and_stops_again_and_again_fills_only_their_own_space(run_store):
    busy = run_store.create(CONFIG, run_id="busy")  # the slot is taken, so every launch waits
    run_store.write_status(busy, "running")
    run_store.beat(busy, step=1)
    launcher = Launcher(run_store, monitor=False, max_runs=5)
    for _ in range(12):
        run_store.beat(busy, step=1)
        run_id = launcher.submit(ModelConfig(), TINY, owner="reloader")
        launcher.stop(run_id, owner="reloader")
    mine = [run for run in run_store.list_runs()[0] if run_store.is_owner(run.run_id, "reloader")]
    assert len(mine) == EMPTY_RUNS_KEPT and all(run.status == "stopped" for run in mine)
    run_store.beat(busy, step=1)
    launcher.submit(ModelConfig(), TINY, owner="someone else")  # the server is not full for anyone else
    with pytest.raises(LaunchRefused, match="already have a run waiting"):
        launcher.submit(ModelConfig(), TINY, owner="someone else")
    launcher.close()
