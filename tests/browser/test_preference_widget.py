"""The Preference widget in a real ComfyUI frontend, in headless Chromium (both renderers).

Starts ComfyUI headless with this repository linked into a temporary custom_nodes folder and
tiny ParetoSlider files (2, 3 and 5 objectives) in models/paretoslider (and, for the SDXL
template's end-to-end run, a tiny SDXL written by tiny_sdxl.py), then drives the
system Chromium with Python playwright (drive_widget.py, run in whichever interpreter has
playwright: this one or $COMFYUI_PYTHON). Skips with the reason when COMFYUI_DIR, Chromium
or playwright is missing.

Environment: COMFYUI_DIR (checkout), COMFYUI_PYTHON (its venv's python, default: this one),
PARETOSLIDER_CHROMIUM (default /usr/bin/chromium), PARETOSLIDER_BROWSER_PORT (default 8181),
PARETOSLIDER_UPDATE_SCREENSHOTS=1 to copy the screenshots into docs/img/ and the template
thumbnails next to the example workflows.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHROMIUM = os.environ.get("PARETOSLIDER_CHROMIUM", "/usr/bin/chromium")
pytestmark = pytest.mark.integration
TEMPLATES = sorted(p.stem for p in (ROOT / "example_workflows").glob("*.json"))
MODES = ["classic", "vue"]


def _has_playwright(python: str) -> bool:
    try:
        return subprocess.run([python, "-c", "import playwright.sync_api"], check=False, capture_output=True,
                              timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _free_port(preferred: int) -> int:
    for port in [preferred, *range(8180, 8190)]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    pytest.skip("no free port in 8180-8189 for the ComfyUI test server")


def _get(url: str, timeout: float = 5.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    comfy = os.environ.get("COMFYUI_DIR")
    if not comfy:
        pytest.skip("COMFYUI_DIR is not set (a ComfyUI checkout with its venv); browser test skipped")
    comfy = Path(comfy)
    if not (comfy / "main.py").is_file():
        pytest.skip(f"COMFYUI_DIR={comfy} has no main.py")
    comfy_python = os.environ.get("COMFYUI_PYTHON", sys.executable)
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"Chromium not found at {CHROMIUM} (set PARETOSLIDER_CHROMIUM)")
    driver_python = next((p for p in (sys.executable, comfy_python) if _has_playwright(p)), None)
    if driver_python is None:
        pytest.skip("Python playwright is not installed (pip install playwright into the ComfyUI venv; "
                    "the system Chromium is used, no `playwright install` needed)")
    pytest.importorskip("torch", reason="writing the tiny ParetoSlider files needs torch")

    base = tmp_path_factory.mktemp("comfy_base")
    (base / "custom_nodes").mkdir()
    (base / "user").mkdir()
    (base / "custom_nodes" / "ComfyUI-ParetoSlider").symlink_to(ROOT, target_is_directory=True)
    from testsupport.comfy.comfy_server import comfy_env
    from testsupport.comfy.make_files import (SDXL_TEMPLATE_LORAS, write_template_placeholders, write_tiny_files,
                                              write_tiny_loras)
    write_tiny_files(base / "models" / "paretoslider")
    write_tiny_loras(base / "models" / "loras")
    write_template_placeholders(base)
    # the SDXL template's end-to-end run: a tiny SDXL UNet and VAE decoder and real SDXL LoRAs under
    # the template's LoRA names (tiny_sdxl.py, in ComfyUI's python), and the test conditioning node
    (base / "custom_nodes" / "paretoslider_test_nodes").symlink_to(ROOT / "testsupport" / "comfy" / "comfy_test_nodes",
                                                                  target_is_directory=True)
    t0 = time.perf_counter()
    built = subprocess.run([comfy_python, str(ROOT / "testsupport" / "comfy" / "tiny_sdxl.py"), str(comfy),
                            str(base / "models"), *SDXL_TEMPLATE_LORAS], check=False, capture_output=True, text=True,
                           timeout=600, env=comfy_env({"PYTHONUNBUFFERED": "1"}))
    if built.returncode == 0:
        tiny_sdxl = {**json.loads(built.stdout.strip().splitlines()[-1]),
                     "wall_seconds": round(time.perf_counter() - t0, 1)}
    else:
        tiny_sdxl = {"error": f"tiny_sdxl.py failed (rc {built.returncode}):\n{built.stdout[-2000:]}\n"
                              f"{built.stderr[-3000:]}"}

    port = _free_port(int(os.environ.get("PARETOSLIDER_BROWSER_PORT", "8181")))
    url = f"http://127.0.0.1:{port}"
    log_path = base / "comfyui.log"
    log = log_path.open("w")  # closed in the finally below, after the server exits
    server = subprocess.Popen(
        [comfy_python, str(comfy / "main.py"), "--cpu", "--listen", "127.0.0.1", "--port", str(port),
         "--disable-auto-launch", "--base-directory", str(base), "--database-url", "sqlite:///:memory:"],
        cwd=str(comfy), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 240
        while True:
            if server.poll() is not None:
                pytest.fail(f"ComfyUI exited ({server.returncode}):\n{log_path.read_text()[-4000:]}")
            try:
                if "ParetoSliderPreference" in _get(f"{url}/object_info/ParetoSliderPreference"):
                    break
            except (OSError, ValueError):  # not up yet
                pass
            if time.time() > deadline:
                pytest.fail(f"ComfyUI did not list ParetoSliderPreference in 240 s:\n{log_path.read_text()[-4000:]}")
            time.sleep(1)

        shots = base / "shots"
        report_path = base / "report.json"
        run = subprocess.run([driver_python, str(HERE / "drive_widget.py"), url, str(report_path), str(shots),
                              *TEMPLATES], check=False, capture_output=True, text=True, timeout=900,
                             env={**os.environ, "PARETOSLIDER_CHROMIUM": CHROMIUM})
        if not report_path.is_file():
            pytest.fail(f"the browser driver wrote no report (rc {run.returncode}):\n"
                        f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
        data = json.loads(report_path.read_text())
        data["_shots"] = str(shots)
        data["_url"] = url
        data["_server_log"] = log_path.read_text()[-4000:]
        data["_base"] = str(base)
        data["_tiny_sdxl"] = tiny_sdxl
        if os.environ.get("PARETOSLIDER_UPDATE_SCREENSHOTS") == "1":
            img = ROOT / "docs" / "img"
            img.mkdir(parents=True, exist_ok=True)
            for src, dst in [("lora_slider_widget.png", "lora_slider_widget.png"),
                             ("schedule_widget.png", "schedule_widget.png"),
                             ("schedule_widget_triangle.png", "schedule_widget_triangle.png"),
                             ("preference_widget_classic.png", "preference_widget.png"),
                             ("preference_widget_vue.png", "preference_widget_vue.png"),
                             ("preference_widget_triangle.png", "preference_widget_triangle.png"),
                             ("preference_widget_triangle_vue.png", "preference_widget_triangle_vue.png"),
                             ("preference_widget_bars.png", "preference_widget_bars.png")]:
                if (shots / src).is_file():
                    shutil.copyfile(shots / src, img / dst)
            for name in TEMPLATES:
                if (shots / f"{name}.jpg").is_file():
                    shutil.copyfile(shots / f"{name}.jpg", ROOT / "example_workflows" / f"{name}.jpg")
        yield data
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _scenario(report, name):
    if name not in report:
        pytest.fail(f"scenario {name!r} did not run:\n" + "\n".join(report.get("errors", []))[-4000:])
    return report[name]


def _on_simplex(text: str, k: int):
    parts = [float(p) for p in text.split(",")]
    assert len(parts) == k, text
    assert all(p >= 0 for p in parts) and abs(sum(parts) - 1) < 1e-9, text
    assert text == ", ".join(f"{p:.3f}" for p in parts), f"{text!r} is not formatted like '0.300, 0.700'"
    return parts


def test_driver_ran_without_errors(report):
    assert not report.get("errors"), "\n".join(report["errors"])[-6000:]
    assert not report.get("page_errors"), report["page_errors"]
    ours = [e for e in report.get("console_errors", []) if "paretoslider" in e.lower()]
    assert not ours, ours


@pytest.mark.parametrize("mode", MODES)
def test_slider_shows_the_files_objective_labels(report, mode):
    s = _scenario(report, mode)["initial"]
    assert s["mode"] == "slider" and s["k"] == 2
    assert s["labels"][:2] == ["Prompt adherence", "Source fidelity"]
    assert s["connected"] and s["visible"], "the widget element is not on screen"
    assert s["hidden_string_widget"], "the raw STRING widget should be hidden behind the slider"
    assert s["value"] == "0.500, 0.500" and s["percents"] == ["50%", "50%"]
    assert s["vue_nodes_setting"] == (mode == "vue")
    assert s["in_vue_node"] == (mode == "vue"), "Vue renderer: the widget lives inside the Vue node element"


DEFAULTS_TEXT = "resolution not recorded (using 1024 px), sampling steps not recorded (using 20), CFG-free (cfg 1.0)"


@pytest.mark.parametrize("mode", MODES)
def test_loader_shows_how_its_file_was_trained(report, mode):
    """The Loader's line (its steps / cfg / width / height outputs), and the status tooltip."""
    r = _scenario(report, mode)
    line = r["loader_line"]
    assert line["text"] == DEFAULTS_TEXT, "the tiny file records no settings: defaults, said so"
    assert line["title"] == f"sample as trained: {DEFAULTS_TEXT}"
    assert line["connected"] and line["visible"]
    assert line["serialized"] == ["tiny_two_objectives.safetensors"], "the line is not saved in the workflow"
    title = r["initial"]["status_title"]
    assert title == f"tiny_two_objectives.safetensors\nsample as trained: {DEFAULTS_TEXT}", title


