"""Issue 10's figures: a light web server beside a training worker, measured with real Chromium visitors.

    python benchmarks/server.py [--strokes 20] [--steps 400] [--repeats 2] [--json]
    python benchmarks/server.py --visitors 8 --minutes 2 --settle 120 --server-cpus 0 --browser-cpus 1
    python benchmarks/server.py --uploads 5 --server-cpus 0 --browser-cpus 1

The last two are the many-visitor modes of ``benchmarks/visitor_load.py`` (its docstring says what
they measure): eight visitors drawing and switching pages while a run trains, with the server and
the browsers pinned to different cores; and five visitors uploading a 4096x4096 RGBA PNG at once.

Starts ``streamlit run app.py`` on a free port with an empty runs folder, then measures, in one run:

1. single-image prediction in the server: LiteRT (what the pages use) and, side by side, the
   TensorFlow forward pass the server used before (median and p95 over 2,000 calls, one process);
2. the server's memory after one visitor has used every page (Home, Train, Filters with feature
   maps, Predict: a drawing, a sampled digit, an upload), no run training;
3. a seed-preset run launched from the Train page, while five visitors use the pages: the peak of
   server plus worker memory, sampled five times a second until the worker exits (training, then
   the run's analysis);
4. pen-up to answer on screen, on the Predict page, over ``--strokes`` strokes while that run trains
   (includes the canvas component's own 200 ms send delay);
5. Stop: seconds until the worker acknowledges a stop request, and until it has saved;
6. training throughput of a worker (the seed CNN, ``--steps`` steps at batch 50) with five visitors'
   pages open vs none, alternating ``--repeats`` times: the ratio of medians.

Needs Debian's chromium and playwright (as the browser tests), and the data (CNN_DATA_DIR). Takes
five to ten minutes on two cores. Figures print as a table, or one JSON line with ``--json``.
"""
from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnn_core.common.config import ModelConfig, TrainConfig  # noqa: E402
from cnn_core.common.runs import RunStore  # noqa: E402


def memory_mb(pid: int) -> float:
    """Resident memory of a process, from /proc (0 once it has gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class PeakMemory:
    """The peak of the summed resident memory of the server and every worker seen so far that still
    lives: a worker goes on after its run reads "completed", with the run's analysis."""

    def __init__(self, server_pid: int, store: RunStore):
        self.server_pid, self.store, self.peak = server_pid, store, 0.0
        self.seen: set[int] = set()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _workers(self) -> list[int]:
        pids = []
        for run in self.store.list_runs()[0]:
            if run.status == "running" and isinstance(run.status_info.get("pid"), int):
                pids.append(run.status_info["pid"])
        return pids

    def _sample(self) -> None:
        while not self._done.wait(0.2):
            self.seen |= {pid for pid in self._workers() if pid != self.server_pid}
            total = memory_mb(self.server_pid) + sum(memory_mb(pid) for pid in self.seen)
            self.peak = max(self.peak, total)

    def wait_for_workers(self, timeout: float = 300) -> None:
        """Until every worker seen has exited (its analysis done)."""
        deadline = time.time() + timeout
        while any(memory_mb(pid) for pid in self.seen) and time.time() < deadline:
            time.sleep(0.5)

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return self.peak


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def predict_latency(calls: int = 2000) -> dict:
    """Single-image prediction through LiteRT (the server's path), ms."""
    from cnn_core.common.data import load_dataset
    from cnn_core.server.catalogue import DEFAULT_FOLDER
    from cnn_core.server.serving import ServedModel

    images = load_dataset("mnist").test_images[:calls].astype(np.float32) / 255.0
    figures = {}
    served = ServedModel(DEFAULT_FOLDER)
    for name, predict in (("litert", served.predict),):
        predict(images[0])
        timings = []
        for image in images:
            began = time.perf_counter()
            predict(image)
            timings.append((time.perf_counter() - began) * 1000)
        figures[name] = {"median_ms": round(statistics.median(timings), 3), "p95_ms": round(percentile(timings, 0.95), 3)}
    figures["model"] = DEFAULT_FOLDER.name
    return figures


def upload_png() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(image).line([(100, 30), (100, 170)], fill=0, width=18)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def use_every_page(browser, url: str) -> None:
    """One visitor: Home, Train, Filters (another digit's maps), Predict (draw, sample, upload)."""
    from tests.browser_support import open_page, wait_idle
    from tests.test_browser_predict import draw_digit

    page = open_page(browser, url)
    for name in ("Train", "Filters"):
        page.get_by_role("link", name=name).click()
        wait_idle(page)
    page.get_by_label("Test image number").fill("5")
    page.get_by_label("Test image number").press("Enter")
    wait_idle(page)
    page.get_by_role("link", name="Predict").click()
    page.get_by_text("Draw a digit in the black square").wait_for(timeout=60_000)
    wait_idle(page)
    draw_digit(page, "7")
    page.get_by_role("tab", name="Sample a test digit").click()
    page.get_by_role("button", name="Sample a test digit").click()
    wait_idle(page)
    page.get_by_role("tab", name="Upload an image").click()
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files(
        {"name": "one.png", "mimeType": "image/png", "buffer": upload_png()})
    wait_idle(page)
    page.context.close()


