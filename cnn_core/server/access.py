"""Who a visitor is across reloads and tabs, and who the presenter is, without putting either in the URL.

    OWNER_COOKIE       a random owner token, set by the server on the first page it sends a browser
                       (``OwnerCookie``, HttpOnly), so every tab and reload of that browser owns the
                       same runs; run folders keep only its hash (``runs.owner_hash``)
    PRESENTER_COOKIE   after the presenter password, ``presenter_token``: an expiry and an HMAC of it
                       under the server's secret and the password's hash, never the password itself;
                       a new password ends every old token
    Throttle           wrong presenter passwords per client address (else all together): the first
                       FREE_GUESSES are free, then each waits twice as long as the last, up to a
                       minute; every wrong one is logged

No Streamlit here: ``pages.shared`` reads the cookies (``st.context.cookies``) and writes the
presenter's; ``app.py`` installs ``OwnerCookie`` in front of Streamlit.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from pathlib import Path

OWNER_COOKIE = "cnnlab_owner"
PRESENTER_COOKIE = "cnnlab_presenter"
OWNER_DAYS = 365
PRESENTER_DAYS = 7
TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")
PRESENTER_TOKEN = re.compile(r"(\d{1,12})\.([0-9a-f]{64})")
SECRET_FILE = ".server-secret"  # in the runs folder: shared by two servers on it, gone with the runs
FREE_GUESSES = 3
LONGEST_WAIT = 60.0
CLIENTS_KEPT = 10_000
log = logging.getLogger("cnnlab.presenter")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def valid_token(value) -> str | None:
    """``value`` if it looks like a token this server made, else None (a cookie is the browser's word)."""
    return value if isinstance(value, str) and TOKEN.fullmatch(value) else None


def server_secret(root: Path, environ=os.environ) -> bytes:
    """The key presenter tokens are signed with: $CNN_SECRET, else a random one kept in the runs folder
    (readable by this user alone), else one for this process only (a read-only folder)."""
    if environ.get("CNN_SECRET"):
        return environ["CNN_SECRET"].encode()
    path = Path(root) / SECRET_FILE
    try:
        if not path.is_file():
            Path(root).mkdir(parents=True, exist_ok=True)
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(handle, "w") as out:
                out.write(secrets.token_hex(32))
        value = path.read_text().strip()
        if len(value) >= 32 and not path.is_symlink():
            return value.encode()
    except OSError:
        pass
    return _PROCESS_SECRET


_PROCESS_SECRET = secrets.token_bytes(32)


def _signature(secret: bytes, password: str, expiry: int) -> str:
    message = f"presenter|{expiry}|{hashlib.sha256(password.encode()).hexdigest()}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def presenter_token(secret: bytes, password: str, now: float | None = None, days: float = PRESENTER_DAYS) -> str:
    """A token that says 'presenter' until it expires, or until the password changes."""
    expiry = int((time.time() if now is None else now) + days * 86400)
    return f"{expiry}.{_signature(secret, password, expiry)}"


def presenter_token_valid(token, secret: bytes, password: str, now: float | None = None) -> bool:
    match = PRESENTER_TOKEN.fullmatch(token) if isinstance(token, str) and password else None
    if match is None or int(match.group(1)) < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(match.group(2), _signature(secret, password, int(match.group(1))))


class Throttle:
    """Wrong guesses per client; ``wait(client)`` is how long it must wait before its next guess counts."""

    def __init__(self, free: int = FREE_GUESSES, longest: float = LONGEST_WAIT, clock=time.monotonic):
        self.free, self.longest, self.clock = free, longest, clock
        self._clients: OrderedDict[str, tuple[int, float]] = OrderedDict()  # client -> (wrong in a row, next allowed)
        self._lock = threading.Lock()

    def wait(self, client: str) -> float:
        with self._lock:
            _, allowed = self._clients.get(client, (0, 0.0))
            return max(0.0, allowed - self.clock())

    def failed(self, client: str) -> float:
        """Count a wrong guess; the wait before the next one (0 for the first FREE_GUESSES)."""
        with self._lock:
            count = self._clients.pop(client, (0, 0.0))[0] + 1
            delay = 0.0 if count <= self.free else min(self.longest, 2.0 ** (count - self.free))
            self._clients[client] = (count, self.clock() + delay)
            while len(self._clients) > CLIENTS_KEPT:
                self._clients.popitem(last=False)
        log.warning("wrong presenter password from %s (%d in a row; next guess in %.0f s)", client, count, delay)
        return delay

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._clients.pop(client, None)


class OwnerCookie:
    """ASGI middleware: a page sent to a browser without an owner token sets one (HttpOnly, a year).

    It is set by the server, on the first HTML response, so the first session of a browser already
    carries it: no script has to run, and a reload or a new tab finds the same owner."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or valid_token(_cookies(scope).get(OWNER_COOKIE)):
            return await self.app(scope, receive, send)
        secure = scope.get("scheme") == "https" or _header(scope, b"x-forwarded-proto") == "https"

        async def send_with_cookie(message):
            if message["type"] == "http.response.start" and _is_html(message):
                cookie = (f"{OWNER_COOKIE}={new_token()}; Path=/; Max-Age={OWNER_DAYS * 86400}; HttpOnly; "
                          f"SameSite=Lax" + ("; Secure" if secure else ""))
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode())]}
            await send(message)

        return await self.app(scope, receive, send_with_cookie)


def _header(scope, name: bytes) -> str:
    return next((value.decode("latin-1") for key, value in scope.get("headers", []) if key == name), "")


def _cookies(scope) -> dict[str, str]:
    pairs = (part.strip().split("=", 1) for part in _header(scope, b"cookie").split(";") if "=" in part)
    return {key: value for key, value in pairs}


def _is_html(message) -> bool:
    return any(key == b"content-type" and value.startswith(b"text/html") for key, value in message.get("headers", []))
