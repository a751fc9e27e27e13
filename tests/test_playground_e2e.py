"""End to end: the playground page in headless Chromium against the real server.

Debian's chromium (``apt-get install chromium``) driven by Playwright's Python package with that
executable: no browser download. The server runs in this process (``serve_in_thread``) and trains
with deltaprop itself, so these tests check the page's side of docs/playground-protocol.md: the
controls and the URL, the request loop, what is drawn, and the deltas shown after one step.

Screenshots go to ``$DELTAPROP_SCREENSHOT_DIR`` when it is set (to look at them), else to
pytest's tmp_path.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

import deltaprop as dp
from deltaprop.playground import serve_in_thread

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # the test extra is not installed
    sync_playwright = None

CHROMIUM = os.environ.get("DELTAPROP_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}
CONFIG_KEYS = {"dataset", "noise", "samples", "test", "layers", "activation", "loss", "optimizer",
               "lr", "batch", "l2", "bn", "seed"}
# XOR (four noisy clusters) with one tanh layer of 4 units: with seed 0 the training accuracy
# first reaches 100% at about step 44, may dip again until about step 120, and stays at 100%
# after that (other seeds have a point so near the boundary that SGD's noise flips it now and then).
XOR_QUERY = "dataset=xor&noise=0.1&layers=4&activation=tanh&lr=0.3&batch=10&seed=0"
# ReLU, a learning rate of 10 and whole-data batches: the sine fit blows up within 30 steps.
DIVERGING_QUERY = "dataset=sine&layers=16,16&activation=relu&lr=10&batch=70&seed=2"
# What Chromium logs for an answer the tests provoke on purpose (a refused configuration).
EXPECTED_FAILURE = re.compile(r"Failed to load resource: the server responded with a status of (400|404)")


def _unavailable(reason: str) -> None:
    """CI must run these tests; elsewhere a missing browser only skips them."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so the browser tests must run)")
    pytest.skip(f"{reason}: apt-get install chromium and pip install -e '.[test]'")


@pytest.fixture(scope="module")
def server():
    running = serve_in_thread(port=0)
    yield running
    running.shutdown()


