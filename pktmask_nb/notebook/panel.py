"""The sanitize panel: ipywidgets over `pktmask_nb.run`, its state a plain dict drawn by the pure `render`."""

from __future__ import annotations

import copy
import html
import math
import os
from pathlib import Path

import ipywidgets as w
from IPython.display import display
from matplotlib.figure import Figure

from .. import api
from ..config import ANON_MAC, DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, STAGE_ORDER, AnonymizeConfig, Config, MaskConfig
from ..errors import UsageError
from ..words import plural
from .frames import MB, chunks_frame, run_frames
from .plots import plot_memory, plot_stage_times
from .show import Throttle, show, show_figure

PLOT_INTERVAL = 0.5  # seconds between live plot redraws
PROGRESS_INTERVAL = 0.1  # seconds between progress updates
MAX_CHUNK_EXPONENT = math.ceil(math.log2(MAX_CHUNK_SIZE))
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".cap.gz")
TABLE_TABS = ("summary", "chunks", "stage_times", "stages", "mapping", "flows", "duplicates")
BAR_STYLES = {"idle": "", "running": "info", "done": "success", "error": "danger"}
CSS_CLASS = "pktmask-panel"
SETTINGS = (
    "path",
    "output",
    "force",
    "stages",
    "key",
    "anon_mac",
    "anon_dns",
    "http_headers",
    "tls_names",
    "chunk_size",
)


def initial_state(path: str = "") -> dict:
    """The panel's whole state: settings (what the widgets hold) and the run's progress."""
    return {
        "path": path,
        "output": "",
        "force": False,
        "stages": list(STAGE_ORDER),
        "key": "",
        "anon_mac": "none",  # MAC anonymization: none, keep-oui, all
        "anon_dns": False,  # rewrite DNS answers, keep DNS structure
        "http_headers": False,
        "tls_names": False,  # zero TLS server and certificate names
        "chunk_size": DEFAULT_CHUNK_SIZE,
        "status": "idle",  # idle, running, done, error
        "error": "",
        "metrics": [],  # ChunkMetrics of the current run, as they come
        "position": 0,  # input file bytes consumed
        "file_size": 0,
        "result": None,  # RunResult of the last finished run
        "ran_with": None,  # the settings of the last run, as `run_settings` gives them
    }


def run_settings(state: dict) -> dict:
    """The settings a run depends on (a copy), to tell whether a finished run still describes them."""
    return {name: copy.copy(state[name]) for name in SETTINGS}


def shown_status(state: dict) -> str:
    """The status to show: a finished run's only while the settings are the ones it ran with."""
    status = state["status"]
    if status in ("done", "error") and run_settings(state) != state["ran_with"]:
        return "idle"
    return status


def chunk_size_for(exponent: int) -> int:
    """The chunk size a log-slider position stands for: 2**exponent, capped at the maximum."""
    return min(2**exponent, MAX_CHUNK_SIZE)


def chunk_exponent(size: int) -> int:
    """The log-slider position nearest to a chunk size."""
    return min(max(round(math.log2(max(size, 1))), 0), MAX_CHUNK_EXPONENT)


def parse_key(text: str) -> bytes | None:
    """A Crypto-PAn key from 64 hex digits (spaces and colons allowed); None for an empty text."""
    digits = text.replace(" ", "").replace(":", "").strip()
    if not digits:
        return None
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise UsageError("key must be 64 hex digits (or empty for a random key)") from None


def config_from_state(state: dict) -> Config:
    """The validated `Config` the panel's settings describe; raises `UsageError` when invalid."""
    return Config(
        stages=tuple(state["stages"]),
        chunk_size=int(state["chunk_size"]),
        anonymize=AnonymizeConfig(key=parse_key(state["key"]), mac=state["anon_mac"], dns=state["anon_dns"]),
        mask=MaskConfig(
            keep=("http-headers",) if state["http_headers"] else (),
            tls_names="zero" if state["tls_names"] else "keep",
        ),
    )


def settings_problem(state: dict) -> str:
    """Why the settings cannot run, or ``""``."""
    if not str(state["path"]).strip():
        return "choose an input capture"
    try:
        config_from_state(state)
    except UsageError as error:
        return str(error)
    return ""


def _status_text(state: dict, status: str, problem: str) -> str:
    metrics = state["metrics"]
    name = Path(str(state["path"])).name
    if status == "running":
        packets = sum(m.packets_in for m in metrics)
        elapsed = metrics[-1].elapsed_seconds if metrics else 0.0
        return f"Running {name}: {plural(len(metrics), 'chunk')}, {plural(packets, 'packet', thousands=True)}, {elapsed:.2f} s"
    if status == "done":
        r = state["result"]
        return (
            f"Done: {name}, {r.packets_in:,} → {r.packets_out:,} packets, {r.bytes_read / MB:.2f} MB "
            f"in {r.seconds:.3f} s ({plural(len(r.chunks), 'chunk')} of {r.config['chunk_size']:,} packets)"
        )
    if status == "error":
        return f"Failed: {name}"
    return f"Cannot run: {problem}" if problem else f"Ready: {name}, chunk size {int(state['chunk_size']):,}"