@pytest.mark.parametrize("mode", MODES)
def test_dragging_changes_omega_and_stays_on_the_simplex(report, mode):
    r = _scenario(report, mode)
    first = _on_simplex(r["after_drag"]["value"], 2)
    second = _on_simplex(r["after_drag2"]["value"], 2)
    assert first[1] > 0.7, f"dragging right should favour the right end: {first}"
    assert second[0] > 0.6, f"dragging left should favour the left end: {second}"
    key = _on_simplex(r["after_key"]["value"], 2)
    assert abs(key[0] - second[0] - 0.01) < 1e-9, "ArrowLeft moves 1 % toward the left end"
    assert r["after_key"]["exact"] == r["after_key"]["value"]


@pytest.mark.parametrize("mode", MODES)
def test_value_survives_save_and_reload(report, mode):
    r = _scenario(report, mode)
    value = r["after_key"]["value"]
    assert r["widgets_values"] == [value], "the workflow JSON stores exactly the STRING widget"
    assert r["prompt_inputs"]["preference"] == value, "the API prompt carries the value (no JS needed)"
    assert "preference_pad" not in r["prompt_inputs"]
    after = r["after_reload"]
    assert after["value"] == value
    assert after["labels"][:2] == ["Prompt adherence", "Source fidelity"]
    assert after["connected"] and after["visible"]