def open_visitors(browser, url: str) -> list:
    """Five visitors' pages: two on Train (polling the live run), two on Predict, one on Filters."""
    from tests.browser_support import open_page

    return [open_page(browser, url, path) for path in ("train", "train", "predict", "predict", "filters")]


def queue_run(store: RunStore, steps: int | None = None) -> str:
    """Put a run in the server's queue by making its folder (the queue is the run folders)."""
    train = TrainConfig() if steps is None else TrainConfig(iterations=steps, eval_every=steps)
    return store.create({"model": ModelConfig().to_dict(), "train": train.to_dict()})


def wait_finished(store: RunStore, run_id: str, timeout: float = 900) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = store.read(run_id)
        if info.status not in ("queued", "running"):
            return info.metrics
        time.sleep(0.5)
    raise TimeoutError(f"run {run_id} did not finish in {timeout:.0f} s")


def stop_latency(store: RunStore) -> dict:
    """Seconds from a stop request (the ``stop`` file the page's Stop also leaves) until the worker's
    training loop acknowledged it, and until the run was saved and marked stopped."""
    run_id = queue_run(store, 100_000)
    while len(store.read_history(run_id)) < 3:
        time.sleep(0.2)
    asked = time.time()
    store.request_stop(run_id)
    acknowledged = None
    while store.read(run_id).status in ("queued", "running"):
        if acknowledged is None:
            try:
                if json.loads((store.path(run_id) / "heartbeat").read_text()).get("stopping"):
                    acknowledged = time.time() - asked
            except (OSError, ValueError):
                pass
        time.sleep(0.02)
    info = store.read(run_id)
    return {"acknowledged_s": round(acknowledged, 2) if acknowledged is not None else None,
            "saved_and_stopped_s": round(time.time() - asked, 2), "status": info.status,
            "steps": info.metrics.get("steps")}


def pen_latencies(browser, url: str, strokes: int) -> list[float]:
    from tests.test_browser_predict import clear, draw_digit, open_predict

    page = open_predict(browser, url)
    draw_digit(page, "1")  # warm-up
    latencies = []
    for _ in range(strokes):
        clear(page)
        latencies.append(draw_digit(page, "1"))
    page.context.close()
    return latencies


def measure(args) -> dict:
    from playwright.sync_api import sync_playwright

    from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, start_app, stop_app

    figures = {"predict": predict_latency()}
    folder = Path(tempfile.mkdtemp(prefix="cnnlab-bench-"))
    store = RunStore(folder / "runs")
    process, url = start_app(folder / "runs", folder / "server.log")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            use_every_page(browser, url)
            time.sleep(2)
            figures["server_mb_after_every_page"] = round(memory_mb(process.pid), 1)

            visitors = open_visitors(browser, url)
            peak = PeakMemory(process.pid, store)
            seed_run = queue_run(store)
            while store.read(seed_run).status == "queued" or not store.read_history(seed_run):
                time.sleep(0.5)
            latencies = pen_latencies(browser, url, args.strokes)
            seed_metrics = wait_finished(store, seed_run)
            peak.wait_for_workers()  # The run's analysis, in the same worker, after "completed".
            figures["peak_server_plus_worker_mb"] = round(peak.stop(), 1)
            figures["pen_up_to_answer_while_training_s"] = {
                "strokes": len(latencies), "median": round(statistics.median(latencies), 3),
                "p95": round(percentile(latencies, 0.95), 3)}
            figures["seed_run"] = {key: seed_metrics.get(key) for key in ("test_accuracy", "seconds", "images_per_second")}

            for page in visitors:
                page.context.close()
            figures["stop"] = stop_latency(store)
            speeds = {"open": [], "none": []}
            for _ in range(args.repeats):
                for condition in ("none", "open"):
                    pages = open_visitors(browser, url) if condition == "open" else []
                    run_id = queue_run(store, args.steps)
                    speeds[condition].append(wait_finished(store, run_id)["images_per_second"])
                    for page in pages:
                        page.context.close()
            figures["throughput_images_per_s"] = {key: [round(v) for v in values] for key, values in speeds.items()}
            figures["throughput_ratio_open_vs_none"] = round(
                statistics.median(speeds["open"]) / statistics.median(speeds["none"]), 3)
            browser.close()
    finally:
        stop_app(process)
    figures["cpu"] = cpu_line()
    return figures


def cpu_line() -> str:
    import os

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown CPU")
    return f"{model}, {os.cpu_count()} cores"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strokes", type=int, default=20)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--visitors", type=int, help="the many-visitor mode: this many visitors drawing")
    parser.add_argument("--uploads", type=int, help="the upload mode: this many visitors uploading at once")
    parser.add_argument("--minutes", type=float, default=2.0, help="--visitors: how long they draw")
    parser.add_argument("--settle", type=float, default=120.0, help="seconds after the visitors leave to read memory")
    parser.add_argument("--server-cpus", help="taskset CPU list for the server and its workers, e.g. 0")
    parser.add_argument("--browser-cpus", help="CPU list for the browsers (and this script), e.g. 1")
    args = parser.parse_args()
    if args.visitors or args.uploads:
        from benchmarks import visitor_load

        figures = visitor_load.measure_visitors(args) if args.visitors else visitor_load.measure_uploads(args)
        figures["cpu"] = cpu_line()
    else:
        figures = measure(args)
    if args.json:
        print(json.dumps(figures))
    else:
        print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
