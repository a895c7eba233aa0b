"""Real browser: JupyterLab serves notebook 01, headless Chromium runs it and drives the sanitize panel."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import DATA, ROOT, missing

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_SECONDS = 90
KERNEL_SECONDS = 60
CELLS_SECONDS = int(os.environ.get("PKTMASK_CELLS_SECONDS", 120))  # run all cells: kernel start, imports, the explorer
RUN_SECONDS = 60  # the panel's run and its tables
CHUNK_SIZE = 16
SCREENSHOT = "jupyterlab_sanitize_panel.png"
SCREENSHOT_DIR_ENV = "PKTMASK_SCREENSHOT_DIR"  # where to copy the screenshot as well (optional)
LAB_SETTINGS = {  # no news or update toasts over the screenshot
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def _require_browser_stack() -> None:
    if not os.access(CHROMIUM, os.X_OK):
        missing(CHROMIUM)
    for module in ("playwright", "jupyterlab", "ipykernel", "jupyterlab_widgets"):
        if importlib.util.find_spec(module) is None:
            missing(f"the Python package {module}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lab_root(tmp_path: Path) -> Path:
    """A private copy of the notebooks and data: the browser session may save or change them."""
    root = tmp_path / "lab"
    (root / "notebooks").mkdir(parents=True)
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        shutil.copy(notebook, root / "notebooks")
    shutil.copytree(DATA, root / "data")
    return root


def _write_settings(settings_dir: Path) -> None:
    for name, values in LAB_SETTINGS.items():
        path = settings_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def _wait_ready(proc: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(0.3)
    pytest.fail(f"JupyterLab did not answer within {SERVER_START_SECONDS} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on 127.0.0.1 and a free port, over a copy of notebooks/ and data/."""
    _require_browser_stack()
    root, port, token = _lab_root(tmp_path), _free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    for name in ("JUPYTER_RUNTIME_DIR", "JUPYTER_CONFIG_DIR", "JUPYTERLAB_WORKSPACES_DIR", "IPYTHONDIR"):
        env[name] = str(tmp_path / name.lower())
    env["JUPYTERLAB_SETTINGS_DIR"] = str(tmp_path / "lab_settings")
    _write_settings(tmp_path / "lab_settings")
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--allow-root", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}", "--ServerApp.terminals_enabled=False", "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.extension_manager=readonly",
    ]  # fmt: skip
    log = tmp_path / "jupyterlab.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(proc, f"{base}/api/status?token={token}", log)
        yield {"base": base, "token": token, "root": root, "log": log}
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server and what it started (its kernels share its new session's process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # kernels that outlived the server


KERNEL_READY = """() => {
    const name = document.querySelector('.jp-NotebookPanel .jp-Toolbar-kernelName');
    const state = document.querySelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator');
    return name && !name.textContent.includes('No Kernel') && state && state.dataset.status === 'idle';
}"""  # the notebook's kernel is connected and idle (Run All before that asks which kernel to start)


EVERY_CELL_RAN = """cells => {
    const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')];
    return prompts.length === cells && prompts.every(p => /^\\[\\d+\\]:$/.test(p.textContent.trim()));
}"""  # every code cell shows an execution count: none waiting ([*]) or skipped ([ ])


def _code_cells() -> int:
    book = json.loads((ROOT / "notebooks" / "01_explore.ipynb").read_text())
    return sum(cell["cell_type"] == "code" for cell in book["cells"])


def _run_all_cells(page) -> None:
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()


def _wait_text(page, locator, text: str) -> None:
    """Wait until `locator`'s text is exactly `text` (widget updates reach the page asynchronously)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            "([el, text]) => el.textContent.trim() === text", arg=[locator.element_handle(), text], timeout=10_000
        )
    except PlaywrightTimeout:
        pytest.fail(f"expected {text!r}, the page shows {locator.inner_text()!r}")


def _check_status_follows_the_settings(page, panel, data: Path) -> None:
    """After the run: another input says Ready, a bad key says why Run is off, the run's settings say Done."""
    status, run = panel.locator(".pktmask-status"), panel.locator("button.pktmask-run")
    tables, key = panel.locator(".pktmask-tables"), panel.locator(".pktmask-key input")
    done = status.inner_text()
    source = panel.locator(".pktmask-input input")
    original = source.input_value()
    source.fill(str(data / "vlan_ipv6.pcap"))
    _wait_text(page, status, f"Ready: vlan_ipv6.pcap, chunk size {CHUNK_SIZE}")
    # each widget's update reaches the page on its own: the status may show before the tables hide
    tables.wait_for(state="hidden", timeout=10_000)
    panel.locator(".pktmask-live-plot").wait_for(state="hidden", timeout=10_000)
    assert run.is_enabled()
    key.fill("abc")
    _wait_text(page, status, "Cannot run: key must be 64 hex digits (or empty for a random key)")
    assert run.is_disabled()
    key.fill("")
    source.fill(original)
    _wait_text(page, status, done)  # the run's own settings again: its numbers again
    assert tables.is_visible() and run.is_enabled()


def test_notebook_01_panel_in_jupyterlab(jupyterlab, tmp_path):
    from playwright.sync_api import sync_playwright

    url = f"{jupyterlab['base']}/lab/tree/notebooks/01_explore.ipynb?token={jupyterlab['token']}"
    shot = tmp_path / SCREENSHOT
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1300})
            page.goto(url)
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=SERVER_START_SECONDS * 1000)
            page.wait_for_function(KERNEL_READY, timeout=KERNEL_SECONDS * 1000)
            _run_all_cells(page)
            panel = page.locator(".pktmask-panel")
            panel.wait_for(state="visible", timeout=CELLS_SECONDS * 1000)
            page.wait_for_function(EVERY_CELL_RAN, arg=_code_cells(), timeout=CELLS_SECONDS * 1000)
            assert "Traceback" not in page.locator(".jp-Notebook").text_content()

            chunk = panel.locator(".pktmask-chunk-size input")
            chunk.fill(str(CHUNK_SIZE))
            chunk.press("Enter")
            slider = panel.locator(".widget-readout").first
            page.wait_for_function(
                "el => el.textContent.trim() === '4'", arg=slider.element_handle(), timeout=10_000
            )  # log2(16): the slider followed the box

            panel.locator("button.pktmask-run").click()
            status = panel.locator(".pktmask-status")
            status.get_by_text(f"chunks of {CHUNK_SIZE} packets").wait_for(timeout=RUN_SECONDS * 1000)
            table = panel.locator(".pktmask-tables table.dataframe").first
            table.wait_for(state="visible", timeout=RUN_SECONDS * 1000)
            image = panel.locator(".pktmask-live-plot img").first
            image.wait_for(state="visible", timeout=RUN_SECONDS * 1000)

            assert "97 → 97 packets" in status.inner_text()  # tls_http.pcap has no duplicates
            assert "packets_in" in table.inner_text() and "97" in table.inner_text()
            assert image.evaluate("img => img.naturalWidth") > 200
            assert panel.locator(".pktmask-error").is_hidden()
            titles = panel.locator(".pktmask-tables .lm-TabBar-tabLabel").all_inner_texts()
            assert titles[:3] == ["summary", "chunks", "stage_times"]

            panel.scroll_into_view_if_needed()
            page.screenshot(path=str(shot))
            _check_status_follows_the_settings(page, panel, jupyterlab["root"] / "data")
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"))
            print(f"failure screenshot: {tmp_path / 'failure.png'}; server log: {jupyterlab['log']}")
            raise
        finally:
            browser.close()
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 10_000
    if os.environ.get(SCREENSHOT_DIR_ENV):
        target = Path(os.environ[SCREENSHOT_DIR_ENV])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target / SCREENSHOT)
