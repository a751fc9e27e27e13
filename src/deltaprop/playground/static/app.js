// The playground page: the controls, the URL, and the request loop. The server trains and
// sends everything to draw (docs/playground-protocol.md); this module only decides when to ask.
import * as api from "./api.js";
import { drawGradNorms, drawLoss } from "./charts.js";
import { css, NEGATIVE, NEUTRAL, POSITIVE } from "./colours.js";
import { clearDeltas, markDeltasStale, showDeltas } from "./deltas.js";
import { formatNumber } from "./format.js";
import { LayerEditor } from "./layers.js";
import { drawOutput, trainRowAt } from "./maps.js";
import { describeEdge, describeNeuron, drawNetwork, edgeAt } from "./network.js";
import { wireTeachers } from "./teachers.js";
import { traceContent } from "./trace.js";

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
  data: null,                // the points of the last successful reset (only its answer has them)
  config: { ...DEFAULTS },   // the last configuration the server accepted (normalized)
  playing: false,
  wantsPlay: false,          // Play was pressed and waits for earlier requests before it starts
  pressedToPause: null,      // what the Play button meant when pressed (a blur may change it)
  looping: false,            // a play loop is running (it may be finishing its last request)
  needsReset: true,          // the controls may differ from the server's run (a reset is out or failed)
  generation: 0,             // numbers the resets: only the newest one's answer is used
  drawing: { boxes: [], edges: [] }, // the last network drawing's boxes and edges, for the hover text
  traceRow: null,            // the training row whose trace is open (null: closed)
  traceOpener: null,         // what had the focus when the trace opened: it gets it back
  chain: Promise.resolve(),  // requests go one at a time, in order
  busy: 0,                   // user actions still running (body[data-busy], for the tests)
  frames: [],                // times of recent redraws while playing, for the rate read-out
};

/** Run requests strictly one after another: an answer is always drawn before the next ask. */
function queued(task) {
  const result = page.chain.then(task);
  page.chain = result.catch(() => undefined);
  return result;
}

/** Wait until every request asked so far (and any asked meanwhile) has been answered. */
async function settled() {
  let chain;
  do {
    chain = page.chain;
    await chain;
  } while (chain !== page.chain);
}

