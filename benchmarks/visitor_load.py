"""Many visitors at once on one server, for benchmarks/server.py's --visitors and --uploads modes.

    python benchmarks/server.py --visitors 8 --minutes 2 --settle 120 --server-cpus 0 --browser-cpus 1
    python benchmarks/server.py --uploads 5

--visitors: while a seed-network run trains, N visitors (one Chromium, a context each, driven
concurrently) draw one-stroke digits on Predict, press Clear, and every few drawings switch to
Train and Filters and back. Each drawing's pen-up to answer is timed in the page, and split where
the time goes: pen-up to the canvas component sending its value (its own send delay); that send to
the server's first reply (waiting for the server's threads) and to its last message before the
answer showed (the fragment rerun: preprocessing, the model, "model_ms" of it as the page says,
and building and sending the figures); and that message to the answer drawn (the browser). The
times are taken in the page, so a browser whose core is busy delays them too: compare the server's
first reply and its CPU share ("server_cpu_share", in cores) to see whether the server is the one
waiting. A drawing with no answer within ANSWER_TIMEOUT is "missing"; a page that does not respond
to a click or a switch within its own timeout is counted in "page_timeouts", not as a drawing. The server's own CPU share, and its resident memory before the visitors, at peak
and --settle seconds after they leave, come from /proc. The server (and so its worker) is pinned
to --server-cpus and the browsers to --browser-cpus (taskset), so the times are the server's own.

--uploads: N visitors upload a 4096x4096 RGBA PNG at once on Predict; the server's memory before,
at peak and after, and whether each got its answer.
"""
from __future__ import annotations

import asyncio
import io
import os
import random
import statistics
import threading
import time
from pathlib import Path

from benchmarks.server import memory_mb  # the one reading of /proc; server.py imports this module lazily

ANSWER_TIMEOUT = 60.0   # seconds after pen-up before a drawing counts as unanswered
SWITCH_EVERY = 4        # drawings between page switches, per visitor
# Every WebSocket message's time (and size, received), so a drawing's time can be split.
HOOK = """(() => {
  const Real = window.WebSocket;
  window.__ws = {sent: [], received: []};
  function Hooked(...args) {
    const socket = new Real(...args);
    const send = socket.send.bind(socket);
    socket.send = (data) => { window.__ws.sent.push([performance.now(), data.byteLength || data.size || data.length || 0]);
                              return send(data); };
    socket.addEventListener('message', (event) => window.__ws.received.push(
      [performance.now(), event.data.byteLength || event.data.size || event.data.length || 0]));
    return socket;
  }
  Hooked.prototype = Real.prototype;
  Object.assign(Hooked, Real);
  window.WebSocket = Hooked;
})();"""
ANSWER = """() => [...document.querySelectorAll('[data-testid=stMarkdownContainer]')]
  .some(e => e.checkVisibility() && e.innerText.startsWith('The model says'))"""