@pytest.mark.parametrize("mode", MODES)
def test_malformed_saved_values_are_repaired(report, mode):
    r = _scenario(report, mode)
    assert r["after_malformed"]["value"] == "0.500, 0.500"  # "0.2, NaN, oops" for 2 objectives
    assert r["after_external_edit"]["value"] == "0.750, 0.250"  # "3, 1" normalised


@pytest.mark.parametrize("mode", MODES)
def test_labels_and_k_follow_the_loaders_file(report, mode):
    after = _scenario(report, mode)["after_file_change"]
    assert after["mode"] == "triangle" and after["labels"][:3] == ["Photo", "Sketch", "Watercolor"]
    assert after["value"] == "0.334, 0.333, 0.333", "a 2-value ω is reset to equal weights for 3 objectives"
    assert "3 objectives" in after["status"], "the reset is announced"


@pytest.mark.parametrize("mode", MODES)
def test_triangle_pad_for_three_objectives(report, mode):
    r = _scenario(report, "triangle" if mode == "classic" else "triangle_vue")
    assert r["initial"]["mode"] == "triangle"
    assert r["initial"]["labels"][:3] == ["Photo", "Sketch", "Watercolor"]
    assert _on_simplex(r["initial"]["value"], 3) == [0.334, 0.333, 0.333]
    dragged = _on_simplex(r["after_drag"]["value"], 3)
    assert dragged[0] > 0.5, f"dragging toward the Photo corner should favour it: {dragged}"
    outside = _on_simplex(r["after_outside"]["value"], 3)
    assert max(outside) == 1.0 or min(outside) == 0.0, "a point outside lands on the border"
    final = _on_simplex(r["final"]["value"], 3)
    assert r["widgets_values"] == [r["final"]["value"]]
    assert r["prompt_inputs"]["preference"] == r["final"]["value"]
    assert all(0 < w < 1 for w in final)


def test_bars_for_more_than_three_objectives(report):
    r = _scenario(report, "bars")
    assert r["initial"]["mode"] == "bars" and r["initial"]["k"] == 5
    assert r["initial"]["labels"] == ["Aesthetics", "Text align", "Detail", "Contrast", "Saturation"]
    w = _on_simplex(r["after_drag"]["value"], 5)
    assert abs(w[1] - 0.6) < 0.05, w
    others = [x for i, x in enumerate(w) if i != 1]
    assert max(others) - min(others) < 0.0015, f"the other bars share the rest equally: {w}"


def test_missing_loader_or_file_falls_back_to_generic_labels(report):
    r = _scenario(report, "no_loader")
    assert r["unconnected"]["labels"] == ["objective 1", "objective 2"]
    assert "connect" in r["unconnected"]["status"].lower()
    assert r["missing_file"]["labels"] == ["objective 1", "objective 2"]
    assert "does_not_exist" in r["missing_file"]["status"]
    assert r["missing_file"]["value"] == "0.500, 0.500"
    # without the info route the control still works, with generic labels
    assert r["no_route"]["labels"] == ["objective 1", "objective 2"]
    assert "unavailable" in r["no_route"]["status"]


@pytest.mark.parametrize("tag", ["status_shrink", "status_shrink_vue"])
def test_node_shrinks_back_when_a_long_status_clears(report, tag):
    r = _scenario(report, tag)
    assert r["long"]["size"] > r["fresh"]["size"] + 10, f"the long status did not need more room: {r}"
    assert r["after"]["status"] != r["long"]["status"]
    assert abs(r["after"]["size"] - r["fresh"]["size"]) <= 2, f"the node kept the long status' height: {r}"
    if r["fresh"]["dom"] is not None:   # Vue: the node element, not only the graph's size
        assert abs(r["after"]["dom"] - r["fresh"]["dom"]) <= 2, r
    # a node added unconnected is sized for its "connect ..." line; connected, it needs less
    new, connected = r["new_unconnected"], r["new_connected"]
    assert connected["status"] == r["fresh"]["status"] and connected["size"] <= new["size"], r
    assert connected["size"] <= r["fresh"]["size"] + 2, f"a new node kept its first status' height: {r}"