/** A user action (a click or a change): counted while it runs, on body[data-busy]. */
function action(handler) {
  return async (...args) => {
    page.busy += 1;
    document.body.dataset.busy = String(page.busy);
    try {
      await handler(...args);
    } finally {
      page.busy -= 1;
      document.body.dataset.busy = String(page.busy);
    }
  };
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

/** Set every control: on page load only (the URL's values, then the normalized ones). Later
 *  answers never write controls back: the user may have edited them since the request. */
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

/** Show the server's sentence; outline the control it names (the protocol's "field", when
 *  that is one of the configuration's keys: other ids on the page are not settings). */
function showError(message, field = null) {
  clearError();
  $("error-text").textContent = message;
  $("error").hidden = false;
  if (KEYS.includes(field)) {
    const control = $(field);
    (control.closest(".field") || control).classList.add("invalid-field");
  }
}

// ---------------------------------------------------------------- requests

/**
 * Ask the server for a new run with `config`. Until an answer says it took, the page treats
 * the controls as differing from the server's run (Play and Step reset first, the export
 * links are off). Only the newest reset's answer is used: an older one is followed by
 * another reset anyway, and drawing it would show a run that is about to be replaced.
 */
async function resetRun(config, { first = false } = {}) {
  const generation = ++page.generation;
  page.needsReset = true;
  setPlaying(false);
  disableExports();
  const answer = await queued(() => api.reset(page.session, config));
  if (generation !== page.generation) return false;
  if (!answer.ok) {
    showError(answer.body.error, answer.body.field);
    return false;
  }
  page.needsReset = false;
  clearError();
  page.config = answer.body.config;
  page.data = answer.body.state.data;
  if (first) writeControls(page.config);
  history.replaceState(null, "", `?${answer.body.query}`);
  enableExports();
  clearDeltas($("deltas"));
  teachers.clear();
  closeTrace(); // its row may not exist in the new data
  render(answer.body.state);
  return true;
}

/** Play and Step first wait for the requests already asked (a reset from a control that just
 *  lost focus), then bring the server in line with the controls if the last reset failed. */
async function ensureRun() {
  await settled();
  if (page.needsReset) {
    await resetRun(readControls());
    await settled();
  }
  return !page.needsReset;
}

function refused(answer) {
  setPlaying(false);
  if (answer.status === 404) disableExports(); // the server holds no run for this tab now
  showError(answer.body.error, answer.body.field);
}

async function playLoop() {
  if (page.looping) return; // the running loop goes on
  page.looping = true;
  document.body.classList.add("looping"); // lets a test wait for the last answer after Pause
  try {
    await trainWhilePlaying();
  } finally {
    page.looping = false;
    document.body.classList.remove("looping");
  }
  // Paused and played again while the last request was out: go on.
  if (page.playing) playLoop();
}

// At most one update per animation frame and about 20 a second: "10 steps" then means the same
// pace on any machine (the server answers a small network in a few milliseconds), and a hidden
// tab, which gets no animation frames, rests instead of training unseen.
const MIN_UPDATE_MS = 50;

function nextUpdateSlot(since) {
  return new Promise((resolve) => {
    const wait = () => (performance.now() - since >= MIN_UPDATE_MS ? resolve() : requestAnimationFrame(wait));
    requestAnimationFrame(wait);
  });
}

async function trainWhilePlaying() {
  while (page.playing) {
    const started = performance.now();
    const speed = $("speed").value;
    const answer = await queued(() => api.train(page.session, TRAIN_MS, speed === "max" ? null : Number(speed)));
    if (!answer.ok) return refused(answer);
    // Paused (or reset) while the request was out: still draw what it trained.
    if (page.playing) page.frames.push(performance.now());
    render(answer.body.state);
    markDeltasStale($("deltas"));
    if (answer.body.state.diverged) {
      setPlaying(false);
      showError(answer.body.state.diverged);
    }
    if (page.playing) await nextUpdateSlot(started);
  }
}

async function stepOnce() {
  page.wantsPlay = false; // a step asked after Play wins over it: the run is then paused
  setPlaying(false);
  if (!(await ensureRun())) return;
  const answer = await queued(() => api.step(page.session));
  if (!answer.ok) return refused(answer);
  const state = answer.body.state;
  render(state);
  if (state.step) showDeltas($("deltas"), { ...state, data: page.data });
  if (state.diverged) showError(state.diverged);
  else clearError();
  if (page.traceRow !== null) await loadTrace(page.traceRow); // the same row, new weights
}

function setPlaying(playing) {
  page.playing = playing;
  showPlayButton();
  document.body.classList.toggle("playing", playing);
  if (!playing) {
    page.frames = [];
    $("rate").textContent = "";
  }
}

/** The button says what pressing it would do: Pause while playing or about to play. */
function showPlayButton() {
  const on = page.playing || page.wantsPlay;
  $("play").textContent = on ? "Pause" : "Play";
  $("play").setAttribute("aria-pressed", String(on));
}

/**
 * Play waits for the requests already asked (a reset from a control that just lost focus)
 * before it starts; meanwhile the button says Pause, and a second press, a Step, a Reset or
 * a change of settings takes the wish back. A press on "Pause" pauses even when the press
 * itself ended the run first (leaving an edited field resets, and so pauses, on mousedown).
 */
async function togglePlay() {
  const pause = page.pressedToPause ?? (page.playing || page.wantsPlay);
  page.pressedToPause = null;
  if (pause) {
    page.wantsPlay = false;
    return setPlaying(false);
  }
  page.wantsPlay = true;
  showPlayButton();
  const ready = await ensureRun();
  if (!page.wantsPlay) return; // taken back while it waited
  page.wantsPlay = false;
  if (!ready || page.playing) return showPlayButton();
  // The server's sentence already says what to do.
  if (page.state?.diverged) {
    showPlayButton();
    return showError(page.state.diverged);
  }
  clearError();
  setPlaying(true);
  playLoop();
}

// ---------------------------------------------------------------- drawing

function renderStatus(state) {
  $("steps").textContent = String(state.steps);
  $("epoch").textContent = formatNumber(state.epoch, { decimals: 2 });
  $("train-loss").textContent = formatNumber(state.train.loss);
  $("test-loss").textContent = state.test ? formatNumber(state.test.loss) : "–";
  $("train-metric").textContent = formatNumber(state.train.metric, { decimals: 4 });
  $("test-metric").textContent = state.test ? formatNumber(state.test.metric, { decimals: 4 }) : "–";
  const name = /^r\^?2$/i.test(state.metric_name) ? "R²" : state.metric_name;
  document.querySelectorAll(".metric-name").forEach((e) => { e.textContent = name; });
  const now = performance.now();
  page.frames = page.frames.filter((t) => now - t < 2000);
  const frames = page.frames;
  // Over the updates of the last two seconds (fewer just after Play): intervals over time.
  const rate = frames.length > 2 ? (frames.length - 1) / ((frames.at(-1) - frames[0]) / 1000) : null;
  $("rate").textContent = rate ? `${rate.toFixed(1)} updates/s` : "";
}

/** The network's colour key: class words only for a classifier. */
function networkKey(classify) {
  const colours = classify
    ? "orange = negative / class 0 · white = 0 / 0.5 · blue = positive / class 1."
    : "orange = negative · white = 0 · blue = positive.";
  return `${colours} tanh, sigmoid, softmax on their fixed range; ReLU, identity, inputs scaled per map.`;
}

function render(state) {
  page.state = state;
  const classify = state.task === "classify";
  renderStatus(state);
  $("network").dataset.layerSizes = state.layer_sizes.join(",");
  page.drawing = drawNetwork($("network-canvas"), state, page.config, { byGradient: $("edge-gradient").checked });
  $("network-key-text").textContent = networkKey(classify);
  const outside = drawOutput($("output-map"), $("output-canvas"), state, page.data);
  const points = page.data?.test?.x.length ? "train points filled, test points hollow" : "train points";
  const off = outside ? ` (${outside} of ${state.output.x.length} curve points off the plot)` : "";
  $("output-title").textContent = classify
    ? `decision map P(class 1), ${points}`
    : `fitted curve${off}, ${points}`;
  document.querySelector(".plots").classList.toggle("regress", !classify);
  drawLoss($("loss-canvas"), state.history, state.test !== null);
  drawGradNorms($("grad-canvas"), state.history, state.layer_sizes.length - 1);
  teachers.moved(state.steps);
}

/** The neuron or edge under the mouse, in a tooltip kept inside the window. */
function hover(event) {
  const tip = $("tooltip");
  if (!page.state) return;
  const rect = event.target.getBoundingClientRect();
  const [x, y] = [event.clientX - rect.left, event.clientY - rect.top];
  const edge = edgeAt(page.drawing.edges, x, y);
  const text = describeNeuron(page.state, page.drawing.boxes, x, y) ?? (edge && describeEdge(page.state, edge));
  tip.hidden = !text;
  if (!text) return;
  tip.textContent = text;
  const { offsetWidth: w, offsetHeight: h } = tip;
  const right = event.clientX + 12 + w <= window.innerWidth - 4;
  const below = event.clientY + 12 + h <= window.innerHeight - 4;
  tip.style.left = `${Math.max(4, right ? event.clientX + 12 : event.clientX - 12 - w)}px`;
  tip.style.top = `${Math.max(4, below ? event.clientY + 12 : event.clientY - 12 - h)}px`;
}

// ---------------------------------------------------------------- the trace of one row

/** Ask for training row `row`'s trace with the current weights and show it in the panel. */
async function loadTrace(row) {
  const answer = await queued(() => api.trace(page.session, row));
  if (page.traceRow !== row) return; // closed, or another row asked for meanwhile
  const panel = $("trace");
  if (!answer.ok) {
    $("trace-note").textContent = answer.body.error;
    $("trace-body").replaceChildren();
    panel.dataset.row = "";
    return;
  }
  const trace = answer.body.trace;
  $("trace-title").textContent = `Trace of training row ${trace.row}`;
  $("trace-note").textContent = `The weights after step ${page.state ? page.state.steps : 0}; `
    + "one sample's loss, so no 1/B until the last section. Escape closes.";
  $("trace-body").replaceChildren(...traceContent(trace));
  panel.dataset.row = String(trace.row);
  panel.dataset.steps = String(page.state ? page.state.steps : 0);
}

/** Open the trace of a row: the panel takes the focus, and gives it back when closed. */
async function openTrace(row) {
  if (!(await ensureRun())) return;
  if (page.traceRow === null) page.traceOpener = document.activeElement;
  page.traceRow = row;
  const panel = $("trace");
  panel.hidden = false;
  document.body.classList.add("tracing");
  $("trace-title").textContent = `Trace of training row ${row}`;
  $("trace-close").focus();
  await loadTrace(row);
}

function closeTrace() {
  if (page.traceRow === null) return;
  page.traceRow = null;
  $("trace").hidden = true;
  document.body.classList.remove("tracing");
  const opener = page.traceOpener;
  page.traceOpener = null;
  if (opener && document.contains(opener)) opener.focus();
}

/** A click on the output plot: the training point under it, if any, is traced. */
function pointClicked(event) {
  const rect = event.target.getBoundingClientRect();
  const row = trainRowAt(event.target, page.data, page.state?.task, event.clientX - rect.left, event.clientY - rect.top);
  return row === null ? undefined : openTrace(row);
}

/** A row number in a deltas table (a button: Enter or Space works too). */
function rowClicked(event) {
  const button = event.target.closest(".row-button");
  return button ? openTrace(Number(button.dataset.row)) : undefined;
}

// ---------------------------------------------------------------- for teachers

/** A teacher's request (teachers.js): after the run is in line with the controls, in the
 *  queue; null when there is no run or a reset replaced it while the request was out. */
async function teacherRequest(call) {
  if (!(await ensureRun())) return null;
  const generation = page.generation;
  const answer = await queued(() => call(page.session));
  if (answer.status === 404) disableExports(); // the server holds no run for this tab now
  return generation === page.generation ? answer : null;
}

const teachers = wireTeachers(teacherRequest, () => (page.state ? page.state.steps : 0));

// ---------------------------------------------------------------- wiring

function controlChanged(event) {
  if (event && event.target.id === "dataset") {
    // A regression dataset cannot keep a classification loss (and back): take the task's default.
    const task = taskOf(event.target.value);
    if (!LOSSES[task].includes($("loss").value)) setSelect($("loss"), DEFAULT_LOSS[task]);
    fitLossOptions(event.target.value);
  }
  page.wantsPlay = false; // new settings: a new run, paused
  return resetRun(readControls());
}

const layers = new LayerEditor($("layers"), $("add-layer"), $("remove-layer"), action(() => controlChanged(null)));

// The export links point at the server only while it holds the run the controls show: before
// the first good reset they would download an error message, and after a failed one the
// previous run under other settings.
function enableExports() {
  for (const what of ["model", "code"]) {
    const link = $(`export-${what}`);
    link.href = api.exportUrl(what, page.session);
    link.classList.remove("disabled");
    link.removeAttribute("aria-disabled");
  }
}

function disableExports() {
  for (const what of ["model", "code"]) {
    const link = $(`export-${what}`);
    link.removeAttribute("href");
    link.classList.add("disabled");
    link.setAttribute("aria-disabled", "true");
  }
}

function start() {
  // The colour keys' ramps (style.css) take the palette the canvases use.
  const root = document.documentElement.style;
  root.setProperty("--negative", css(NEGATIVE));
  root.setProperty("--neutral", css(NEUTRAL));
  root.setProperty("--positive", css(POSITIVE));
  document.body.dataset.session = page.session;
  document.body.dataset.busy = "0";
  for (const key of KEYS) {
    if (key !== "layers") $(key).addEventListener("change", action(controlChanged));
  }
  // On mousedown, before focus leaves an edited field (whose change resets and pauses).
  $("play").addEventListener("mousedown", () => { page.pressedToPause = page.playing || page.wantsPlay; });
  $("play").addEventListener("mouseleave", () => { page.pressedToPause = null; }); // no click follows
  $("play").addEventListener("click", action(togglePlay));
  $("step").addEventListener("click", action(stepOnce));
  $("reset").addEventListener("click", action(() => {
    page.wantsPlay = false;
    return resetRun(readControls());
  }));
  $("error-close").addEventListener("click", clearError);
  $("output-canvas").addEventListener("click", action(pointClicked));
  $("deltas").addEventListener("click", action(rowClicked));
  $("trace-close").addEventListener("click", closeTrace);
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") closeTrace(); });
  $("landscape-button").addEventListener("click", action(teachers.landscape));
  $("gradcheck-button").addEventListener("click", action(teachers.gradcheck));
  $("landscape-canvas").addEventListener("mousemove", teachers.readout);
  $("edge-gradient").addEventListener("change", () => page.state && render(page.state));
  $("network-canvas").addEventListener("mousemove", hover);
  $("network-canvas").addEventListener("mouseleave", () => { $("tooltip").hidden = true; });
  // Redraw at the new size (the canvases follow their CSS size).
  window.addEventListener("resize", () => {
    if (page.state) render(page.state);
    teachers.redraw();
  });
  clearDeltas($("deltas"));
  const fromUrl = configFromUrl();
  const shown = { ...DEFAULTS, ...fromUrl };
  if (!("loss" in fromUrl)) shown.loss = DEFAULT_LOSS[taskOf(shown.dataset)];
  writeControls(shown);
  // The URL's own keys go to the server as they are: omitted keys take the server's defaults.
  action(() => resetRun(fromUrl, { first: true }))().then(() => { document.body.dataset.ready = "1"; });
}

start();
