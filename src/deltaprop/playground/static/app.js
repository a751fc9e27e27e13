// The playground page: the controls, the URL, and the request loop. The server trains and
// sends everything to draw (docs/playground-protocol.md); this module only decides when to ask.
import * as api from "./api.js";
import { drawGradNorms, drawLoss } from "./charts.js";
import { clearDeltas, markDeltasStale, showDeltas } from "./deltas.js";
import { LayerEditor } from "./layers.js";
import { drawOutput } from "./maps.js";
import { describeNeuron, drawNetwork } from "./network.js";

// The protocol's keys, in the order the URL writes them, and the controls that hold them.
const KEYS = ["dataset", "noise", "samples", "test", "layers", "activation", "loss", "optimizer", "lr", "batch", "l2", "bn", "seed"];
const DEFAULTS = {
  dataset: "xor", noise: "0.1", samples: "200", test: "0.3", layers: "4,4", activation: "tanh",
  loss: "binary_cross_entropy", optimizer: "sgd", lr: "0.1", batch: "10", l2: "0", bn: "0", seed: "0",
};
const REGRESSION = new Set(["sine"]);
const DEFAULT_LOSS = { classify: "binary_cross_entropy", regress: "squared_error" };
const LOSSES = {
  classify: ["binary_cross_entropy", "cross_entropy", "squared_error"],
  regress: ["squared_error", "mse"],
};
// One /api/train request trains for about this long: short enough for several redraws a second.
const TRAIN_MS = 80;

const $ = (id) => document.getElementById(id);

const page = {
  session: api.newSessionId(),
  state: null,
  config: { ...DEFAULTS },   // the last configuration the server accepted (normalized)
  playing: false,
  looping: false,            // a play loop is running (it may be finishing its last request)
  needsReset: true,          // the controls differ from the server's run (a reset failed)
  boxes: [],                 // neuron boxes of the last network drawing, for the hover text
  chain: Promise.resolve(),  // requests go one at a time, in order
  frames: [],                // times of recent redraws while playing, for the rate read-out
};

/** Run requests strictly one after another: an answer is always drawn before the next ask. */
function queued(task) {
  const result = page.chain.then(task);
  page.chain = result.catch(() => undefined);
  return result;
}

// ---------------------------------------------------------------- configuration and controls

function taskOf(dataset) {
  return REGRESSION.has(dataset) ? "regress" : "classify";
}

function setSelect(select, value) {
  select.querySelectorAll("option.bad-option").forEach((o) => o.remove());
  const text = String(value);
  if (![...select.options].some((o) => o.value === text)) {
    // Keep a bad value from the URL visible (and sendable) until the user picks another.
    const option = new Option(text, text);
    option.className = "bad-option";
    select.add(option);
  }
  select.value = text;
}

/** Offer only the losses that fit the dataset's task. */
function fitLossOptions(dataset) {
  const allowed = LOSSES[taskOf(dataset)];
  for (const option of $("loss").options) {
    if (!option.classList.contains("bad-option")) option.disabled = !allowed.includes(option.value);
  }
}

function writeControls(config) {
  for (const key of KEYS) {
    const value = config[key] ?? DEFAULTS[key];
    const control = $(key);
    if (key === "layers") layers.set(value);
    else if (key === "bn") control.checked = value === 1 || value === "1" || value === true || value === "true" || value === "on";
    else if (control.tagName === "SELECT") setSelect(control, value);
    else control.value = String(value);
  }
  fitLossOptions($("dataset").value);
}

function readControls() {
  const config = {};
  for (const key of KEYS) {
    const control = $(key);
    if (key === "layers") config[key] = layers.value();
    else if (key === "bn") config[key] = control.checked ? "1" : "0";
    else config[key] = control.value.trim();
  }
  return config;
}