LORA_MODES = ["loras", "loras_vue"]


@pytest.mark.parametrize("tag", LORA_MODES)
def test_lora_slider_labels_are_the_lora_names(report, tag):
    """From ParetoSlider from LoRAs: its file stems, then its names, live as the user edits."""
    r = _scenario(report, tag)
    assert r["src_widgets"][:5] == ["method", "lora_1", "lora_2", "names", "strength"]
    stems = r["stems"]
    assert stems["mode"] == "slider" and stems["k"] == 2
    assert stems["labels"] == ["sd35_photoreal", "sd35_watercolor"], "no names: the files' stems"
    assert stems["connected"] and stems["visible"] and stems["in_vue_node"] == (tag == "loras_vue")
    assert "2 LoRAs" in stems["status"]
    assert r["typed_value"] == "Photoreal, Watercolor", "typed into the names widget"
    assert r["renamed"]["labels"] == ["Photoreal", "Watercolor"], "renaming relabels the ends"
    assert r["partly_named"]["labels"] == ["sd35_photoreal", "Aquarelle"], "an empty name keeps the stem"
    assert r["renamed_silently"]["labels"] == ["Photo", "Paint"], "a value set by code is picked up too"
    assert _on_simplex(r["after_drag"]["value"], 2)[1] > 0.6


@pytest.mark.parametrize("tag", LORA_MODES)
def test_adding_a_lora_makes_a_triangle_and_removing_it_a_slider(report, tag):
    r = _scenario(report, tag)
    assert r["three"]["mode"] == "triangle" and r["three"]["k"] == 3
    assert r["three"]["labels"] == ["Photo", "Paint", "ink_sketch"], "the third LoRA (in a folder): its stem"
    _on_simplex(r["three"]["value"], 3)
    assert r["back_to_two"]["mode"] == "slider" and r["back_to_two"]["labels"] == ["Photo", "Paint"]
    _on_simplex(r["back_to_two"]["value"], 2)


@pytest.mark.parametrize("tag", LORA_MODES)
def test_lora_labels_through_a_reroute_and_another_lora(report, tag):
    r = _scenario(report, tag)
    assert r["via_reroute"] == "Reroute"
    assert r["after_reroute"]["labels"] == ["Photoreal", "Watercolor"]
    assert r["other_lora"]["labels"] == ["Photoreal", "Ink"]
    assert r["final"]["labels"] == ["Photoreal", "Watercolor"]


SCHEDULE_MODES = ["schedule", "schedule_vue"]


@pytest.mark.parametrize("tag", SCHEDULE_MODES)
def test_schedule_draws_the_end_and_the_start_from_the_preference(report, tag):
    r = _scenario(report, tag)
    s = r["initial"]
    assert s["mode"] == "slider" and s["labels"] == ["Photoreal", "Watercolor"], "labels from the LoRA node"
    assert s["hidden_string_widget"], "the end STRING widget is drawn by the pad"
    assert s["in_vue_node"] == (tag == "schedule_vue")
    assert s["value"] == "0.500, 0.500"
    assert s["start_shown"] and s["start_left"] == "20%", "the start ring sits at the Preference's ω (0.8, 0.2)"
    assert s["legend"][0] == "start 80% · 20%"
    assert s["plot_lines"] == 2 and s["axis"] == ["first step", "curve: linear", "last step"]
    # the pad sits where the end widget was, above curve / keypoints / axis
    names = s["widget_names"]
    assert names.index("preference_pad") == names.index("end") + 1 < names.index("curve")
    end = _on_simplex(r["after_drag"]["value"], 2)
    assert end[1] > 0.8, f"dragging the end marker right favours Watercolor: {end}"
    assert r["after_drag"]["start_left"] == "20%", "the start ring is read-only: it did not move"
    assert r["curved"]["axis"][1] == "curve: smoothstep"
    # dragging the Preference node moves the schedule's start ring with it
    assert r["pref_after_drag"] == "0.900, 0.100"
    assert r["start_followed"]["start_left"] == "10%"
    assert r["start_followed"]["value"] == r["after_drag"]["value"], "the end ω stays"


