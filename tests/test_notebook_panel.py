"""The sanitize panel: the pure render over its state dict, the config it builds, a run without a browser."""

from __future__ import annotations

import copy

import pytest

pytest.importorskip("ipywidgets")
import matplotlib  # noqa: E402

matplotlib.use("Agg")
nb = pytest.importorskip("pktmask_nb.notebook")

from conftest import DATA  # noqa: E402

import pktmask_nb  # noqa: E402
from pktmask_nb.config import DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, STAGE_ORDER  # noqa: E402
from pktmask_nb.errors import PktmaskError, UsageError  # noqa: E402
from pktmask_nb.notebook import panel as p  # noqa: E402
from pktmask_nb.pipeline import ChunkMetrics  # noqa: E402

KEY_HEX = "21" * 32


def _state(**changes) -> dict:
    state = p.initial_state(str(DATA / "tls_http.pcap"))
    state.update(changes)
    return state


def _finished(**changes) -> dict:
    """A state after a run (done or failed) with the settings it ran with."""
    state = _state(**changes)
    state["ran_with"] = p.run_settings(state)
    return state


def _metrics(n: int) -> list:
    return [ChunkMetrics(i, 10, 10, 1000, 1000, 0.001, {"dedup": 0.001}, 0.0, 10**7, 0.01 * (i + 1)) for i in range(n)]


# -- render: a pure function of the state ---------------------------------------------------------
def test_render_idle_ready():
    state = _state()
    before = copy.deepcopy(state)
    view = p.render(state)
    assert state == before  # pure: nothing changed
    assert view == {
        "status": "idle",
        "status_text": f"Ready: tls_http.pcap, chunk size {DEFAULT_CHUNK_SIZE:,}",
        "progress": 0.0,
        "bar_style": "",
        "run_disabled": False,
        "run_label": "Run",
        "error": "",
        "tables": False,
        "plot": False,
    }
    assert p.render(copy.deepcopy(state)) == view  # same state, same view


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"path": "  "}, "choose an input capture"),
        ({"key": "abc"}, "key must be 64 hex digits"),
        ({"key": "00" * 16}, "anonymize key must be 32 bytes, not 16"),
        ({"chunk_size": 0}, "chunk size must be an integer from 1"),
    ],
)
def test_render_blocks_run_on_bad_settings(changes, problem):
    view = p.render(_state(**changes))
    assert view["run_disabled"] and view["status_text"].startswith("Cannot run: ") and problem in view["status_text"]


def test_render_running_done_error():
    running = p.render(_state(status="running", metrics=_metrics(3), position=250, file_size=1000))
    assert running["status_text"] == "Running tls_http.pcap: 3 chunks, 30 packets, 0.03 s"
    assert running["progress"] == 0.25 and running["bar_style"] == "info"
    assert running["run_disabled"] and running["run_label"] == "Running…" and not running["tables"]
    assert p.render(_state(status="running", position=2000, file_size=1000))["progress"] == 1.0
    assert p.render(_state(status="running", position=5, file_size=0))["progress"] == 0.0

    result = pktmask_nb.run(DATA / "tls_http.pcap", config=p.config_from_state(_state(chunk_size=32)))
    done = p.render(_finished(status="done", result=result, position=10, file_size=1000))
    assert done["progress"] == 1.0 and done["bar_style"] == "success" and done["tables"]
    assert done["status_text"].startswith("Done: tls_http.pcap, 97 → 97 packets, 0.05 MB in ")
    assert done["status_text"].endswith("(4 chunks of 32 packets)")
    assert not done["run_disabled"]

    failed = p.render(_finished(status="error", error="UsageError: nope", position=10, file_size=100))
    assert failed["error"] == "UsageError: nope" and failed["bar_style"] == "danger"
    assert failed["status_text"] == "Failed: tls_http.pcap" and not failed["tables"] and not failed["run_disabled"]
    assert p.render(_state(error="stale"))["error"] == ""  # shown only in the error state