SPLIT = """([penUp, answered]) => {
  const first_sent = window.__ws.sent.find(([t]) => t >= penUp);
  const sent = first_sent ? first_sent[0] : null;
  const sent_bytes = window.__ws.sent.filter(([t]) => t >= penUp && t <= answered).reduce((s, [, b]) => s + b, 0);
  const got = window.__ws.received.filter(([t]) => t >= (sent ?? penUp) && t <= answered);
  const first = got.length ? got[0][0] : null, last = got.length ? got[got.length - 1][0] : null;
  const known = sent != null && last != null;
  return {send: sent == null ? null : sent - penUp, first_reply: known ? first - sent : null,
          server: known ? last - sent : null, browser: last == null ? null : answered - last,
          bytes: got.reduce((s, [, b]) => s + b, 0), sent_bytes};
}"""


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class Sampler:
    """The server's resident memory five times a second: its peak and its last value."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._done = pid, memory_mb(pid), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._done.wait(0.2):
            self.peak = max(self.peak, memory_mb(self.pid))

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return round(self.peak, 1)


async def idle(page, timeout: float = 60) -> None:
    await page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", timeout=timeout * 1000)


async def open_predict(context, url: str):
    page = await context.new_page()
    await page.add_init_script(HOOK)
    await page.goto(url)
    await idle(page)
    await page.get_by_role("link", name="Predict").click()
    await page.get_by_text("Draw a digit in the black square").wait_for(timeout=60_000)
    await idle(page)
    return page


async def draw(page, digit: str) -> dict:
    """Draw one digit; its pen-up to answer and the split, or {"missing": True} after ANSWER_TIMEOUT."""
    from tests.test_browser_predict import DIGITS

    canvas = page.locator("canvas.upper-canvas").first
    await canvas.wait_for(state="visible", timeout=30_000)
    box = await canvas.bounding_box()
    at = lambda x, y: (box["x"] + x * box["width"], box["y"] + y * box["height"])
    strokes = DIGITS[digit]
    pen_up = 0.0
    for index, points in enumerate(strokes):
        await page.mouse.move(*at(*points[0]))
        await page.mouse.down()
        for point in points[1:]:
            await page.mouse.move(*at(*point), steps=12)
        if index == len(strokes) - 1:
            pen_up = await page.evaluate("performance.now()")
        await page.mouse.up()
    try:
        await page.wait_for_function(ANSWER, timeout=ANSWER_TIMEOUT * 1000, polling="raf")
    except Exception:
        return {"missing": True}
    answered = await page.evaluate("performance.now()")
    split = await page.evaluate(SPLIT, [pen_up, answered])
    caption = page.get_by_text("Preprocessed and answered in")
    text = await caption.first.inner_text() if await caption.count() else ""
    model_ms = float(text.split(" in ")[1].split(" ms")[0]) if " ms" in text else None
    return {"seconds": (answered - pen_up) / 1000, **split, "model_ms": model_ms}


async def clear(page) -> None:
    await idle(page)
    await page.get_by_role("button", name="Clear").click()
    await page.get_by_text("Draw a digit in the black square").wait_for(timeout=60_000)
    await idle(page)
    await page.wait_for_timeout(500)  # the new canvas's Fabric.js sets itself up after the rerun


async def switch_pages(page) -> None:
    for name in ("Train", "Filters", "Predict"):
        await page.get_by_role("link", name=name).click()
        await idle(page)
    await page.get_by_text("Draw a digit in the black square").wait_for(timeout=60_000)
    await page.wait_for_timeout(500)


async def visitor(browser, url: str, deadline: float, seed: int, minimum: int = 0) -> list[dict]:
    rng = random.Random(seed)
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    results = []
    try:
        page = await open_predict(context, url)
        while time.monotonic() < deadline or len(results) < minimum:
            try:
                # One-stroke digits: a second stroke would find the first stroke's answer already shown.
                results.append(await draw(page, rng.choice("10")))
                await clear(page)
                if len(results) % SWITCH_EVERY == 0:
                    await switch_pages(page)
            except Exception as error:  # A page that stopped answering (a switch, a Clear): noted, opened afresh.
                results.append({"error": f"{type(error).__name__}: {str(error).splitlines()[0][:100]}"})
                await page.close()
                page = await open_predict(context, url)
    finally:
        await context.close()
    return results


async def drive(url: str, count: int, seconds: float, minimum: int = 0) -> list[dict]:
    from playwright.async_api import async_playwright

    from tests.browser_support import CHROMIUM, CHROMIUM_ARGS

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        deadline = time.monotonic() + seconds
        runs = await asyncio.gather(*(visitor(browser, url, deadline, seed, minimum) for seed in range(count)))
        await browser.close()
    return [result for run in runs for result in run]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def summary(results: list[dict]) -> dict:
    errors = [r["error"] for r in results if "error" in r]
    drawings = [r for r in results if "error" not in r]
    answered = [r for r in drawings if not r.get("missing")]
    times = [r["seconds"] for r in answered]
    figures = {"drawings": len(drawings), "answered": len(answered), "missing": len(drawings) - len(answered),
               "page_timeouts": len(errors), "timeout_kinds": sorted(set(errors))[:5]}
    if times:
        figures.update(median_s=round(statistics.median(times), 3), p95_s=round(percentile(times, 0.95), 3),
                       slowest_s=round(max(times), 3))
        for part in ("send", "first_reply", "server", "browser", "model_ms"):
            values = [r[part] for r in answered if r.get(part) is not None]
            if values:
                figures[f"{part}_median" + ("" if part == "model_ms" else "_ms")] = round(statistics.median(values), 1)
                figures[f"{part}_p95" + ("" if part == "model_ms" else "_ms")] = round(percentile(values, 0.95), 1)
        figures["reply_kb_median"] = round(statistics.median(r["bytes"] for r in answered) / 1024, 1)
        figures["sent_kb_median"] = round(statistics.median(r["sent_bytes"] for r in answered) / 1024, 1)
    return figures


def pin(cpus: str | None) -> None:
    """Pin this process (and the browsers it starts) to ``cpus`` ("1" or "1,2")."""
    if cpus:
        os.sched_setaffinity(0, {int(cpu) for cpu in cpus.split(",")})


def measure_visitors(args) -> dict:
    """The --visitors mode: see the module docstring."""
    from benchmarks.server import queue_run
    from cnn_core.common.runs import RunStore
    from tests.browser_support import start_app, stop_app

    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="cnnlab-visitors-"))
    store = RunStore(folder / "runs")
    prefix = ["taskset", "-c", args.server_cpus] if args.server_cpus else []
    process, url = start_app(folder / "runs", folder / "server.log", prefix=prefix)
    pin(args.browser_cpus)
    figures = {"visitors": args.visitors, "minutes": args.minutes, "server_cpus": args.server_cpus,
               "browser_cpus": args.browser_cpus}
    try:
        asyncio.run(drive(url, 1, 0, minimum=SWITCH_EVERY))  # a first visitor: models and data loaded once
        time.sleep(2)
        figures["server_mb_before"] = round(memory_mb(process.pid), 1)
        run_id = queue_run(store, 1_000_000)
        while store.read(run_id).status == "queued" or not store.read_history(run_id):
            time.sleep(0.5)
        sampler, cpu_before, began = Sampler(process.pid), cpu_seconds(process.pid), time.monotonic()
        results = asyncio.run(drive(url, args.visitors, args.minutes * 60))
        figures["server_cpu_share"] = round((cpu_seconds(process.pid) - cpu_before) / (time.monotonic() - began), 2)
        figures["server_mb_peak"] = sampler.stop()
        end_run(store, run_id)
        figures["training_steps_meanwhile"] = (store.read_history(run_id) or [{}])[-1].get("step")
        time.sleep(args.settle)
        figures["server_mb_after"] = round(memory_mb(process.pid), 1)
        figures["settle_s"] = args.settle
        figures.update(summary(results))
    finally:
        for run in store.list_runs()[0]:
            end_run(store, run.run_id)
        stop_app(process)
    return figures


def end_run(store, run_id: str, timeout: float = 120) -> None:
    """Stop a run this benchmark queued and wait for its worker to exit (a worker outlives its server)."""
    info = store.read(run_id)
    if info.status not in ("queued", "running"):
        return
    store.request_stop(run_id)
    deadline = time.monotonic() + timeout
    while store.read(run_id).status in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.5)
    pid = store.read(run_id).status_info.get("pid")
    command = Path(f"/proc/{pid}/cmdline")
    if isinstance(pid, int) and command.exists() and "cnn_core.worker" in command.read_text(errors="replace"):
        os.kill(pid, 9)  # its own worker, by its pid, if it did not stop in time


def big_png() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (4096, 4096), (0, 0, 0, 0))
    ImageDraw.Draw(image).line([(2048, 600), (2048, 3500)], fill=(255, 255, 255, 255), width=340)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


async def upload_all(url: str, count: int, data: bytes) -> tuple[list[bool], float]:
    from playwright.async_api import async_playwright

    from tests.browser_support import CHROMIUM, CHROMIUM_ARGS

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pages = [await open_predict(await browser.new_context(), url) for _ in range(count)]
        for page in pages:
            await page.get_by_role("tab", name="Upload an image").click()

        async def one(page) -> bool:
            await page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(
                {"name": "big.png", "mimeType": "image/png", "buffer": data})
            try:
                await page.wait_for_function(ANSWER, timeout=ANSWER_TIMEOUT * 1000)
                return True
            except Exception:
                return False

        began = time.monotonic()
        answered = await asyncio.gather(*(one(page) for page in pages))
        seconds = time.monotonic() - began
        await browser.close()
    return list(answered), seconds


def measure_uploads(args) -> dict:
    """The --uploads mode: see the module docstring."""
    from tests.browser_support import start_app, stop_app

    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="cnnlab-uploads-"))
    prefix = ["taskset", "-c", args.server_cpus] if args.server_cpus else []
    process, url = start_app(folder / "runs", folder / "server.log", prefix=prefix)
    pin(args.browser_cpus)
    data = big_png()
    try:
        asyncio.run(drive(url, 1, 0, minimum=1))
        time.sleep(2)
        figures = {"uploads": args.uploads, "png_kb": round(len(data) / 1024), "server_mb_before": round(memory_mb(process.pid), 1)}
        sampler = Sampler(process.pid)
        answered, seconds = asyncio.run(upload_all(url, args.uploads, data))
        figures["seconds_to_all_answers"] = round(seconds, 1)
        figures["server_mb_peak"] = sampler.stop()
        figures["answered"] = sum(answered)
        time.sleep(args.settle)
        figures["server_mb_after"] = round(memory_mb(process.pid), 1)
    finally:
        stop_app(process)
    return figures