@pytest.mark.parametrize("tag", SCHEDULE_MODES)
def test_schedule_survives_save_and_reload(report, tag):
    r = _scenario(report, tag)
    end = r["after_drag"]["value"]
    assert r["widgets_values"] == [end, "smoothstep", "", "percent"], "the workflow stores the four widgets"
    assert {k: r["prompt_inputs"][k] for k in ("end", "curve", "keypoints", "axis")} == {
        "end": end, "curve": "smoothstep", "keypoints": "", "axis": "percent"}
    assert "preference_pad" not in r["prompt_inputs"]
    keys = "1: 0.9, 0.1\n0.6: 0.5, 0.5\n0.2: 0.1, 0.9"
    assert r["widgets_values_keyed"] == [end, "smoothstep", keys, "sigma"]
    assert r["prompt_inputs_keyed"]["keypoints"] == keys and r["prompt_inputs_keyed"]["axis"] == "sigma"
    k = r["keyed"]
    assert k["inactive"] and not k["start_shown"], "keypoints replace start / end: the markers say so"
    assert k["axis"] == ["σ 1", "keypoints over σ", "σ 0"] and k["legend"][0] == "3 keypoints (sigma)"
    after = r["after_reload"]
    assert r["reloaded_values"] == [end, "smoothstep", keys, "sigma"]
    assert after["value"] == end and after["labels"] == ["Photoreal", "Watercolor"]
    assert after["axis"] == k["axis"] and after["inactive"]
    assert after["connected"] and after["visible"]
    # keypoints cleared: back to start / end, the start ring at the Preference's ω
    assert r["unkeyed"]["start_shown"] and r["unkeyed"]["start_left"] == "10%"


@pytest.mark.parametrize("tag", SCHEDULE_MODES)
def test_schedule_names_a_keypoint_line_the_node_will_refuse(report, tag):
    bad = _scenario(report, tag)["bad_keys"]
    assert bad["status"] == 'keypoints line 2: "half" is not a number'


def test_schedule_triangle_for_three_loras(report):
    r = _scenario(report, "schedule_triangle")
    s = r["initial"]
    assert s["mode"] == "triangle" and s["labels"] == ["Photoreal", "Watercolor", "Ink"]
    assert s["start_shown"] and s["legend"][0] == "start 70% · 20% · 10%"
    end = _on_simplex(r["after_drag"]["value"], 3)
    assert end[2] > 0.5, f"dragged toward the Ink corner: {end}"
    assert r["after_drag"]["plot_lines"] == 3 and r["after_drag"]["axis"][1] == "curve: ease_in"
    # four LoRAs: bars, the start weights as ticks on them
    bars = r["bars"]
    assert bars["mode"] == "bars" and bars["labels"] == ["Photoreal", "Watercolor", "Ink", "Neon"]
    assert r["bars_ticks"] == ["10%", "20%", "30%", "40%"]
    assert bars["plot_lines"] == 4


def test_each_web_module_loads_once_and_one_extension_registers(report):
    """ComfyUI imports every .js under web/ (helpers included): they must only export."""
    r = _scenario(report, "no_loader")
    assert r["extensions"] == ["ParetoSlider.PreferenceWidget"]
    files = sorted(p.relative_to(ROOT / "web").as_posix() for p in (ROOT / "web").rglob("*.js"))
    loaded = sorted(m.split("/", 3)[3] for m in r["modules"])  # /extensions/<pack>/<file>
    assert loaded == files, "every module is fetched exactly once (relative imports share the instance)"


# LoRA-slider templates -> the labels their pads show (the LoRA node's names)
LORA_TEMPLATES = {"LoRA slider - SD3.5 two LoRAs with a schedule": ["Photoreal", "Watercolor"],
                  "LoRA slider - SDXL two LoRAs (no training)": ["Photo", "Sketch"]}
TEMPLATE_TRAINED_TEXT = {"sd3": "trained at 512 px, 10 sampling steps, CFG-free (cfg 1.0)",
                         "flux": "trained at 512 px, 10 sampling steps, CFG-free (cfg 1.0), guidance 2.5"}