/** The configuration named by the URL: its keys as written (unknown ones too, for the server to refuse). */
function configFromUrl() {
  const config = {};
  for (const [key, value] of new URLSearchParams(location.search)) config[key] = value;
  return config;
}

// ---------------------------------------------------------------- errors

function clearError() {
  $("error").hidden = true;
  $("error-text").textContent = "";
  document.querySelectorAll(".invalid-field").forEach((e) => e.classList.remove("invalid-field"));
}

/** Show the server's sentence; outline the control it names (the protocol's "field"). */
function showError(message, field = null) {
  clearError();
  $("error-text").textContent = message;
  $("error").hidden = false;
  const control = field ? $(field) : null;
  if (control) {
    const box = control.closest(".field") || control;
    box.classList.add("invalid-field");
  }
}

// ---------------------------------------------------------------- requests

async function resetRun(config) {
  setPlaying(false);
  const answer = await queued(() => api.reset(page.session, config));
  if (!answer.ok) {
    page.needsReset = true;
    showError(answer.body.error, answer.body.field);
    return false;
  }
  clearError();
  page.needsReset = false;
  page.config = answer.body.config;
  writeControls(page.config);
  history.replaceState(null, "", `?${answer.body.query}`);
  enableExports();
  clearDeltas($("deltas"));
  render(answer.body.state);
  return true;
}

/** Play and Step first bring the server in line with the controls if the last reset failed. */
async function ensureRun() {
  return page.needsReset ? resetRun(readControls()) : true;
}

function refused(answer) {
  setPlaying(false);
  showError(answer.body.error, answer.body.field);
}

async function playLoop() {
  page.looping = true;
  document.body.classList.add("looping"); // lets a test wait for the last answer after Pause
  try {
    await trainWhilePlaying();
  } finally {
    page.looping = false;
    document.body.classList.remove("looping");
  }
}

async function trainWhilePlaying() {
  while (page.playing) {
    const speed = $("speed").value;
    const answer = await queued(() => api.train(page.session, TRAIN_MS, speed === "max" ? null : Number(speed)));
    if (!page.playing) {
      // Paused (or reset) while the request was out: still draw what it trained, if anything.
      if (answer.ok) {
        render(answer.body.state);
        markDeltasStale($("deltas"));
      }
      return;
    }
    if (!answer.ok) return refused(answer);
    page.frames.push(performance.now());
    render(answer.body.state);
    markDeltasStale($("deltas"));
    if (answer.body.state.diverged) {
      setPlaying(false);
      showError(answer.body.state.diverged);
    }
  }
}

async function stepOnce() {
  setPlaying(false);
  if (!(await ensureRun())) return;
  const answer = await queued(() => api.step(page.session));
  if (!answer.ok) return refused(answer);
  render(answer.body.state);
  if (answer.body.state.step) showDeltas($("deltas"), answer.body.state);
  if (answer.body.state.diverged) showError(answer.body.state.diverged);
}

function setPlaying(playing) {
  page.playing = playing;
  $("play").textContent = playing ? "Pause" : "Play";
  $("play").setAttribute("aria-pressed", String(playing));
  document.body.classList.toggle("playing", playing);
  if (!playing) {
    page.frames = [];
    $("rate").textContent = "";
  }
}

async function togglePlay() {
  if (page.playing) return setPlaying(false);
  if (!(await ensureRun())) return;
  if (page.playing) return; // a second click started it while the reset was out
  if (page.state?.diverged) return showError(`${page.state.diverged} Press Reset or change a setting.`);
  clearError();
  setPlaying(true);
  // Paused and played again before the last answer came: that loop simply goes on.
  if (!page.looping) playLoop();
}

// ---------------------------------------------------------------- drawing

function number(v, digits = 4) {
  return typeof v === "number" && Number.isFinite(v) ? v.toPrecision(digits) : "–";
}

function fraction(v) {
  return typeof v === "number" && Number.isFinite(v) ? v.toFixed(4) : "–";
}