@pytest.fixture(scope="module")
def tls_result():
    return pktmask_nb.run(DATA / "tls_http.pcap", config=p.config_from_state(_state(chunk_size=32)))


@pytest.mark.parametrize(
    ("changes", "text"),
    [
        ({"path": str(DATA / "vlan_ipv6.pcap")}, "Ready: vlan_ipv6.pcap, chunk size 32"),
        ({"chunk_size": 64}, "Ready: tls_http.pcap, chunk size 64"),
        ({"stages": ["mask"]}, "Ready: tls_http.pcap, chunk size 32"),
        ({"output": "/tmp/x.pcap"}, "Ready: tls_http.pcap, chunk size 32"),
        ({"key": "abc"}, "Cannot run: key must be 64 hex digits (or empty for a random key)"),
        ({"path": ""}, "Cannot run: choose an input capture"),
    ],
)
@pytest.mark.parametrize("status", ["done", "error"])
def test_render_after_a_run_describes_the_current_settings(tls_result, changes, text, status):
    ran = _finished(status=status, result=tls_result, error="CaptureError: x", chunk_size=32, position=9, file_size=10)
    assert p.render(ran)["status_text"].startswith("Done: tls_http.pcap" if status == "done" else "Failed:")
    changed = copy.deepcopy(ran)
    changed.update(changes)
    view = p.render(changed)
    assert view["status"] == "idle" and view["status_text"] == text
    assert view["run_disabled"] == text.startswith("Cannot run")
    assert view["progress"] == 0.0 and view["bar_style"] == "" and view["error"] == ""
    assert not view["tables"] and not view["plot"]
    changed.update({name: ran[name] for name in changes})  # back to what the run used
    assert p.render(changed) == p.render(ran)


# -- settings → Config ----------------------------------------------------------------------------
def test_config_from_state():
    config = p.config_from_state(
        _state(
            stages=["mask", "dedup"],
            chunk_size=64,
            key=" 21:" + "21" * 31,
            http_headers=True,
            anon_mac="all",
            tls_names=True,
            anon_dns=True,
        )
    )
    assert config.stages == ("dedup", "mask") and config.chunk_size == 64 and config.anonymize.mac == "all"
    assert config.mask.tls_names == "zero" and p.config_from_state(_state()).mask.tls_names == "keep"
    assert config.anonymize.dns and not p.config_from_state(_state()).anonymize.dns
    assert config.anonymize.key == bytes.fromhex(KEY_HEX) and config.mask.keep == ("http-headers",)
    assert p.config_from_state(_state(stages=[])).stages == ()
    random = p.config_from_state(_state())
    assert len(random.anonymize.key) == 32 and random.mask.keep == ()
    with pytest.raises(UsageError):
        p.config_from_state(_state(key="zz" * 32))


def test_chunk_slider_is_logarithmic():
    assert [p.chunk_size_for(e) for e in (0, 1, 12)] == [1, 2, 4096]
    assert p.chunk_size_for(p.MAX_CHUNK_EXPONENT) == MAX_CHUNK_SIZE
    assert [p.chunk_exponent(s) for s in (1, 16, 100, 4096, MAX_CHUNK_SIZE)] == [0, 4, 7, 12, p.MAX_CHUNK_EXPONENT]


def test_capture_options_lists_the_data_captures():
    names = [p_.rsplit("/", 1)[1] for p_ in p.capture_options(DATA)]
    assert names == ["duplicates.pcap", "tls_http.pcap", "two_interfaces.pcapng", "vlan_ipv6.pcap"]
    assert p.capture_options(None) == [] and p.capture_options(DATA / "nope") == []