def render(state: dict) -> dict:
    """What the widgets show for `state` (a pure function: no widgets, no I/O).

    Returns
    -------
    dict
        ``status`` (idle, running, done, error), ``status_text``, ``progress`` (0–1),
        ``bar_style``, ``run_disabled``, ``run_label``, ``error`` (text, ``""`` when none),
        ``tables`` (whether the result tables are shown) and ``plot`` (the live plot).
        A finished run is shown only while the settings are those it ran with; after a
        change the panel is idle again: ready, or why it cannot run.
    """
    status = shown_status(state)
    problem = settings_problem(state)
    size = state["file_size"]
    fraction = min(state["position"] / size, 1.0) if size else 0.0
    progress = {"idle": 0.0, "done": 1.0}.get(status, fraction)
    return {
        "status": status,
        "status_text": _status_text(state, status, problem),
        "progress": progress,
        "bar_style": BAR_STYLES[status],
        "run_disabled": status == "running" or bool(problem),
        "run_label": "Running…" if status == "running" else "Run",
        "error": state["error"] if status == "error" else "",
        "tables": status == "done",
        "plot": status != "idle",
    }


def capture_options(data_dir) -> list[str]:
    """Capture files under `data_dir` (sorted), for the input box's suggestions."""
    if data_dir is None or not Path(data_dir).is_dir():
        return []
    return sorted(str(p) for p in Path(data_dir).rglob("*") if p.name.endswith(CAPTURE_SUFFIXES))