@pytest.fixture(scope="module")
def browser():
    if sync_playwright is None:
        _unavailable("Playwright is not installed")
    if not (os.path.isfile(CHROMIUM) or shutil.which(CHROMIUM)):
        _unavailable(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_context(browser, server):
    """Makes browser contexts (each its own window); on any of their pages, a script error
    fails the test, and so do an answer of 500 or more and any request that leaves the
    playground server (the page must load nothing else). Only the 400s and 404s the tests
    provoke may log a failure."""
    contexts, errors = [], []

    def console(message) -> None:
        if message.type == "error" and not EXPECTED_FAILURE.search(message.text):
            errors.append(f"console: {message.text}")

    def watch(page):
        page.on("request", lambda request: None if request.url.startswith((server.url, "data:"))
                else errors.append(f"request outside the server: {request.url}"))
        page.on("response", lambda response: errors.append(f"{response.status} from {response.url}")
                if response.status >= 500 else None)
        page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
        page.on("console", console)

    def make():
        ctx = browser.new_context(viewport=VIEWPORT)
        ctx.set_default_timeout(10_000)
        ctx.on("page", watch)
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        ctx.close()
    assert errors == []


@pytest.fixture
def context(new_context):
    return new_context()


@pytest.fixture
def page(context):
    return context.new_page()


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("DELTAPROP_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder



# ------------------------------------------------------------------------------------- helpers
def open_page(page, server, query: str = "") -> dict:
    """Load the page with a query, wait until its first reset has been answered; that answer."""
    with page.expect_response(lambda r: r.url.endswith("/api/reset")) as answer:
        page.goto(server.url + (f"?{query}" if query else ""))
    page.wait_for_selector("body[data-ready='1']", state="attached")
    return answer.value.json()


def idle(page) -> None:
    """Wait until the page has finished every action (clicks, changes) and its play loop."""
    page.wait_for_selector("body[data-busy='0']:not(.looping)", state="attached")


def url_config(page) -> dict[str, str]:
    return {key: values[-1] for key, values in
            parse_qs(urlsplit(page.url).query, keep_blank_values=True).items()}


def steps(page) -> int:
    return int(page.text_content("#steps"))


def layer_sizes(page) -> str:
    return page.get_attribute("#network", "data-layer-sizes")


def wait_for_sizes(page, sizes: str) -> None:
    page.wait_for_function("s => document.querySelector('#network').dataset.layerSizes === s", arg=sizes)


def pause(page) -> None:
    """Press Pause and wait until the play loop has stopped (its last answer drawn)."""
    page.click("#play")
    page.wait_for_function("document.querySelector('#play').textContent === 'Play'")
    # The /api/train request out at the click is still answered and drawn; then the loop ends.
    idle(page)


def error_text(page) -> str:
    return page.text_content("#error-text")


def fits_the_window(page) -> bool:
    """No horizontal scrolling: nothing is wider than the window."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def chart(page, selector: str) -> dict[str, str]:
    """What a chart drew, from its data attributes (points, ticks, xLabel, scale)."""
    return page.evaluate("s => ({...document.querySelector(s).dataset})", selector)


def screenshot(page, folder: Path, name: str) -> Path:
    """A full-page screenshot, checked to be a real picture (big, many colours)."""
    path = folder / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 40_000
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib in the test extra
        return path
    width = page.viewport_size["width"]
    with Image.open(path) as image:
        assert image.width == width and image.height >= page.viewport_size["height"]
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200
    return path


def canvas_colours(page, selector: str) -> int:
    """How many distinct colours a canvas holds (a blank or single-colour canvas has 1 or 2)."""
    return page.evaluate(
        """sel => {
             const c = document.querySelector(sel);
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             const seen = new Set();
             for (let i = 0; i < d.length; i += 4 * 7) seen.add((d[i] << 16) | (d[i+1] << 8) | d[i+2]);
             return seen.size;
           }""",
        selector,
    )


def map_colours_at(page, points: list[list[float]]) -> list[list[int]]:
    """The decision map's RGB under each input point (the map canvas, below the drawn points)."""
    return page.evaluate(
        """points => {
             const top = document.querySelector('#output-canvas');
             const [fx, fy, fw, fh] = top.dataset.frame.split(',').map(Number);
             const [xmin, xmax, ymin, ymax] = top.dataset.extent.split(',').map(Number);
             const c = document.querySelector('#output-map');
             const ratio = c.width / c.clientWidth;
             const ctx = c.getContext('2d');
             return points.map(([x, y]) => {
               const px = fx + (x - xmin) / (xmax - xmin) * fw;
               const py = fy + (ymax - y) / (ymax - ymin) * fh;
               const pixel = ctx.getImageData(Math.round(px * ratio), Math.round(py * ratio), 1, 1);
               return Array.from(pixel.data.slice(0, 3));
             });
           }""",
        points,
    )


def train_answers(page, seconds: float) -> int:
    """How many /api/train answers the page gets in `seconds` of playing."""
    count = [0]

    def seen(response):
        if response.url.endswith("/api/train"):
            count[0] += 1

    page.on("response", seen)
    page.wait_for_timeout(seconds * 1000)
    page.remove_listener("response", seen)
    return count[0]


def delay_resets(page, ms: int) -> None:
    """Make every later /api/reset take at least `ms` (its answer comes that much later)."""
    page.evaluate(
        """ms => {
             const original = window.fetch;
             window.fetch = (url, init) => String(url).includes('api/reset')
               ? new Promise((done) => setTimeout(done, ms)).then(() => original(url, init))
               : original(url, init);
           }""",
        ms,
    )


# --------------------------------------------------------------------------------------- tests
def test_xor_trains_to_full_accuracy_by_playing(page, server, shots):
    reset = open_page(page, server, XOR_QUERY)
    assert not page.is_visible("#error")
    assert layer_sizes(page) == "2,4,1"
    assert steps(page) == 0
    page.click("#play")
    assert page.text_content("#play") == "Pause"
    # Past the steps where the accuracy may still dip (see XOR_QUERY), at 100%.
    page.wait_for_function("document.querySelector('#train-metric').textContent === '1.0000'"
                           " && Number(document.querySelector('#steps').textContent) >= 150",
                           timeout=20_000)
    # Live: several redraws a second while playing (each one a /api/train of about 80 ms).
    assert train_answers(page, 1.0) >= 4
    pause(page)
    assert page.text_content("#train-metric") == "1.0000"  # accuracy as a fraction
    assert page.text_content(".metric-name") == "accuracy"
    stopped = steps(page)
    assert stopped >= 150
    page.wait_for_timeout(200)
    assert steps(page) == stopped  # paused means no more training
    # The URL holds the whole normalized configuration, so sharing it reproduces the run.
    config = url_config(page)
    assert set(config) == CONFIG_KEYS
    assert (config["dataset"], config["layers"], config["lr"], config["seed"]) == ("xor", "4", "0.3", "0")
    assert page.input_value("#lr") == "0.3"
    assert canvas_colours(page, "#output-canvas") > 50
    assert canvas_colours(page, "#network-canvas") > 50
    assert "orange = negative / class 0" in page.text_content("#network-key")
    assert "blue = class 1" in page.text_content("#output-key")
    # The decision map is the right way up: under every training point, its class's colour
    # (blue for class 1, orange for class 0). XOR flipped in x or y swaps the classes.
    train = reset["state"]["data"]["train"]
    for (r, _, b), label in zip(map_colours_at(page, train["x"]), train["y"]):
        assert (b > r + 30) if label == 1 else (r > b + 30), (r, b, label)
    assert re.fullmatch(r"\d+\.\d\d", page.text_content("#epoch"))  # two decimals
    screenshot(page, shots, "playground_xor.png")

    # Step while playing: the loop stops, one step is taken after its last answer.
    page.click("#play")
    page.wait_for_function("n => Number(document.querySelector('#steps').textContent) > n", arg=stopped)
    with page.expect_response(lambda r: r.url.endswith("/api/step")) as answer:
        page.click("#step")
    idle(page)
    stepped = answer.value.json()["state"]["steps"]
    assert page.text_content("#play") == "Play"
    assert steps(page) == stepped and page.get_attribute("#deltas", "data-steps") == str(stepped)
    # Reset while playing: back to step 0, and it stays there.
    page.click("#play")
    page.wait_for_function("n => Number(document.querySelector('#steps').textContent) > n", arg=stepped)
    page.click("#reset")
    idle(page)
    assert steps(page) == 0 and page.text_content("#play") == "Play"
    assert page.locator(".delta-table").count() == 0
    assert not page.is_visible("#error")


def test_step_shows_the_deltas_of_every_layer(page, server, shots):
    # 140 training rows, batches of 40: the page is sent (and shows) the first 32 rows.
    open_page(page, server, "dataset=moons&layers=5,3&batch=40&seed=2&lr=0.2")
    # Step 0: one point per series, drawn as dots; the epoch axis reads 0.
    loss = chart(page, "#loss-canvas")
    assert (loss["points"], loss["xLabel"], loss["scale"]) == ("2", "epoch 0", "linear")
    assert chart(page, "#grad-canvas")["points"] == "0"  # the reset has no gradient
    with page.expect_response(lambda r: r.url.endswith("/api/step")) as answer:
        page.click("#step")
    state = answer.value.json()["state"]
    page.wait_for_selector(".delta-table")
    assert steps(page) == state["steps"] == 1
    # The first gradient norms are single points: each layer's is a dot.
    assert chart(page, "#grad-canvas")["points"] == "3"
    assert chart(page, "#loss-canvas")["xLabel"] == f"epoch {state['epoch']:.3g}"
    step = state["step"]
    # 2-5-3-1: 9 units in all, so one table holds every dense layer's deltas side by side.
    assert len(step["layers"]) == 3 and page.locator(".delta-table").count() == 1
    assert page.get_attribute(".delta-table", "data-layers") == "1 2 3"
    assert float(page.text_content("#batch-loss")) == pytest.approx(step["loss"], rel=6e-4)
    assert "orange negative, blue positive, scaled per layer" in page.text_content(".tint-key")
    # The rows' x before layer 1's deltas, their y-hat and y beside the output layer's.
    units_of = lambda n: [f"unit {j}" for j in range(1, n + 1)]  # noqa: E731
    heads = page.locator(".delta-table thead tr").nth(1).locator("th").all_text_contents()
    assert heads == ["row", "x1", "x2"] + units_of(5) + units_of(3) + ["ŷ", "y"] + units_of(1)
    layer_heads = page.locator(".delta-table th.layer-head").all_text_contents()
    names = ["layer 1 (hidden)", "layer 2 (hidden)", "layer 3 (output)"]
    assert [h.split(" δ/B")[0] for h in layer_heads] == names
    rows = page.locator(".delta-table tbody tr")
    assert rows.count() == min(40, 32)
    labels = rows.locator("th").all_text_contents()
    assert labels == [str(r) for r in step["rows"][:32]]
    for number, (layer, units) in enumerate(zip(step["layers"], [5, 3, 1]), start=1):
        assert layer["rows_shown"] == 32
        shown = page.evaluate("""n => [...document.querySelectorAll('.delta-table tbody tr')].map((tr) =>
            [...tr.querySelectorAll(`td.delta[data-layer='${n}']`)].map((td) => td.textContent))""", number)
        assert len(shown) == 32 and all(len(row) == units for row in shown)
        for row_text, row_sent in zip(shown, layer["delta"]):
            for text, sent in zip(row_text, row_sent):
                value = float(text)
                assert math.isfinite(value)
                # four significant digits: within half a unit of the 4th one.
                assert value == pytest.approx(sent, rel=5.001e-4, abs=1e-300)
        norm = float(page.text_content(f".grad-norm[data-layer='{number}']"))
        assert norm == pytest.approx(layer["grad_norm"], rel=5.001e-4)
    screenshot(page, shots, "playground_step.png")
    # Playing on marks the deltas as those of an older batch.
    page.click("#play")
    page.wait_for_selector("#deltas.stale", state="attached")
    pause(page)
    page.click("#step")
    page.wait_for_function("!document.querySelector('#deltas').classList.contains('stale')")
    assert page.get_attribute("#deltas", "data-steps") == str(steps(page))


def test_null_values_from_the_server_are_drawn_as_dashes(page, server):
    """The protocol sends null for anything not finite: the page shows "–" and goes on."""
    def nulls(route):
        response = route.fetch()
        body = response.json()
        step = body["state"]["step"]
        step["loss"] = None
        for layer in step["layers"]:
            layer["delta"][0][0] = None
            layer["mean_abs_delta"][0] = None
            layer["grad_norm"] = None
        body["state"]["history"]["grad_norms"][-1][0] = None
        body["state"]["weights"][0]["b"][0] = None
        route.fulfill(response=response, json=body)

    open_page(page, server, "dataset=circles&layers=3&seed=1")
    # First a refused update while playing: its error stays until a step succeeds.
    page.route("**/api/train", lambda route: route.fulfill(
        status=404, json={"error": "unknown session: the server was restarted", "field": None}))
    page.click("#play")
    page.wait_for_selector("#error", state="visible")
    idle(page)
    assert "unknown session" in error_text(page) and page.text_content("#play") == "Play"
    # the server holds no run for this tab: nothing to export until a reset
    assert page.get_attribute("#export-model", "aria-disabled") == "true"
    page.unroute("**/api/train")
    page.route("**/api/step", nulls)
    page.click("#step")
    page.wait_for_selector(".delta-table")
    idle(page)
    assert not page.is_visible("#error")
    assert page.text_content("#batch-loss") == "–"
    for number in (1, 2):
        cells = f"td.delta[data-layer='{number}']"
        assert page.locator(f".delta-table tbody tr >> nth=0 >> {cells}").first.text_content() == "–"
        assert page.locator(f".delta-table tfoot {cells}").first.text_content() == "–"
        assert page.text_content(f".grad-norm[data-layer='{number}']") == "–"
    assert chart(page, "#grad-canvas")["points"] == "1"  # layer 2's norm; layer 1's is null
    # The hover text of a neuron whose values are null.
    x, y = map(float, page.get_attribute("#network-canvas", "data-output-centres").split(","))
    box = page.locator("#network-canvas").bounding_box()
    page.mouse.move(box["x"] + x, box["y"] + y)
    page.wait_for_selector("#tooltip:not([hidden])")
    assert "mean |δ| = –" in page.text_content("#tooltip")
    assert not page.is_visible("#error")


def test_what_is_pressed_last_wins_while_a_reset_is_out(page, server):
    """Play waits for a reset that is still out (a field left with a new value); meanwhile the
    button says Pause, and a Step, a second press or a Pause wins over the waiting Play."""
    open_page(page, server, "dataset=moons&layers=3&seed=1")
    delay_resets(page, 400)
    # Play, then Step before the reset is answered: one step, paused.
    page.fill("#noise", "0.2")
    page.click("#play")  # leaving #noise sends the reset; Play waits for it
    assert page.text_content("#play") == "Pause"
    page.click("#step")
    idle(page)
    assert steps(page) == 1 and page.text_content("#play") == "Play"
    assert url_config(page)["noise"] == "0.2"
    # Play, then Pause before the reset is answered: nothing trains.
    page.fill("#noise", "0.25")
    page.click("#play")
    page.click("#play")
    idle(page)
    assert steps(page) == 0 and page.text_content("#play") == "Play"
    assert url_config(page)["noise"] == "0.25"


def test_pause_pressed_while_leaving_an_edited_field_pauses(page, server):
    """Editing a setting while playing, then pressing Pause: the field's change resets the run
    (and pauses) as the press begins; the press must not start the new run."""
    open_page(page, server, XOR_QUERY)
    page.click("#play")
    page.wait_for_function("Number(document.querySelector('#steps').textContent) >= 20")
    page.fill("#lr", "0.25")
    page.click("#play")  # the button reads "Pause"
    idle(page)
    assert page.text_content("#play") == "Play" and steps(page) == 0
    assert url_config(page)["lr"] == "0.25"
    page.wait_for_timeout(300)
    assert steps(page) == 0


def test_architecture_changes_redraw_the_network_and_the_url(page, server):
    open_page(page, server, "dataset=xor&layers=4&seed=3")
    assert layer_sizes(page) == "2,4,1"
    page.click("#add-layer")
    wait_for_sizes(page, "2,4,4,1")
    assert url_config(page)["layers"] == "4,4"
    # Type a width (the field sends on Enter), then the +/- buttons.
    page.fill(".layer-width[data-layer='1']", "6")
    page.press(".layer-width[data-layer='1']", "Enter")
    wait_for_sizes(page, "2,6,4,1")
    page.click(".layer-plus[data-layer='2']")
    wait_for_sizes(page, "2,6,5,1")
    page.click(".layer-minus[data-layer='1']")
    wait_for_sizes(page, "2,5,5,1")
    assert url_config(page)["layers"] == "5,5"
    page.click("#remove-layer")
    wait_for_sizes(page, "2,5,1")
    assert url_config(page)["layers"] == "5"
    assert page.locator(".layer-width").count() == 1
    # Other controls reset the run too, and training goes on with the new network.
    page.select_option("#activation", "relu")
    page.wait_for_function("new URLSearchParams(location.search).get('activation') === 'relu'")
    page.click("#step")
    page.wait_for_selector(".delta-table")
    assert steps(page) == 1
    assert page.locator(".delta-table").count() == 1  # 5 + 1 units: one table
    assert page.locator(".delta-table th.unit[data-layer='1']").count() == 5
    assert not page.is_visible("#error")

    # Slow answers: clicks made while a reset is out all count, and an older answer never
    # writes the controls back (it did: three quick "+" ended one short).
    delay_resets(page, 300)
    for _ in range(3):
        page.click(".layer-plus[data-layer='1']")
        page.wait_for_timeout(200)  # the next click lands before or after an answer: both count
    idle(page)
    assert page.input_value(".layer-width[data-layer='1']") == "8"
    assert url_config(page)["layers"] == "8"
    assert layer_sizes(page) == "2,8,1"
    # Typing right after another change keeps what is typed.
    page.select_option("#activation", "tanh")
    page.fill("#noise", "0.25")
    page.press("#noise", "Enter")
    idle(page)
    assert page.input_value("#noise") == "0.25"
    assert (url_config(page)["noise"], url_config(page)["activation"]) == ("0.25", "tanh")


def test_bad_parameters_show_the_servers_error_and_the_page_recovers(page, server):
    open_page(page, server, "lr=abc")
    assert page.is_visible("#error")
    assert "lr" in error_text(page) and "abc" in error_text(page)
    assert page.locator(".field:has(#lr)").get_attribute("class").split().count("invalid-field") == 1
    assert page.input_value("#lr") == "abc"  # the bad value is shown, to be fixed
    # no run yet for this tab: the export links would download the error as the file
    assert page.get_attribute("#export-code", "href") is None
    assert page.get_attribute("#export-code", "aria-disabled") == "true"
    page.fill("#lr", "0.2")
    page.press("#lr", "Enter")
    page.wait_for_selector("#error", state="hidden")
    assert url_config(page)["lr"] == "0.2"
    assert page.locator(".invalid-field").count() == 0
    assert page.get_attribute("#export-code", "aria-disabled") is None
    page.click("#step")
    page.wait_for_function("document.querySelector('#steps').textContent === '1'")

    # A value typed but not committed (no Enter), then Play: the change goes to the server
    # first, is refused, and nothing is trained (the old run must not play on).
    page.fill("#lr", "abc")
    page.click("#play")
    idle(page)
    assert "lr" in error_text(page) and page.is_visible("#error")
    assert page.text_content("#play") == "Play" and steps(page) == 1
    # The server still holds the previous run: exporting it now would not match the controls.
    assert page.get_attribute("#export-model", "href") is None
    assert page.get_attribute("#export-model", "aria-disabled") == "true"
    page.fill("#lr", "0.3")
    page.click("#step")  # the same through Step: the reset first, then the step
    idle(page)
    assert not page.is_visible("#error")
    assert steps(page) == 1 and url_config(page)["lr"] == "0.3"
    assert page.get_attribute("#export-model", "aria-disabled") is None

    # A bad width from a shared URL: named, outlined, shown in its field; "−" brings it in range.
    open_page(page, server, "layers=4,99")
    assert page.is_visible("#error")
    assert "99" in error_text(page) and "layer 2" in error_text(page)
    assert "invalid-field" in page.get_attribute("#layers", "class")
    assert page.input_value(".layer-width[data-layer='2']") == "99"
    assert page.is_disabled(".layer-plus[data-layer='2']")
    page.click(".layer-minus[data-layer='2']")
    page.wait_for_selector("#error", state="hidden")
    wait_for_sizes(page, "2,4,16,1")
    page.fill(".layer-width[data-layer='2']", "8")
    page.press(".layer-width[data-layer='2']", "Enter")
    wait_for_sizes(page, "2,4,8,1")

    # A bad value typed in a control: Play asks the server again and shows why it refuses.
    page.fill("#batch", "0")
    page.press("#batch", "Enter")
    page.wait_for_selector("#error", state="visible")
    assert "batch" in error_text(page)
    page.click("#play")
    idle(page)
    assert page.text_content("#play") == "Play" and "batch" in error_text(page)
    page.fill("#batch", "5")
    page.press("#batch", "Enter")
    page.wait_for_selector("#error", state="hidden")
    assert url_config(page)["batch"] == "5"

    # Unknown keys and unknown choices are refused by name too; a key that is no setting
    # outlines nothing (not even the element that has its name as id, the Play button).
    open_page(page, server, "dataset=xor&colour=red")
    assert "colour" in error_text(page)
    open_page(page, server, "play=1")
    assert "play" in error_text(page)
    assert page.locator(".invalid-field").count() == 0
    open_page(page, server, "dataset=sine&loss=binary_cross_entropy")
    assert "loss" in error_text(page)
    assert "invalid-field" in page.locator(".field:has(#loss)").get_attribute("class")
    page.select_option("#loss", "mse")
    page.wait_for_selector("#error", state="hidden")
    assert url_config(page)["loss"] == "mse"


def test_two_tabs_train_at_once_without_interfering(new_context, server):
    # Two windows side by side, each with its own page: both visible, both playing at once.
    circles, sine = new_context().new_page(), new_context().new_page()
    open_page(circles, server, "dataset=circles&layers=6&lr=0.3&seed=4")
    open_page(sine, server, "dataset=sine&layers=5,3&seed=5")
    assert circles.evaluate("document.body.dataset.session") != sine.evaluate("document.body.dataset.session")
    circles.click("#play")
    sine.click("#play")
    deadline = time.monotonic() + 10
    while min(steps(circles), steps(sine)) < 30 and time.monotonic() < deadline:
        sine.wait_for_timeout(100)
    # Both go on training at the same time (each updates while the other plays too).
    before = steps(circles), steps(sine)
    sine.wait_for_timeout(600)
    after = steps(circles), steps(sine)
    assert after[0] > before[0] >= 30 and after[1] > before[1] >= 30
    pause(sine)
    pause(circles)
    for tab, dataset, sizes, metric in ((circles, "circles", "2,6,1", "accuracy"),
                                        (sine, "sine", "1,5,3,1", "R²")):
        assert url_config(tab)["dataset"] == dataset
        assert layer_sizes(tab) == sizes
        assert tab.text_content(".metric-name") == metric
        assert not tab.is_visible("#error")
    # Each tab's run goes on from its own step count with its own network.
    for tab, units in ((circles, [6, 1]), (sine, [5, 3, 1])):
        before = steps(tab)
        with tab.expect_response(lambda r: r.url.endswith("/api/step")) as answer:
            tab.click("#step")
        state = answer.value.json()["state"]
        assert state["steps"] == before + 1
        assert [len(layer["mean_abs_delta"]) for layer in state["step"]["layers"]] == units


def test_a_hidden_tab_rests_and_goes_on_when_shown_again(context, server):
    """The play loop waits for animation frames, which a tab behind another gets rarely if at
    all: it does not go on training unseen at its pace in front (nor take the other's CPU), and
    resumes in front. (Headless Chromium keeps calling a tab behind "visible" and still gives
    it a frame now and then, so the test compares paces rather than asking for none.)"""
    first = context.new_page()
    open_page(first, server, XOR_QUERY)
    first.click("#play")
    first.wait_for_function("Number(document.querySelector('#steps').textContent) >= 20")
    in_front = _steps_during(first, 1500)
    second = context.new_page()  # a new tab in front of the first
    second.goto(server.url)
    second.bring_to_front()
    first.wait_for_timeout(500)  # the request that was out when it went behind comes back
    behind = _steps_during(first, 1500)
    assert behind * 4 <= in_front and first.text_content("#play") == "Pause"
    resting = steps(first)
    first.bring_to_front()
    first.wait_for_function(f"Number(document.querySelector('#steps').textContent) > {resting + 50}",
                            polling=50)


def _steps_during(page, ms):
    start = steps(page)
    page.wait_for_timeout(ms)
    return steps(page) - start


def test_sine_regression_draws_the_fitted_curve(page, server, shots):
    open_page(page, server, "dataset=sine&layers=8&lr=0.1&seed=0")
    assert layer_sizes(page) == "1,8,1"
    assert page.input_value("#loss") == "squared_error"  # the regression default
    assert page.text_content(".metric-name") == "R²"
    page.select_option("#speed", "max")  # pacing only: no reset, the run stays at step 0
    assert steps(page) == 0 and url_config(page)["dataset"] == "sine"
    page.click("#play")
    page.wait_for_function("parseFloat(document.querySelector('#train-metric').textContent) > 0.9",
                           timeout=20_000)
    pause(page)
    assert float(page.text_content("#test-metric")) > 0.5
    assert canvas_colours(page, "#output-canvas") > 20
    assert "off the plot" not in page.text_content("#output-title")
    page.click("#step")
    page.wait_for_selector(".delta-table td.delta[data-layer='2']")
    assert not page.is_visible("#error")
    screenshot(page, shots, "playground_sine.png")


def test_a_diverging_run_stops_and_says_so_once(page, server, shots):
    open_page(page, server, DIVERGING_QUERY)
    page.click("#play")
    page.wait_for_function("document.querySelector('#error-text').textContent.includes('diverged')")
    idle(page)
    assert page.text_content("#play") == "Play"
    message = error_text(page)
    assert message.count("Lower the learning rate") == 1 and "Press Reset" not in message
    stopped = steps(page)
    # Play again: the same sentence, once, and nothing trains.
    page.click("#play")
    idle(page)
    assert error_text(page) == message and steps(page) == stopped
    assert page.text_content("#play") == "Play"
    # Huge numbers stay short (the R² is about -1e58) and nothing widens the page.
    assert len(page.text_content("#train-metric")) <= 10
    assert fits_the_window(page)
    # The loss spans dozens of decades: a log axis, labelled with its exact powers of ten.
    loss = chart(page, "#loss-canvas")
    assert loss["scale"] == "log" and all(re.fullmatch(r"1e-?\d+|1|10|100|1000|0\.1|0\.01|0\.001", t)
                                          for t in loss["ticks"].split("|"))
    assert "off the plot" in page.text_content("#output-title")  # the curve left the frame
    formatted = page.evaluate("""import('./static/format.js').then((f) => [
        f.formatTick(1.5e59), f.formatTick(2000), f.formatTick(0.25), f.formatNumber(null),
        f.formatNumber(-5.9e58, {decimals: 4}), f.formatNumber(0.5, {decimals: 4})])""")
    assert formatted == ["1.5e59", "2000", "0.25", "–", "-5.900e58", "0.5000"]
    # A curve segment is cut where it leaves the frame, even towards a point 1e9 pixels away.
    clipped = page.evaluate("""import('./static/canvas.js').then((c) => [
        c.clipSegment(0, 5, 20, 5, {x: 2, y: 0, w: 10, h: 10}),
        c.clipSegment(5, 5, 5, -1e9, {x: 0, y: 0, w: 10, h: 10}),
        c.clipSegment(20, 20, 30, 30, {x: 0, y: 0, w: 10, h: 10})])""")
    assert clipped == [[2, 5, 12, 5], [5, 5, 5, 0], None]
    screenshot(page, shots, "playground_diverged.png")


def test_cross_entropy_batch_norm_blobs_without_test_set_or_hidden_layers(page, server, shots):
    open_page(page, server, "dataset=blobs&loss=cross_entropy&test=0&bn=1&layers=3&seed=1")
    assert not page.is_visible("#error")
    assert layer_sizes(page) == "2,3,2"
    assert page.get_attribute("#network-canvas", "data-outputs") == "P(class 0)|P(class 1)"
    # No test set: no test series in the loss legend, no hollow points in the caption.
    assert page.locator("#loss-canvas + .legend .legend-item").all_text_contents() == ["train"]
    assert "hollow" not in page.text_content("#output-title")
    assert page.text_content("#test-metric") == "–"
    page.click("#step")
    page.wait_for_selector(".delta-table td.delta[data-layer='2']")
    assert page.locator(".delta-table th.unit[data-layer='2']").count() == 2
    # Two outputs: y-hat has two columns, y (the label) one; x1 and x2 lead the table.
    heads = page.locator(".delta-table thead th.context").all_text_contents()
    assert heads == ["x1", "x2", "ŷ1", "ŷ2", "y"]
    # The output units' hover text names them, and stays inside the window.
    canvas = page.locator("#network-canvas").bounding_box()
    for centre, name in zip(page.get_attribute("#network-canvas", "data-output-centres").split(";"),
                            ("P(class 0)", "P(class 1)")):
        x, y = map(float, centre.split(","))
        page.mouse.move(canvas["x"] + x, canvas["y"] + y)
        page.wait_for_function("n => document.querySelector('#tooltip').textContent.includes(n)", arg=name)
        assert "fixed range [0, 1]" in page.text_content("#tooltip")  # softmax: a probability
    page.mouse.move(0, 0)
    screenshot(page, shots, "playground_cross_entropy.png")

    # No hidden layer: a linear model, one table of deltas.
    open_page(page, server, "dataset=xor&layers=")
    assert layer_sizes(page) == "2,1" and url_config(page)["layers"] == ""
    assert "no hidden layer" in page.text_content("#layers")
    page.click("#step")
    page.wait_for_selector(".delta-table td.delta[data-layer='1']")
    assert page.locator(".delta-table").count() == 1
    assert not page.is_visible("#error")


def test_nothing_is_wider_than_the_window(page, server, shots):
    # A narrow window: the plots column shrinks instead of being cut.
    page.set_viewport_size({"width": 1024, "height": 700})
    open_page(page, server, "dataset=moons&layers=5,3&batch=40&seed=2&lr=0.2")
    page.click("#step")
    page.wait_for_selector(".delta-table")
    assert fits_the_window(page)
    plots = page.locator(".plots").bounding_box()
    assert plots["x"] + plots["width"] <= 1024
    screenshot(page, shots, "playground_narrow.png")
    # The hover text of the output unit, near the middle of the window, stays inside it.
    x, y = map(float, page.get_attribute("#network-canvas", "data-output-centres").split(","))
    canvas = page.locator("#network-canvas").bounding_box()
    page.mouse.move(canvas["x"] + x, canvas["y"] + y)
    page.wait_for_selector("#tooltip:not([hidden])")
    tip = page.locator("#tooltip").bounding_box()
    assert 0 <= tip["x"] and tip["x"] + tip["width"] <= 1024 and tip["y"] + tip["height"] <= 700
    assert "fixed range [0, 1]" in page.text_content("#tooltip")  # a sigmoid output
    page.mouse.move(0, 0)
    # Six layers of 16: a table wider than the window scrolls inside its own box.
    open_page(page, server, "dataset=xor&layers=16,16,16,16,16,16&seed=1")
    page.click("#step")
    page.wait_for_selector(".delta-table td.delta[data-layer='7']")
    # Layers of 16 units: a table each (they wrap instead of one table scrolling far sideways).
    assert page.locator(".delta-table").count() == 7
    assert page.evaluate("document.querySelector('.delta-table').offsetWidth") > 1024 - 64
    assert fits_the_window(page)
    page.set_viewport_size(VIEWPORT)
    page.wait_for_timeout(50)  # the resize redraw
    assert fits_the_window(page)
    screenshot(page, shots, "playground_deep.png")


def test_exported_code_replays_the_exported_model(page, server, tmp_path):
    open_page(page, server, XOR_QUERY)
    session = page.evaluate("document.body.dataset.session")
    for kind in ("model", "code"):
        assert page.get_attribute(f"#export-{kind}", "href") == f"api/export/{kind}?session={session}"
    page.click("#play")
    page.wait_for_function("Number(document.querySelector('#steps').textContent) >= 40")
    pause(page)  # fixed from here: both files are of the same run at the same step
    trained = steps(page)
    downloads = {}
    for kind in ("model", "code"):
        with page.expect_download() as download:  # a click downloads the file under its name
            page.click(f"#export-{kind}")
        downloads[kind] = download.value
    assert downloads["model"].suggested_filename == "playground.dp"
    assert downloads["code"].suggested_filename == "playground_run.py"
    model = tmp_path / "from_the_page.dp"
    downloads["model"].save_as(model)
    script = tmp_path / "playground_run.py"
    downloads["code"].save_as(script)
    code = script.read_text()  # the steps one at a time, or one compiled run: the page's engine
    assert f"for _ in range({trained}):" in code or f"result = stepper.run({trained})" in code
    subprocess.run([sys.executable, script.name], cwd=tmp_path, check=True, capture_output=True,
                   timeout=120)
    replayed, shown = dp.load(tmp_path / "playground.dp").theta, dp.load(model).theta
    assert replayed.dtype == shown.dtype and replayed.tobytes() == shown.tobytes()
    assert np.array_equal(replayed, shown)
    assert steps(page) == trained


# ------------------------------------------------------------------- teaching: trace and hover
# A 2-2-1 tanh network on XOR with the sigmoid output and binary cross-entropy: small enough
# that every equation of the trace is written out term by term.
SMALL_QUERY = "dataset=xor&layers=2&activation=tanh&lr=0.3&batch=10&seed=0"
TEACHING_VIEWPORT = {"width": 1280, "height": 800}
PHONE_VIEWPORT = {"width": 390, "height": 844}


def step_once(page) -> dict:
    """Press Step; the state the server answered with (its deltas drawn)."""
    with page.expect_response(lambda r: r.url.endswith("/api/step")) as answer:
        page.click("#step")
    page.wait_for_selector(".delta-table")
    idle(page)
    return answer.value.json()["state"]


def trace_numbers(page) -> dict[str, tuple[str, float]]:
    """Every quantity the open trace defines: its name (data-q) -> (text shown, value sent)."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#trace-body [data-q]')]
        .map((e) => [e.dataset.q, [e.textContent, Number(e.dataset.value)]]))""")


def read_network(numbers: dict, sizes: list[int]) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """x and every layer's W and b, as the trace shows them (1-based names, see trace.js)."""
    x = np.array([numbers[f"x.{k + 1}"][1] for k in range(sizes[0])])
    Ws, bs = [], []
    for n in range(1, len(sizes)):  # layer n of the notes
        Ws.append(np.array([[numbers[f"W.{n}.{j + 1}.{k + 1}"][1] for k in range(sizes[n - 1])]
                            for j in range(sizes[n])]))
        bs.append(np.array([numbers[f"b.{n}.{j + 1}"][1] for j in range(sizes[n])]))
    return x, Ws, bs


def recompute(x, Ws, bs, y: float, batch: int) -> dict[str, float]:
    """The trace by hand in float64: tanh hidden layers, a sigmoid output, binary cross-entropy."""
    a_s, zs = [x], []
    for i, (W, b) in enumerate(zip(Ws, bs)):
        z = W @ a_s[-1] + b
        zs.append(z)
        a_s.append(1 / (1 + np.exp(-z)) if i == len(Ws) - 1 else np.tanh(z))
    out = a_s[-1][0]
    expected = {"loss": -(y * np.log(out) + (1 - y) * np.log(1 - out))}
    delta = a_s[-1] - y  # the fused sigmoid + cross-entropy output delta
    deltas = [delta]
    for W, a in zip(Ws[:0:-1], a_s[-2:0:-1]):
        deltas.insert(0, (W.T @ deltas[0]) * (1 - a**2))
    for n, (z, a, d, a_prev) in enumerate(zip(zs, a_s[1:], deltas, a_s), start=1):
        for j in range(len(z)):
            expected |= {f"z.{n}.{j + 1}": z[j], f"a.{n}.{j + 1}": a[j], f"delta.{n}.{j + 1}": d[j],
                         f"db.{n}.{j + 1}": d[j]}
            if n < len(zs):
                expected[f"fp.{n}.{j + 1}"] = 1 - a[j] ** 2
            for k in range(len(a_prev)):
                expected[f"dW.{n}.{j + 1}.{k + 1}"] = d[j] * a_prev[k]
    expected |= {f"deltaB.{len(zs)}.{j + 1}": v / batch for j, v in enumerate(deltas[-1])}
    return expected


def assert_trace_is_numpy(page, sizes: list[int], y: float) -> int:
    """Every number of the open trace equals a NumPy recomputation from the x, W and b it
    shows, to the 4 significant digits it writes; how many numbers were checked."""
    numbers = trace_numbers(page)
    x, Ws, bs = read_network(numbers, sizes)
    expected = recompute(x, Ws, bs, y, batch=10)
    for name, value in expected.items():
        text, _ = numbers[name]
        # half a unit of the 4th digit, and the float32 network's own rounding
        assert float(text) == pytest.approx(value, rel=6e-4, abs=1e-9), (name, text, value)
    return len(expected)


def test_trace_of_one_row_equals_numpy_from_the_weights_it_shows(new_context, server, shots):
    page = new_context().new_page()
    page.set_viewport_size(TEACHING_VIEWPORT)
    reset = open_page(page, server, SMALL_QUERY)
    train = reset["state"]["data"]["train"]
    step_once(page)
    # Click a training point on the map: its trace opens.
    row = 5
    px, py = page.evaluate("""([train, row]) => import('./static/maps.js').then((m) => m.trainRowPixel(
        document.querySelector('#output-canvas'), {train}, 'classify', row))""", [train, row])
    box = page.locator("#output-canvas").bounding_box()
    with page.expect_response(lambda r: r.url.endswith("/api/trace")) as answer:
        page.mouse.click(box["x"] + px, box["y"] + py)
    page.wait_for_selector(f"#trace[data-row='{row}']", state="visible")
    idle(page)
    sent = answer.value.json()["trace"]
    assert sent["row"] == row and sent["batch_size"] == 10
    assert page.text_content("#trace-title") == f"Trace of training row {row}"
    assert assert_trace_is_numpy(page, [2, 2, 1], train["y"][row]) == 1 + 2 * 4 + 3 * 2 + 4 + 2 + 1
    # Small layers are written term by term (no tables), with the factor 1/B named.
    assert page.locator("#trace .trace-table").count() == 0
    text = page.text_content("#trace-body")
    assert "1/B with B = 10" in text and "divided by 10" in text
    assert re.search(r"z\(1\)1 = w\(1\)11a\(0\)1 \+ w\(1\)12a\(0\)2 \+ b\(1\)1 = \(", text)
    screenshot(page, shots, "playground_trace.png")

    # The keyboard: Escape closes and gives the focus back; a row number opens its trace.
    page.keyboard.press("Escape")
    assert page.is_hidden("#trace")
    button = page.locator(".delta-table .row-button").nth(3)
    traced = int(button.text_content())
    button.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#trace[data-row='{traced}']", state="visible")
    idle(page)
    assert page.evaluate("document.activeElement.id") == "trace-close"
    assert_trace_is_numpy(page, [2, 2, 1], train["y"][traced])
    page.keyboard.press("Enter")  # on the close button
    assert page.is_hidden("#trace")
    assert page.evaluate("document.activeElement.dataset.row") == str(traced)

    # A wide layer: compact tables, the same numbers.
    open_page(page, server, SMALL_QUERY.replace("layers=2", "layers=6"))
    page.locator("#output-canvas").click(position={"x": 1, "y": 1})  # no point there: nothing opens
    assert page.is_hidden("#trace")
    step_once(page)
    page.locator(".delta-table .row-button").first.click()
    page.wait_for_selector("#trace[data-row]:not([data-row=''])", state="visible")
    idle(page)
    assert page.locator("#trace .trace-table").count() >= 2
    traced = int(page.get_attribute("#trace", "data-row"))
    y = page.evaluate("r => document.querySelector(`.delta-table tr[data-row='${r}'] td.y`)?.textContent",
                      traced)
    assert_trace_is_numpy(page, [2, 6, 1], float(y))


def test_trace_with_batch_norm_says_why_there_is_none(page, server):
    open_page(page, server, "dataset=xor&layers=3&bn=1&seed=0")
    step_once(page)
    page.locator(".row-button").first.click()
    page.wait_for_function("document.querySelector('#trace-note').textContent.length > 0"
                           " && !document.querySelector('#trace').dataset.row")
    idle(page)
    assert "batch" in page.text_content("#trace-note").lower()
    assert page.locator("#trace-body *").count() == 0
    page.click("#trace-close")
    assert page.is_hidden("#trace")


def _float(text: str, label: str) -> float:
    match = re.search(rf"{re.escape(label)} = (\S+)", text)
    assert match, (label, text)
    return float(match.group(1))


def test_hovering_an_edge_shows_its_weight_gradient_and_update(page, server):
    page.set_viewport_size(TEACHING_VIEWPORT)
    labels = open_page(page, server, SMALL_QUERY)["state"]["data"]["train"]["y"]
    assert chart(page, "#grad-canvas")["note"].startswith("no gradient yet")
    state = step_once(page)
    canvas = page.locator("#network-canvas").bounding_box()
    middles = page.evaluate("document.querySelector('#network-canvas').edgeMiddles")
    assert len(middles) == 2 * 2 + 2 * 1
    for edge in middles:
        index, i, j = edge["layer"], edge["from"], edge["to"]
        page.mouse.move(canvas["x"] + edge["at"][0], canvas["y"] + edge["at"][1])
        page.wait_for_function("s => document.querySelector('#tooltip').textContent.startsWith(s)",
                               arg=f"w({index + 1}) {j + 1},{i + 1}")
        tip = page.text_content("#tooltip")
        layer = state["step"]["layers"][index]
        assert _float(tip, "W") == pytest.approx(state["weights"][index]["W"][j][i], rel=5.001e-4)
        assert _float(tip, "dW") == pytest.approx(layer["dW"][j][i], rel=5.001e-4)
        assert _float(tip, "ΔW") == pytest.approx(layer["update"]["W"][j][i], rel=5.001e-4)
        # SGD without L2: the update is -lr times the gradient
        assert layer["update"]["W"][j][i] == pytest.approx(-0.3 * layer["dW"][j][i], rel=1e-5, abs=1e-12)
    page.mouse.move(0, 0)
    assert page.get_attribute("#network-canvas", "data-edges-by") == "weight"
    page.check("#edge-gradient")
    page.wait_for_function("document.querySelector('#network-canvas').dataset.edgesBy === 'gradient'")
    # The tables: x, y-hat and y of each row, as sent, and the 1/B said.
    data = page.evaluate("""() => [...document.querySelectorAll(".delta-table tbody tr")]
        .map((tr) => [...tr.querySelectorAll('td.yhat, td.y')].map((td) => td.textContent))""")
    step = state["step"]
    for (y_hat, y), row, sent in zip(data, step["rows"], step["y_hat"], strict=True):
        assert float(y_hat) == pytest.approx(sent[0], rel=5.001e-4)
        assert y == str(labels[row])  # a label, written as one
    assert "divided by 10" in page.text_content(".batch-factor")
    # A batch of one: "1 training row".
    open_page(page, server, SMALL_QUERY.replace("batch=10", "batch=1"))
    step_once(page)
    assert "a minibatch of 1 training row " in page.text_content(".delta-summary")


def _titles_overlap(page) -> bool:
    spans: dict[str, list[tuple[float, float]]] = {}
    for item in page.get_attribute("#network-canvas", "data-titles").split(";"):
        line, left, right = item.split(":")
        spans.setdefault(line, []).append((float(left), float(right)))
    return any(a[1] > b[0] for row in spans.values() for a, b in zip(row, row[1:]))


def test_layout_at_classroom_and_phone_sizes(page, server, shots):
    # 1280x800: after Step, every table of deltas is on screen without scrolling.
    page.set_viewport_size(TEACHING_VIEWPORT)
    open_page(page, server, SMALL_QUERY)
    step_once(page)
    assert page.evaluate("window.scrollY") == 0
    for table in page.locator(".delta-table").all():
        box = table.bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= 800, box
    # The network is only as tall as its columns need (it was a fixed 600 px).
    assert page.locator("#network-canvas").bounding_box()["height"] < 250
    # The default 2-4-4-1: every layer's deltas, with the rows' x, y-hat and y and the row
    # buttons, on screen after Step without scrolling (they started near y = 824).
    open_page(page, server, "")
    step_once(page)
    assert page.evaluate("window.scrollY") == 0
    assert page.locator(".delta-table td.delta[data-layer='3']").count() == 10 + 1  # rows and the mean
    for table in page.locator(".delta-table").all():
        box = table.bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= 800, box
    # ... whole: no column hidden in a table's own sideways scroll.
    assert page.evaluate("""[...document.querySelectorAll('.table-scroll')]
        .every((box) => box.scrollWidth <= box.clientWidth)""")
    for cells in ("td.x", "td.yhat", "td.y", ".row-button", "td.delta[data-layer='3']"):
        box = page.locator(f".delta-table tbody tr:last-child {cells}").last.bounding_box()
        assert box["y"] + box["height"] <= 800 and box["x"] + box["width"] <= 1280, (cells, box)
    # The loss menu is wide enough for its longest choice.
    assert page.evaluate("""() => {
        const select = document.querySelector('#loss');
        const ctx = document.createElement('canvas').getContext('2d');
        ctx.font = getComputedStyle(select).font;
        const widest = Math.max(...[...select.options].map((o) => ctx.measureText(o.text).width));
        return select.clientWidth >= widest + 20;
      }""")
    assert fits_the_window(page) and not _titles_overlap(page)

    # 390x844: one column, no sideways scroll, titles apart, the deep network and the trace too.
    page.set_viewport_size(PHONE_VIEWPORT)
    open_page(page, server, "dataset=xor&layers=16,16,16,16,16,16&seed=1")
    step_once(page)
    assert page.evaluate("document.documentElement.scrollWidth") == 390
    assert not _titles_overlap(page)
    controls, centre = page.locator(".controls").bounding_box(), page.locator(".centre").bounding_box()
    assert centre["y"] >= controls["y"] + controls["height"]  # stacked, not side by side
    page.locator(".row-button").first.click()
    page.wait_for_selector("#trace[data-row]:not([data-row=''])", state="visible")
    idle(page)
    assert page.evaluate("document.documentElement.scrollWidth") == 390
    page.keyboard.press("Escape")
    # The 1-D regression: no class words in the network's colour key.
    open_page(page, server, "dataset=sine&layers=3")
    assert "class" not in page.text_content("#network-key")
    assert page.evaluate("document.documentElement.scrollWidth") == 390


def _pixel(page, selector: str, x: float, y: float) -> list[int]:
    """The RGB of a canvas at (x, y) in CSS pixels."""
    return page.evaluate("""([s, x, y]) => {
        const c = document.querySelector(s);
        const r = c.width / c.clientWidth;
        const pixel = c.getContext('2d').getImageData(Math.floor(x * r), Math.floor(y * r), 1, 1);
        return [...pixel.data].slice(0, 3);
      }""", [selector, x, y])


def _cell_centre(page, size: int, i: int, j: int) -> tuple[float, float]:
    bx, by, bw, _ = map(float, page.get_attribute("#landscape-canvas", "data-box").split(","))
    return bx + (j + 0.5) * bw / size, by + (i + 0.5) * bw / size


def test_teachers_landscape_slice_and_gradient_check(page, server):
    page.set_viewport_size(TEACHING_VIEWPORT)
    open_page(page, server, SMALL_QUERY)
    session = page.get_attribute("body", "data-session")
    assert page.is_hidden("#landscape") and page.is_hidden("#gradcheck")

    def direct(path: str, **body) -> dict:
        return page.request.post(f"{server.url}api/{path}", data={"session": session, **body}).json()

    # The keyboard opens the slice; the page draws what the server sent.
    page.focus("#landscape-button")
    with page.expect_response(lambda r: r.url.endswith("/api/landscape")) as answer:
        page.keyboard.press("Enter")
    page.wait_for_selector("#landscape:not([hidden])")
    idle(page)
    sent = answer.value.json()["landscape"]
    assert (sent["size"], sent["radius"]) == (21, 1)
    asked = direct("landscape", size=21, radius=1.0)["landscape"]
    assert page.evaluate("document.querySelector('#landscape-canvas').landscape") == sent == asked
    assert float(page.text_content("#landscape-centre")) == pytest.approx(asked["centre"], rel=5.001e-4)
    assert float(page.text_content("#landscape-min")) == pytest.approx(asked["min"], rel=5.001e-4)
    assert float(page.text_content("#landscape-max")) == pytest.approx(asked["max"], rel=5.001e-4)
    assert asked["loss"][10][10] == pytest.approx(asked["centre"], rel=1e-6)  # theta in the middle
    assert float(page.text_content("#train-loss")) == pytest.approx(asked["centre"], rel=5.001e-4)
    # Each cell's colour is its loss on the key's (log) scale; the centre is marked in red.
    assert page.get_attribute("#landscape-canvas", "data-scale") == "log"
    span = math.log(asked["max"]) - math.log(asked["min"])
    for i, j in ((0, 0), (0, 20), (20, 0), (20, 20), (3, 15)):
        t = (math.log(asked["loss"][i][j]) - math.log(asked["min"])) / span
        expected = page.evaluate("t => import('./static/teachers.js').then((m) => m.sequential(t))", t)
        got = _pixel(page, "#landscape-canvas", *_cell_centre(page, 21, i, j))
        assert all(abs(a - b) <= 2 for a, b in zip(got, expected)), (i, j, got, expected)
    cx, cy = _cell_centre(page, 21, 10, 10)
    red, green, blue = _pixel(page, "#landscape-canvas", cx + 7, cy)  # on the cross's arm
    assert red > 150 and green < 110 and blue < 110, (red, green, blue)
    # The hover read-out: the top-right corner is alpha = beta = +radius.
    box = page.locator("#landscape-canvas").bounding_box()
    x, y = _cell_centre(page, 21, 0, 20)
    page.mouse.move(box["x"] + x, box["y"] + y)
    page.wait_for_function("document.querySelector('#landscape-readout').textContent.length > 0")
    readout = page.text_content("#landscape-readout")
    assert readout.startswith("α = 1, β = 1: loss ")
    assert float(readout.rsplit(" ", 1)[1]) == pytest.approx(asked["loss"][0][20], rel=5.001e-4)

    # The gradient check of a fresh network passes; the page shows what the server sent.
    page.focus("#gradcheck-button")
    with page.expect_response(lambda r: r.url.endswith("/api/gradcheck")) as answer:
        page.keyboard.press(" ")
    page.wait_for_selector("#gradcheck:not([hidden])")
    idle(page)
    check = answer.value.json()["gradcheck"]
    assert check["passed"] and page.text_content("#gradcheck-verdict") == "passed"
    assert float(page.text_content("#gradcheck-max")) == pytest.approx(check["max_error"], rel=5.001e-4)
    assert f"first {check['rows']} training rows" in page.text_content("#gradcheck")
    params = page.evaluate("""() => [...document.querySelectorAll('.gradcheck-table tbody tr')]
        .map((tr) => [tr.dataset.param, Number(tr.cells[1].textContent), tr.cells[2].textContent])""")
    assert [p[0] for p in params] == list(check["errors"]) == [
        "layers.0.W", "layers.0.b", "layers.1.W", "layers.1.b"]
    for name, error, skipped in params:
        assert error == pytest.approx(check["errors"][name], rel=5.001e-4, abs=1e-300)
        assert skipped == str(check["skipped"].get(name, 0))

    # After more training both are marked as of older weights; the button redraws the slice.
    state = step_once(page)
    assert page.locator("#landscape.stale .stale-note").count() == 1
    assert page.locator("#gradcheck.stale .stale-note").count() == 1
    page.click("#landscape-button")
    page.wait_for_selector("#landscape:not(.stale)")
    idle(page)
    again = page.evaluate("document.querySelector('#landscape-canvas').landscape")
    assert again == direct("landscape", size=21, radius=1.0)["landscape"] != asked
    assert again["centre"] == pytest.approx(state["train"]["loss"], rel=1e-6)
    assert "after 1 step" in page.text_content("#landscape")

    # The server's refusal is said in the panel (a radius it does not take), and the page goes on.
    page.route("**/api/landscape", lambda route: route.continue_(
        post_data={"session": session, "size": 21, "radius": 50}))
    page.click("#landscape-button")
    page.wait_for_selector("#teach-error:not([hidden])")
    idle(page)
    assert "radius" in page.text_content("#teach-error")
    assert not page.is_visible("#error")
    page.unroute("**/api/landscape")
    page.select_option("#landscape-radius", "0.5")
    page.click("#landscape-button")
    page.wait_for_selector("#teach-error", state="hidden")
    idle(page)
    assert page.evaluate("document.querySelector('#landscape-canvas').landscape.radius") == 0.5
    page.click("#gradcheck-button")
    page.wait_for_selector("#gradcheck:not(.stale)")
    idle(page)
    # On a phone the panel, its map and its table stay inside the window.
    page.set_viewport_size(PHONE_VIEWPORT)
    page.wait_for_timeout(50)  # the resize redraw
    assert page.is_visible("#landscape-canvas") and page.is_visible(".gradcheck-table")
    assert page.evaluate("document.documentElement.scrollWidth") == 390
    # A reset (new settings) clears the panel: its numbers were of another run.
    page.fill("#seed", "4")
    page.press("#seed", "Enter")
    idle(page)
    assert page.is_hidden("#landscape") and page.is_hidden("#gradcheck")