function renderStatus(state) {
  $("steps").textContent = String(state.steps);
  $("epoch").textContent = state.epoch.toFixed(2);
  $("train-loss").textContent = number(state.train.loss);
  $("test-loss").textContent = state.test ? number(state.test.loss) : "–";
  $("train-metric").textContent = fraction(state.train.metric);
  $("test-metric").textContent = state.test ? fraction(state.test.metric) : "–";
  const name = /^r\^?2$/i.test(state.metric_name) ? "R²" : state.metric_name;
  document.querySelectorAll(".metric-name").forEach((e) => { e.textContent = name; });
  const now = performance.now();
  page.frames = page.frames.filter((t) => now - t < 2000);
  $("rate").textContent = page.frames.length > 1 ? `${(page.frames.length / 2).toFixed(1)} updates/s` : "";
}

function render(state) {
  page.state = state;
  renderStatus(state);
  const network = $("network");
  network.dataset.layerSizes = state.layer_sizes.join(",");
  page.boxes = drawNetwork($("network-canvas"), state, page.config);
  drawOutput($("output-canvas"), state);
  $("output-title").textContent = state.task === "classify"
    ? "decision map P(class 1), train points filled, test points hollow"
    : "fitted curve, train points filled, test points hollow";
  drawLoss($("loss-canvas"), state.history);
  drawGradNorms($("grad-canvas"), state.history);
}

function hover(event) {
  const tip = $("tooltip");
  if (!page.state) return;
  const rect = event.target.getBoundingClientRect();
  const text = describeNeuron(page.state, page.boxes, event.clientX - rect.left, event.clientY - rect.top);
  tip.hidden = !text;
  if (text) {
    tip.textContent = text;
    tip.style.left = `${event.clientX - rect.left + 12}px`;
    tip.style.top = `${event.clientY - rect.top + 12}px`;
  }
}

// ---------------------------------------------------------------- wiring

function controlChanged(event) {
  if (event && event.target.id === "dataset") {
    // A regression dataset cannot keep a classification loss (and back): take the task's default.
    const task = taskOf(event.target.value);
    if (!LOSSES[task].includes($("loss").value)) setSelect($("loss"), DEFAULT_LOSS[task]);
    fitLossOptions(event.target.value);
  }
  resetRun(readControls());
}

const layers = new LayerEditor($("layers"), $("add-layer"), $("remove-layer"), () => controlChanged(null));

// The export links point at the server only once it holds a run for this tab: before the
// first good reset they would download an error message as the file.
function enableExports() {
  for (const what of ["model", "code"]) {
    const link = $(`export-${what}`);
    link.href = api.exportUrl(what, page.session);
    link.classList.remove("disabled");
    link.removeAttribute("aria-disabled");
  }
}

function start() {
  document.body.dataset.session = page.session;
  for (const key of KEYS) {
    if (key !== "layers") $(key).addEventListener("change", controlChanged);
  }
  $("play").addEventListener("click", togglePlay);
  $("step").addEventListener("click", stepOnce);
  $("reset").addEventListener("click", () => resetRun(readControls()));
  $("error-close").addEventListener("click", clearError);
  $("network-canvas").addEventListener("mousemove", hover);
  $("network-canvas").addEventListener("mouseleave", () => { $("tooltip").hidden = true; });
  // Redraw at the new size (the canvases follow their CSS size).
  window.addEventListener("resize", () => page.state && render(page.state));
  clearDeltas($("deltas"));
  const fromUrl = configFromUrl();
  const shown = { ...DEFAULTS, ...fromUrl };
  if (!("loss" in fromUrl)) shown.loss = DEFAULT_LOSS[taskOf(shown.dataset)];
  writeControls(shown);
  // The URL's own keys go to the server as they are: omitted keys take the server's defaults.
  resetRun(fromUrl).then(() => { document.body.dataset.ready = "1"; });
}

start();
