"""The reports in a real browser: headless Chromium, driven over the DevTools protocol.

Checks that every image decodes (``naturalWidth > 0``), that the page requests nothing but
itself and its ``data:`` URIs, that the folder table sorts on a click, and saves a
screenshot of each page under the test's tmp_path (``report.png``, ``folder.png``).

Chromium is Debian's ``chromium`` package. When it is missing and we are root, the session
fixture installs it (``apt-get update && apt-get install -y chromium``); otherwise, or if the
install fails, the tests are skipped with the reason. The DevTools client is the small
``websocket-client`` package (in the ``test`` extra).
"""

from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
TIMEOUT = 120.0  # seconds per DevTools step: generous, the test machine is shared


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a Chromium binary, installed with apt-get when missing and possible."""
    found = shutil.which("chromium") or (CHROMIUM if os.path.exists(CHROMIUM) else None)
    if found:
        return found
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("chromium is not installed and cannot be (needs root and apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
        except (OSError, subprocess.TimeoutExpired) as e:
            pytest.skip(f"could not install chromium: {' '.join(command)}: {e}")
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
            pytest.skip(f"could not install chromium: {' '.join(command)}: {tail[0]}")
    found = shutil.which("chromium")
    if not found:
        pytest.skip("apt-get installed chromium but no chromium binary is on PATH")
    return found


class DevTools:
    """A minimal Chrome DevTools Protocol client over one websocket (flattened sessions)."""

    def __init__(self, url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(url, timeout=TIMEOUT, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)
        raise TimeoutError(method)

    def wait_for(self, method: str) -> dict:
        deadline = time.monotonic() + TIMEOUT
        for event in self.events:
            if event.get("method") == method:
                return event
        while time.monotonic() < deadline:
            event = json.loads(self.ws.recv())
            self.events.append(event)
            if event.get("method") == method:
                return event
        raise TimeoutError(method)

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def browser(chromium, tmp_path):
    """A headless Chromium with remote debugging; killed in the finalizer whatever happens."""
    pytest.importorskip("websocket", reason="websocket-client is needed to drive chromium")
    args = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--remote-debugging-port=0",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--no-first-run",
        "--disable-quic",
        "--hide-scrollbars",
        "--window-size=1280,900",
        "about:blank",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()

    def drain() -> None:  # keep reading, or a chatty browser blocks on a full pipe
        for line in proc.stderr:
            lines.put(line)

    threading.Thread(target=drain, daemon=True).start()
    client = None
    try:
        deadline = time.monotonic() + TIMEOUT
        url = None
        while url is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1.0)
            except queue.Empty:
                if proc.poll() is not None:
                    pytest.fail(f"chromium exited with {proc.returncode} before DevTools started")
                continue
            if "DevTools listening on ws://" in line:
                url = line.split("listening on ", 1)[1].strip()
        if url is None:
            pytest.fail("chromium did not report a DevTools address in time")
        client = DevTools(url)
        yield client
    finally:
        if client is not None:
            client.close()
        proc.kill()
        proc.wait(timeout=30)


def open_page(devtools: DevTools, path: Path) -> tuple[str, list[str]]:
    """Open ``path`` in a new tab; returns the tab's session and every URL it requested."""
    target = devtools.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = devtools.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
        "sessionId"
    ]
    devtools.send("Network.enable", {}, session)
    devtools.send("Page.enable", {}, session)
    devtools.events.clear()
    devtools.send("Page.navigate", {"url": path.resolve().as_uri()}, session)
    devtools.wait_for("Page.loadEventFired")
    requested = [
        e["params"]["request"]["url"]
        for e in devtools.events
        if e.get("method") == "Network.requestWillBeSent" and e.get("sessionId") == session
    ]
    return session, requested


def evaluate(devtools: DevTools, session: str, expression: str):
    result = devtools.send(
        "Runtime.evaluate",
        {"expression": expression, "returnByValue": True, "awaitPromise": True},
        session,
    )
    return result["result"].get("value")


def screenshot(devtools: DevTools, session: str, path: Path) -> Path:
    """A PNG of the whole page (the viewport is stretched to the page's height first)."""
    size = evaluate(
        devtools,
        session,
        "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]",
    )
    width, height = max(int(size[0]), 800), min(int(size[1]), 16000)
    devtools.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        session,
    )
    shot = devtools.send("Page.captureScreenshot", {"format": "png"}, session)
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


IMAGES = (
    "Promise.all(Array.from(document.images).map(i => i.decode().then(() => 0, () => 0)))"
    ".then(() => Array.from(document.images).map(i => [i.complete, i.naturalWidth]))"
)


def assert_nothing_left_the_page(page: Path, requested: list[str]) -> None:
    document = page.resolve().as_uri()
    assert document in requested
    strays = [u for u in requested if u != document and not u.startswith("data:")]
    assert strays == [], strays


def test_run_report_in_chromium(browser, trained_run_dir, tmp_path):
    from untwine.metrics import evaluate_run
    from untwine.viz.report import write_run_report

    run_dir = tmp_path / "run"
    shutil.copytree(trained_run_dir, run_dir)
    evaluate_run(run_dir, ["mig"], seed=0, num_points=256)
    page = write_run_report(run_dir, num_points=128)
    session, requested = open_page(browser, page)
    assert_nothing_left_the_page(page, requested)
    images = evaluate(browser, session, IMAGES)
    assert len(images) == 7
    assert all(complete and width > 0 for complete, width in images), images
    shot = screenshot(browser, session, tmp_path / "report.png")
    assert shot.stat().st_size > 10_000


def test_folder_report_in_chromium_sorts_and_marks(browser, folder_of_runs, tmp_path):
    from untwine.viz.report import write_folder_report

    page = write_folder_report(tmp_path / "runs")
    session, requested = open_page(browser, page)
    assert_nothing_left_the_page(page, requested)
    images = evaluate(browser, session, IMAGES)
    assert images and all(complete and width > 0 for complete, width in images), images
    column = (
        "Array.from(document.querySelectorAll('#runs tbody tr'))"
        ".map(r => r.cells[{i}].textContent.trim())"
    )
    header = evaluate(
        browser,
        session,
        "Array.from(document.querySelectorAll('#runs th')).map(c => c.textContent)",
    )
    beta = header.index("beta")
    evaluate(browser, session, f"document.querySelectorAll('#runs th')[{beta}].click()")
    values = evaluate(browser, session, column.format(i=beta))
    numbers = [float(v) for v in values if v]
    assert numbers == sorted(numbers) and values[len(numbers) :] == [""] * (
        len(values) - len(numbers)
    )  # ascending, the runs without a beta (pending: no config) last
    evaluate(browser, session, f"document.querySelectorAll('#runs th')[{beta}].click()")
    values = evaluate(browser, session, column.format(i=beta))
    assert [float(v) for v in values if v] == sorted(numbers, reverse=True)
    states = evaluate(browser, session, column.format(i=1))
    assert sorted(states) == ["done", "done", "failed", "failed", "interrupted", "pending"]
    screenshot(browser, session, tmp_path / "folder.png")