@pytest.mark.parametrize("name", TEMPLATES)
def test_example_workflow_loads_as_a_template(report, name):
    t = _scenario(report, "templates").get(name)
    assert t is not None, "template not tried"
    assert "error" not in t, t.get("error")
    unregistered = [n["type"] for n in t["nodes"] if not n["registered"]]
    assert not unregistered, f"unknown node types in {name}: {unregistered}"
    assert t["links"] == t["saved_links"], "links lost while loading"
    for n in t["nodes"]:
        saved = t["saved"].get(str(n["id"]), [])
        values = [v for _, v in n["widgets"]]
        assert values == saved, f"{name}: {n['type']} widgets loaded as {n['widgets']} from {saved}"
    assert t["prompt_error"] is None and t["prompt_nodes"] > 0
    flagged = [n["type"] for n in t["nodes"] if n["has_error"]]
    assert not flagged, f"nodes flagged with errors after loading {name}: {flagged}"
    # as laid out once the frontend has sized the nodes: none covers another (title bars included)
    title = 30
    boxes = [(n["type"], n["pos"][0], n["pos"][1] - title, n["pos"][0] + n["size"][0], n["pos"][1] + n["size"][1])
             for n in t["nodes"]]
    for i, (ta, ax0, ay0, ax1, ay1) in enumerate(boxes):
        for tb, bx0, by0, bx1, by1 in boxes[i + 1:]:
            assert not (ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1), f"{name}: {ta} overlaps {tb} once loaded"
    if name == SDXL_TEMPLATE:   # it opens at its saved zoom (readable), not zoomed out to fit
        saved = json.loads((ROOT / "example_workflows" / f"{name}.json").read_text(encoding="utf-8"))
        saved_view = saved["extra"]["ds"]
        assert saved_view["scale"] >= 0.7 and t["view"]["scale"] == pytest.approx(saved_view["scale"]), t["view"]
    if name in LORA_TEMPLATES:
        # no trained file: the pads are labelled with the LoRA node's names
        assert t["recommended"] is None
        assert t["pads"]["ParetoSliderPreference"]["labels"] == LORA_TEMPLATES[name], t["pads"]
        assert t["pads"]["ParetoSliderPreference"]["mode"] == "slider", t["pads"]
        if name == "LoRA slider - SDXL two LoRAs (no training)":
            assert set(t["pads"]) == {"ParetoSliderPreference"}, "Preference straight into Apply"
            return
        assert t["pads"]["ParetoSliderSchedule"]["labels"] == LORA_TEMPLATES[name], t["pads"]
        assert t["pads"]["ParetoSliderSchedule"]["start_shown"], "the schedule shows the Preference's ω as its start"
        sched = next(v for v in t["prompt"].values() if v["class_type"] == "ParetoSliderSchedule")
        assert {k: sched["inputs"][k] for k in ("end", "curve", "keypoints", "axis")} == {
            "end": "0.300, 0.700", "curve": "smoothstep", "keypoints": "", "axis": "percent"}
        return
    # the Loader says how the template's file was trained (make_files.TRAINING, as the configs)
    want = TEMPLATE_TRAINED_TEXT["flux" if "kontext" in name.lower() else "sd3"]
    assert t["recommended"] == {"text": want, "shown": True}, t["recommended"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", TEMPLATES)
def test_template_opens_readable_at_1600x900(report, name, mode):
    """As the template browser opens it, in a 1600 × 900 window: nothing missing, no text cut by
    its box (our lines; in the Vue renderer every text in a node), no widget out of its node,
    a zoom at or above the frontend's low-quality threshold (below it nodes are blank boxes),
    every node in sight (not under the side bar, the tabs, the Run bar or the zoom buttons) and
    none covering another, the node-source badges ComfyUI draws above a title included."""
    t = _scenario(report, "templates" if mode == "classic" else "templates_vue").get(name)
    assert t is not None and "error" not in t, (t or {}).get("error")
    o = t["opened"]
    assert o["viewport"] == [1600, 900]
    assert o["missing"] == [], f"{name} opens with inputs the server does not have: {o['missing']}"
    assert o["cut"] == [], f"{name} ({mode}): text cut by its box: {o['cut']}"
    assert o["overflow"] == [], f"{name} ({mode}): a widget sticks out of its node: {o['overflow']}"
    assert o["scale"] >= max(0.6, o["low_quality_threshold"]), f"{name} opens at {o['scale']:.2f} zoom"
    assert not o["low_quality"], f"{name} ({mode}) opens drawn in low quality at {o['scale']:.2f} zoom"
    # the whole graph in sight, and no node (title, body, source badge) covering another
    left, top, right, bottom = o["frame"]
    for b in o["boxes"]:
        for part in ("body", "badge"):
            if part in b:
                x0, y0, x1, y1 = b[part]
                assert x0 >= left - 1 and y0 >= top - 1 and x1 <= right + 1 and y1 <= bottom + 1, (
                    f"{name} ({mode}): {b['title']}'s {part} {b[part]} is outside the view {o['frame']}")
    for a in o["boxes"]:
        for b in o["boxes"]:
            if a["id"] == b["id"]:
                continue
            for part in ("body", "badge"):
                if part in a:
                    assert not _overlap(a[part], b["body"]), (
                        f"{name} ({mode}): {a['title']}'s {part} {a[part]} covers {b['title']} {b['body']}")
    assert t["prompt_error"] is None


def _overlap(a, b) -> bool:
    """Two screen rectangles [left, top, right, bottom] share more than a pixel."""
    return min(a[2], b[2]) - max(a[0], b[0]) > 1 and min(a[3], b[3]) - max(a[1], b[1]) > 1


@pytest.mark.parametrize("name", TEMPLATES)
def test_missing_models_panel_names_the_folder_of_each_missing_file(report, name):
    """A new user lacks the trained file (or the LoRAs): ComfyUI's missing-models panel files them
    under the folder they go in (the template's properties.models), not under "Unknown". No URL:
    nobody can download a slider trained on your own rewards; the Loader's line says how to make it."""
    lines = _scenario(report, "missing_models").get(name)
    assert lines, f"the missing-models panel did not open for {name}"
    want = "loras (2)" if name in LORA_TEMPLATES else "paretoslider (1)"
    assert want in lines, f"{name}: missing-models panel shows {lines}"
    assert not [line for line in lines if line.startswith("Unknown")], f"{name}: {lines}"


def test_loader_names_the_missing_file_where_it_goes_and_how_to_make_it(report):
    line = _scenario(report, "no_loader")["missing_file_line"]
    assert line["text"].startswith("does_not_exist.safetensors is not in ") and "paretoslider" in line["text"]
    assert "python -m trainer train" in line["text"] and "LoRA" in line["text"], line
    assert line["visible"]


SDXL_TEMPLATE = "LoRA slider - SDXL two LoRAs (no training)"
E2E_SIZE = 64        # px: an 8 × 8 latent, what two shared CPU cores sample in seconds
E2E_OMEGAS = ("0.700, 0.300", "0.300, 0.700")   # the template's ω, and the slider moved toward Sketch


def _sdxl_e2e_prompt(prompt: dict, omega: str) -> dict:
    """The frontend's API prompt of the SDXL template (graphToPrompt, as Queue sends it) with the
    substitutions of test_sdxl_template_runs_end_to_end_on_a_tiny_sdxl, at preference `omega`."""
    from testsupport.comfy import tiny_sdxl
    p = json.loads(json.dumps(prompt))
    of = lambda t: [k for k, v in p.items() if v["class_type"] == t]  # noqa: E731
    (ckpt,) = of("CheckpointLoaderSimple")
    (ks,) = of("KSampler")
    p[ckpt] = {"class_type": "UNETLoader", "inputs": {"unet_name": tiny_sdxl.UNET_FILE, "weight_dtype": "default"}}
    p["tiny_sdxl_vae"] = {"class_type": "VAELoader", "inputs": {"vae_name": tiny_sdxl.VAE_FILE}}
    texts = {p[ks]["inputs"]["positive"][0]: 1, p[ks]["inputs"]["negative"][0]: 2}
    assert sorted(texts) == sorted(of("CLIPTextEncode")), "two prompts, each into the KSampler"
    for node, seed in texts.items():      # CLIP-L + CLIP-G's widths: context (77, 2048), pooled 1280
        p[node] = {"class_type": "ParetoTestConditioning",
                   "inputs": {"context_dim": tiny_sdxl.CONTEXT_DIM, "pooled_dim": tiny_sdxl.POOLED_DIM,
                              "tokens": 77, "seed": seed, "guidance": 0.0}}
    for v in p.values():                  # the checkpoint's MODEL stays, its VAE is the tiny one
        for name, val in v["inputs"].items():
            if isinstance(val, list) and val[0] == ckpt:
                assert val[1] in (0, 2), f"{v['class_type']}.{name} takes the checkpoint's output {val[1]}"
                v["inputs"][name] = [ckpt, 0] if val[1] == 0 else ["tiny_sdxl_vae", 0]
    (latent,) = of("EmptyLatentImage")
    p[latent]["inputs"].update(width=E2E_SIZE, height=E2E_SIZE)
    (pref,) = of("ParetoSliderPreference")
    p[pref]["inputs"]["preference"] = omega
    return p


def _run_prompt(url: str, prompt: dict, timeout: float = 480) -> tuple[dict, float]:
    """POST /prompt, poll /history until done: (its history entry, seconds)."""
    t0 = time.perf_counter()
    body = json.dumps({"prompt": prompt, "client_id": "paretoslider-browser-e2e"}).encode()
    req = urllib.request.Request(f"{url}/prompt", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            pid = json.loads(r.read())["prompt_id"]
    except urllib.error.HTTPError as err:
        pytest.fail(f"POST /prompt refused the graph: {err.read().decode()[:3000]}")
    while time.perf_counter() - t0 < timeout:
        h = _get(f"{url}/history/{pid}").get(pid)
        if h and h.get("status", {}).get("completed") is not None \
                and h["status"].get("status_str") in ("success", "error"):
            return h, time.perf_counter() - t0
        time.sleep(0.2)
    pytest.fail(f"prompt {pid} did not finish in {timeout} s")


def test_sdxl_template_runs_end_to_end_on_a_tiny_sdxl(report):
    """The SDXL template, as the frontend loads and serialises it, runs on a tiny SDXL and the
    LoRA slider changes the image.

    The graph is the API prompt the real frontend built from the template JSON (the template
    scenario: fetched from /workflow_templates, loaded, app.graphToPrompt()). Kept exactly as
    serialised: ParetoSlider from LoRAs (blend, the template's two LoRA names, names, strength),
    ParetoSlider Preference (only its ω is set, to each of E2E_OMEGAS), Apply ParetoSlider,
    KSampler (seed 42, 25 steps, cfg 6, dpmpp_2m karras, denoise 1), VAEDecode, SaveImage, and
    every link between them. Substituted, because a real SDXL checkpoint is 6.9 GB and its text
    encoders alone 0.8 B parameters at fixed sizes:
      - CheckpointLoaderSimple (sd_xl_base_1.0) -> UNETLoader on tiny_sdxl_unet.safetensors, a
        0.16 B-parameter UNet that ComfyUI's model detection reads back as supported_models.SDXL
        (model_base.SDXL, EPS; tiny_sdxl.py says which dimensions are SDXL's and which are cut);
        its MODEL output feeds Apply ParetoSlider as the checkpoint's did;
      - the checkpoint's VAE -> VAELoader on tiny_sdxl_vae.safetensors (the decoder of SDXL's VAE
        architecture, AutoencoderKL, at width 32 instead of 128; random weights), into the same
        VAEDecode;
      - both CLIPTextEncode (positive / negative) -> ParetoTestConditioning (seeded random
        conditioning with SDXL's CLIP widths: context 77 × 2048, pooled_output 1280, from which
        SDXL's extra_conds builds the 2816-wide `y` with the size embeddings);
      - EmptyLatentImage 1024 × 1024 -> 64 × 64 (an 8 × 8 latent: CPU time).
    The two LoRAs are real kohya-format SDXL LoRAs (lora_unet_* on every transformer Linear and
    proj_in / proj_out, rank 4, plus lora_te1_ / lora_te2_ keys the slider skips) under the
    template's file names.
    """
    info = report.get("_tiny_sdxl", {})
    assert "error" not in info, info.get("error")
    assert info["detected"] == "SDXL" and info["model_type"] == "EPS", info
    t = _scenario(report, "templates").get(SDXL_TEMPLATE)
    assert t and "prompt" in t and t.get("prompt_error") is None, (t or {}).get("error") or t
    # what runs is the template's own settings, as the frontend serialised them
    ours = {v["class_type"]: v["inputs"] for v in t["prompt"].values()}
    assert {k: ours["KSampler"][k] for k in ("seed", "steps", "cfg", "sampler_name", "scheduler", "denoise")} == {
        "seed": 42, "steps": 25, "cfg": 6.0, "sampler_name": "dpmpp_2m", "scheduler": "karras", "denoise": 1.0}
    loras = ours["ParetoSliderFromLoras"]
    assert (loras["method"], loras["lora_1"], loras["lora_2"], loras["names"]) == (
        "blend", "sdxl_photoreal.safetensors", "sdxl_sketch.safetensors", "Photo, Sketch")
    assert ours["ParetoSliderPreference"]["preference"] == E2E_OMEGAS[0]
    out_dir = Path(report["_base"]) / "output"
    images, seconds = {}, {}
    from PIL import Image
    import numpy as np
    for omega in E2E_OMEGAS:
        h, seconds[omega] = _run_prompt(report["_url"], _sdxl_e2e_prompt(t["prompt"], omega))
        errors = [d for kind, d in h["status"].get("messages", []) if kind == "execution_error"]
        assert h["status"]["status_str"] == "success", (
            f"ω {omega}: {errors[0].get('exception_type')}: {errors[0].get('exception_message')}" if errors
            else h["status"])
        saved = [img for o in h["outputs"].values() for img in o.get("images", [])]
        assert len(saved) == 1, h["outputs"]
        f = saved[0]
        images[omega] = np.asarray(Image.open(out_dir / f["subfolder"] / f["filename"]).convert("RGB"),
                                   dtype=np.float64) / 255.0
    a, b = (images[o] for o in E2E_OMEGAS)
    assert a.shape == b.shape == (E2E_SIZE, E2E_SIZE, 3)
    spread = [float(x.std()) for x in (a, b)]
    diff = float(np.abs(a - b).mean())
    changed = float((np.abs(a - b) > 2 / 255).mean())
    print(f"\nSDXL template end to end on the tiny SDXL ({info['unet_parameters'] / 1e9:.2f} B parameters, "
          f"built in {info['wall_seconds']} s): ω {E2E_OMEGAS[0]} in {seconds[E2E_OMEGAS[0]]:.1f} s, "
          f"ω {E2E_OMEGAS[1]} in {seconds[E2E_OMEGAS[1]]:.1f} s; pixel std {spread[0]:.3f} / {spread[1]:.3f}; "
          f"mean |difference| {diff:.4f} (of 1), {100 * changed:.1f}% of values differ by more than 2/255")
    assert min(spread) > 0.02, f"a flat image (pixel std {spread})"
    assert diff > 0.01 and changed > 0.2, (
        f"moving the slider from {E2E_OMEGAS[0]} to {E2E_OMEGAS[1]} changed the image too little: "
        f"mean |difference| {diff:.4f}, {100 * changed:.1f}% of values")


@pytest.mark.parametrize("node_id", ["ParetoSliderLoader", "ParetoSliderPreference", "ApplyParetoSlider",
                                     "ParetoSliderSweep", "ParetoSliderFrontPreview", "ParetoSliderFromLoras",
                                     "ParetoSliderSchedule", "ParetoSliderMSDDASampler"])
def test_node_help_page_is_served(report, node_id):
    """The frontend's node help panel fetches /extensions/<pack>/docs/<NodeId>.md."""
    info = _get(f"{report['_url']}/object_info/{node_id}")[node_id]
    pack = info["python_module"].split(".", 1)[1]
    with urllib.request.urlopen(f"{report['_url']}/extensions/{pack}/docs/{node_id}.md", timeout=10) as r:
        text = r.read().decode()
    assert text.startswith(f"# {info['display_name']}"), text[:80]