class SanitizePanel:
    """Sanitize a capture from a notebook: settings, Run, live progress and plots, result tables.

    Parameters
    ----------
    path : str or os.PathLike, optional
        The input capture to start with.
    data_dir : str or os.PathLike, optional
        A folder whose captures the input box suggests.
    plot_interval : float
        Seconds between live plot redraws while a run goes.

    Attributes
    ----------
    state : dict
        Everything the panel knows (see `initial_state`); `render` turns it into the view.
    widget : ipywidgets.VBox
        The panel (displayed when the panel is a cell's value).
    result : RunResult or None
        The last finished run.
    """

    def __init__(self, path=None, *, data_dir=None, plot_interval: float = PLOT_INTERVAL):
        self.state = initial_state(os.fspath(path) if path is not None else "")
        self.plot_interval = plot_interval
        self.draws = 0  # live plot redraws (for tests)
        self._build(capture_options(data_dir))
        self._refresh()

    # -- widgets --------------------------------------------------------------------------
    def _build(self, options: list[str]) -> None:
        s = self.state
        wide = w.Layout(width="46%")
        self.input = w.Combobox(value=s["path"], options=options, description="input", layout=wide)
        self.input.add_class("pktmask-input")
        self.output = w.Text(value="", description="output", placeholder="optional: write the result here", layout=wide)
        self.force = w.Checkbox(value=False, description="overwrite", indent=False, layout=w.Layout(width="8em"))
        self.toggles = {name: w.ToggleButton(value=True, description=name, icon="check") for name in STAGE_ORDER}
        self.http = w.Checkbox(value=False, description="keep HTTP headers", indent=False)
        self.names = w.Checkbox(value=False, description="zero TLS names", indent=False)
        self.key = w.Text(
            description="key", placeholder="64 hex digits; empty: a random key", layout=w.Layout(width="60%")
        ).add_class("pktmask-key")
        self.mac = w.Dropdown(options=ANON_MAC, value=s["anon_mac"], description="MACs").add_class("pktmask-mac")
        self.dns = w.Checkbox(value=False, description="rewrite DNS", indent=False)
        self.slider = w.IntSlider(
            value=chunk_exponent(s["chunk_size"]), min=0, max=MAX_CHUNK_EXPONENT, description="chunk 2ⁿ",
            readout=True, continuous_update=False,
        )  # fmt: skip
        self.chunk_text = w.BoundedIntText(
            value=s["chunk_size"], min=1, max=MAX_CHUNK_SIZE, description="packets", layout=w.Layout(width="14em")
        ).add_class("pktmask-chunk-size")
        self.run_button = w.Button(description="Run", button_style="primary", icon="play").add_class("pktmask-run")
        self.progress = w.FloatProgress(value=0.0, min=0.0, max=1.0, description="progress")
        self.status = w.HTML().add_class("pktmask-status")
        self.error = w.HTML().add_class("pktmask-error")
        self.live = w.Output().add_class("pktmask-live-plot")
        self.tables = {name: w.Output() for name in TABLE_TABS}
        self.tabs = w.Tab(children=list(self.tables.values()), titles=TABLE_TABS).add_class("pktmask-tables")
        self.widget = w.VBox(
            [
                w.HBox([self.input, self.output, self.force]),
                w.HBox([*self.toggles.values(), self.http, self.names]),
                w.HBox([self.key, self.mac, self.dns]),
                w.HBox([self.slider, self.chunk_text, self.run_button]),
                w.HBox([self.progress, self.status]),
                self.error,
                self.live,
                self.tabs,
            ]
        ).add_class(CSS_CLASS)
        self._connect()

    def _connect(self) -> None:
        self.input.observe(lambda c: self._set(path=c["new"]), "value")
        self.output.observe(lambda c: self._set(output=c["new"]), "value")
        self.force.observe(lambda c: self._set(force=c["new"]), "value")
        for toggle in self.toggles.values():
            toggle.observe(self._on_stage, "value")
        self.http.observe(lambda c: self._set(http_headers=c["new"]), "value")
        self.names.observe(lambda c: self._set(tls_names=c["new"]), "value")
        self.key.observe(lambda c: self._set(key=c["new"]), "value")
        self.mac.observe(lambda c: self._set(anon_mac=c["new"]), "value")
        self.dns.observe(lambda c: self._set(anon_dns=c["new"]), "value")
        self.slider.observe(self._on_slider, "value")
        self.chunk_text.observe(self._on_chunk_text, "value")
        self.run_button.on_click(lambda _: self.run())

    def _set(self, **changes) -> None:
        self.state.update(changes)
        self._refresh()

    def _on_stage(self, change) -> None:
        for toggle in self.toggles.values():
            toggle.icon = "check" if toggle.value else ""
        self._set(stages=[name for name, t in self.toggles.items() if t.value])

    def _on_slider(self, change) -> None:
        size = chunk_size_for(change["new"])
        if chunk_exponent(self.chunk_text.value) != change["new"]:
            self.chunk_text.value = size  # calls _on_chunk_text

    def _on_chunk_text(self, change) -> None:
        self._set(chunk_size=change["new"])
        self.slider.value = chunk_exponent(change["new"])

    def _refresh(self) -> None:
        view = render(self.state)
        self.progress.value = view["progress"]
        self.progress.bar_style = view["bar_style"]
        self.run_button.disabled = view["run_disabled"]
        self.run_button.description = view["run_label"]
        self.error.value = f"<pre style='color:#b00020;white-space:pre-wrap'>{html.escape(view['error'])}</pre>"
        self.error.layout.display = "" if view["error"] else "none"
        self.tabs.layout.display = "" if view["tables"] else "none"
        self.live.layout.display = "" if view["plot"] else "none"
        # last: what the status says is already true of the rest of the panel when it shows
        self.status.value = f"<span class='pktmask-{view['status']}'>{html.escape(view['status_text'])}</span>"

    def _ipython_display_(self) -> None:
        display(self.widget)

    # -- running --------------------------------------------------------------------------
    @property
    def result(self):
        return self.state["result"]

    def run(self):
        """Run the pipeline with the panel's settings; shows an error state and re-raises on failure.

        Returns
        -------
        RunResult
        """
        s = self.state
        s.update(status="running", error="", metrics=[], position=0, result=None, ran_with=run_settings(s))
        self._progress_due = Throttle(PROGRESS_INTERVAL)
        self._plot_due = Throttle(self.plot_interval, wait_first=True)
        try:
            config = config_from_state(s)
            path = str(s["path"]).strip()
            s["file_size"] = os.path.getsize(path) if os.path.isfile(path) else 0
            self._refresh()
            output = str(s["output"]).strip() or None
            result = api.run(path, output, config, force=s["force"], on_chunk=self._on_chunk)
        except BaseException as error:
            # the API says which argument to pass; here it is a checkbox
            text = str(error).replace("pass force=True (--force on the command line)", "tick overwrite")
            s.update(status="error", error=f"{type(error).__name__}: {text}")
            self._refresh()
            raise
        s.update(status="done", result=result)
        self._draw_live()
        self._show_tables(result)
        self._refresh()
        return result

    def _on_chunk(self, metrics) -> None:
        self.state["metrics"].append(metrics)
        self.state["position"] = metrics.input_position
        if self._progress_due():
            self._refresh()
        if self._plot_due():
            self._draw_live()
            self._plot_due.done()

    def _draw_live(self) -> None:
        df = chunks_frame(self.state["metrics"])
        fig = Figure(figsize=(11, 3.2), layout="constrained")
        left, right = fig.subplots(1, 2, width_ratios=[3, 2])
        plot_stage_times(df, left)
        plot_memory(df, right)
        show_figure(self.live, fig)
        self.draws += 1

    def _show_tables(self, result) -> None:
        frames = run_frames(result)
        for name, out in self.tables.items():
            show(out, frames[name])