# -- the widget panel, without a browser ---------------------------------------------------------
def test_widgets_write_the_state():
    panel = nb.SanitizePanel(DATA / "tls_http.pcap", data_dir=DATA)
    assert panel.input.options and panel.state["path"].endswith("tls_http.pcap")
    panel.chunk_text.value = 8
    assert panel.state["chunk_size"] == 8 and panel.slider.value == 3
    panel.slider.value = 5
    assert panel.chunk_text.value == 32 and panel.state["chunk_size"] == 32
    panel.chunk_text.value = 100  # any size; the slider shows the nearest power of two
    assert panel.state["chunk_size"] == 100 and panel.slider.value == 7
    panel.toggles["dedup"].value = False
    assert panel.state["stages"] == ["anonymize", "mask"] and panel.toggles["dedup"].icon == ""
    panel.http.value = True
    panel.mac.value = "keep-oui"
    panel.names.value = True
    panel.dns.value = True
    assert panel.state["anon_mac"] == "keep-oui" and panel.state["tls_names"] and panel.state["anon_dns"]
    panel.key.value = "xyz"
    assert panel.state["http_headers"] and panel.run_button.disabled
    assert "key must be 64 hex digits" in panel.status.value
    panel.key.value = KEY_HEX
    assert not panel.run_button.disabled
    assert panel.error.layout.display == "none" and panel.tabs.layout.display == "none"


def test_run_shows_progress_plots_and_tables():
    panel = nb.SanitizePanel(DATA / "duplicates.pcap", plot_interval=0)
    panel.chunk_text.value = 16
    panel.key.value = KEY_HEX
    result = panel.run()
    expected = pktmask_nb.run(DATA / "duplicates.pcap", config=p.config_from_state(panel.state))
    assert (result.packets_in, result.packets_out) == (expected.packets_in, expected.packets_out) == (265, 244)
    assert result.mapping == expected.mapping  # same key, same mapping
    assert panel.result is result and panel.state["status"] == "done"
    assert len(panel.state["metrics"]) == len(result.chunks) == 17
    assert panel.progress.value == 1.0 and panel.progress.bar_style == "success"
    assert "265 → 244 packets" in panel.status.value and "17 chunks of 16 packets" in panel.status.value
    assert panel.draws >= 2  # live redraws while running, and the final one
    assert panel.tabs.layout.display == "" and panel.tabs.titles == p.TABLE_TABS
    assert panel.live.layout.display == ""
    assert panel.error.layout.display == "none" and not panel.run_button.disabled


def test_changing_the_input_after_a_run_drops_the_old_numbers():
    panel = nb.SanitizePanel(DATA / "duplicates.pcap")
    panel.chunk_text.value = 64
    panel.run()
    assert "Done: duplicates.pcap, 265 → 244 packets" in panel.status.value
    panel.input.value = str(DATA / "tls_http.pcap")
    assert panel.status.value.endswith(">Ready: tls_http.pcap, chunk size 64</span>")
    assert panel.progress.value == 0.0 and panel.progress.bar_style == ""
    assert panel.tabs.layout.display == "none" and panel.live.layout.display == "none"
    panel.key.value = "abc"
    assert panel.run_button.disabled
    assert panel.status.value.endswith(">Cannot run: key must be 64 hex digits (or empty for a random key)</span>")
    panel.key.value = ""
    panel.input.value = str(DATA / "duplicates.pcap")  # the run's settings again: its result again
    assert "Done: duplicates.pcap, 265 → 244 packets" in panel.status.value
    assert panel.tabs.layout.display == "" and panel.result.packets_in == 265
    panel.input.value = str(DATA / "tls_http.pcap")
    panel.run_button.click()  # a run with other settings shows its own numbers
    assert "Done: tls_http.pcap, 97 → 97 packets" in panel.status.value


def test_a_bad_key_after_a_failed_run_says_why_run_is_disabled():
    panel = nb.SanitizePanel(DATA / "missing.pcap")
    with pytest.raises(PktmaskError):
        panel.run()
    assert "Failed: missing.pcap" in panel.status.value and panel.error.layout.display == ""
    panel.key.value = "zz"
    assert panel.run_button.disabled and panel.error.layout.display == "none"
    assert "Cannot run: key must be 64 hex digits" in panel.status.value


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"input": str(DATA / "missing.pcap")}, PktmaskError),
        ({"input": str(DATA / "README.md")}, PktmaskError),  # not a capture: BadMagic
        ({"output": str(DATA / "tls_http.pcap")}, UsageError),  # output is the input
    ],
)
def test_failure_shows_the_error_and_reraises(changes, error):
    panel = nb.SanitizePanel(DATA / "tls_http.pcap")
    for name, value in changes.items():
        getattr(panel, name).value = value
    with pytest.raises(error) as raised:
        panel.run()
    assert panel.state["status"] == "error" and panel.result is None
    assert panel.state["error"] == f"{type(raised.value).__name__}: {raised.value}"
    assert panel.error.layout.display == "" and str(raised.value).split(":")[0] in panel.error.value
    assert panel.progress.bar_style == "danger" and panel.status.value.endswith("Failed: " + (
        "missing.pcap" if "missing" in changes.get("input", "") else panel.state["path"].rsplit("/", 1)[1]
    ) + "</span>")  # fmt: skip
    assert not panel.run_button.disabled and panel.tabs.layout.display == "none"


def test_failure_inside_the_run_leaves_no_output_and_keeps_the_error(tmp_path, monkeypatch):
    panel = nb.SanitizePanel(DATA / "tls_http.pcap")
    panel.output.value = str(tmp_path / "out.pcap")

    def broken(metrics):
        raise RuntimeError("display went away")

    monkeypatch.setattr(panel, "_on_chunk", broken)
    with pytest.raises(RuntimeError, match="display went away"):
        panel.run()
    assert panel.state["error"] == "RuntimeError: display went away"
    assert not (tmp_path / "out.pcap").exists()
    panel.state.update(status="idle")  # the next run starts clean
    monkeypatch.undo()
    assert panel.run().output == str(tmp_path / "out.pcap") and panel.error.layout.display == "none"


def test_every_stage_toggle_exists():
    panel = nb.SanitizePanel()
    assert list(panel.toggles) == list(STAGE_ORDER)
    assert panel.run_button.disabled  # no input yet
    assert "pktmask-panel" in panel.widget._dom_classes


def test_throttle(monkeypatch):
    from pktmask_nb.notebook import show

    now = [100.0]
    monkeypatch.setattr(show.time, "monotonic", lambda: now[0])
    due = show.Throttle(0.5)
    assert due() and not due()  # the first call passes, then once per interval
    now[0] = 100.6
    assert due()
    now[0] = 101.0  # the refresh took 0.4 s: wait 5 x 0.4 s before the next one
    due.done()
    now[0] = 102.9
    assert not due()
    now[0] = 103.01
    assert due()
    waiting = show.Throttle(0.5, wait_first=True)
    assert not waiting()
    now[0] = 103.52
    assert waiting()


def test_an_existing_output_says_to_tick_overwrite(tmp_path):
    panel = nb.SanitizePanel(DATA / "tls_http.pcap")
    panel.output.value = str(tmp_path / "out.pcap")
    (tmp_path / "out.pcap").write_bytes(b"mine")
    with pytest.raises(pktmask_nb.UsageError):
        panel.run()
    assert panel.state["error"].endswith("output exists; tick overwrite to replace it")
    panel.force.value = True
    assert panel.run().packets_out == 97 and (tmp_path / "out.pcap").read_bytes() != b"mine"


def test_one_chunk_is_a_chunk():
    one = ChunkMetrics(0, 1, 1, 60, 60, 0.0, {}, 0.0, 0, 0.5, 84)
    state = {**p.initial_state("a.pcap"), "metrics": [one]}
    assert p._status_text(state, "running", "") == "Running a.pcap: 1 chunk, 1 packet, 0.50 s"
