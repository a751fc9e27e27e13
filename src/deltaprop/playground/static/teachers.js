// "For teachers": a slice of the loss landscape around the current weights and the library's
// gradient check, each on demand (docs/playground-protocol.md, /api/landscape and
// /api/gradcheck). The server computes both; this module only draws what it sent.
import { prepareCanvas } from "./canvas.js";
import { css } from "./colours.js";
import { finite, formatColumn, formatNumber, formatTick, plural } from "./format.js";
import { landscape as landscapeCall, gradcheck as gradcheckCall } from "./api.js";
import { el } from "./deltas.js";

// A sequential palette (pale = low loss, dark = high), apart from the page's orange/blue,
// which mean a sign or a class everywhere else.
const LOW = [247, 244, 249];
const MID = [152, 116, 183];
const HIGH = [63, 0, 125];
const NOT_FINITE = [190, 190, 190];
const MARGIN = { left: 30, bottom: 16, top: 4, right: 4 };

function mix(a, b, t) {
  return a.map((v, k) => Math.round(v + (b[k] - v) * t));
}

/** RGB for t in [0, 1]: LOW at 0, MID at 0.5, HIGH at 1. */
export function sequential(t) {
  const u = Math.max(0, Math.min(1, t));
  return u < 0.5 ? mix(LOW, MID, 2 * u) : mix(MID, HIGH, 2 * u - 1);
}

/** Where a loss sits between the slice's min and max: on a log scale when every loss is
 *  positive (a slice often spans decades: a minimum near 0.01 beside walls at 5), else linear. */
function scaleOf(land) {
  const log = finite(land.min) && finite(land.max) && land.min > 0;
  const f = log ? Math.log : (v) => v;
  const lo = f(land.min);
  const span = f(land.max) - lo;
  return { log, position: (v) => (span > 0 ? (f(v) - lo) / span : 0.5) };
}

/** The grid's box inside the canvas: a square, left of it the beta ticks, under it alpha's. */
function gridBox(width, height) {
  const side = Math.max(10, Math.min(width - MARGIN.left - MARGIN.right, height - MARGIN.top - MARGIN.bottom));
  return { x: MARGIN.left, y: MARGIN.top, w: side, h: side };
}

function drawCells(ctx, land, box, position) {
  const n = land.size;
  const cell = box.w / n;
  land.loss.forEach((row, i) => row.forEach((v, j) => {
    ctx.fillStyle = css(finite(v) ? sequential(position(v)) : NOT_FINITE);
    // Cells overlap by a pixel so that no seam shows between them.
    ctx.fillRect(box.x + j * cell, box.y + i * cell, cell + 0.5, cell + 0.5);
  }));
}

/** The current weights (alpha = beta = 0): a ring and a cross in the middle of the grid. */
function drawCentre(ctx, box) {
  const [cx, cy] = [box.x + box.w / 2, box.y + box.h / 2];
  ctx.lineWidth = 3;
  ctx.strokeStyle = "#fff";
  ctx.beginPath();
  ctx.arc(cx, cy, 5, 0, 2 * Math.PI);
  ctx.stroke();
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = "#d62728";
  ctx.stroke();
  ctx.beginPath();
  ctx.moveTo(cx - 9, cy);
  ctx.lineTo(cx + 9, cy);
  ctx.moveTo(cx, cy - 9);
  ctx.lineTo(cx, cy + 9);
  ctx.stroke();
}

function drawTicks(ctx, land, box) {
  const r = land.radius;
  ctx.fillStyle = "#444";
  ctx.font = "10px system-ui, sans-serif";
  ctx.textBaseline = "top";
  [[-r, "left"], [0, "center"], [r, "right"]].forEach(([v, align], k) => {
    ctx.textAlign = align;
    ctx.fillText(formatTick(v), box.x + (k * box.w) / 2, box.y + box.h + 3);
  });
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  [r, 0, -r].forEach((v, k) => ctx.fillText(formatTick(v), box.x - 4, box.y + (k * box.h) / 2 + [6, 0, -6][k]));
  ctx.textAlign = "left";
  ctx.fillText("β", 2, box.y + box.h / 2 - 14);
}

/** Draw a slice (the "landscape" of the answer) on its canvas; the canvas keeps the slice
 *  (canvas.landscape) and its scale (data-scale), for the hover read-out and the tests. */
export function drawLandscape(canvas, land) {
  canvas.style.height = `${Math.round(canvas.clientWidth * 0.92)}px`;
  const { ctx, width, height } = prepareCanvas(canvas);
  const box = gridBox(width, height);
  const { log, position } = scaleOf(land);
  drawCells(ctx, land, box, position);
  drawCentre(ctx, box);
  drawTicks(ctx, land, box);
  canvas.landscape = land;
  canvas.dataset.scale = log ? "log" : "linear";
  canvas.dataset.box = [box.x, box.y, box.w, box.h].join(",");
  return log;
}

/** The grid point under (x, y) in CSS pixels of the canvas, or null: {i, j, alpha, beta, loss}. */
export function landscapeAt(canvas, x, y) {
  const land = canvas.landscape;
  if (!land || !canvas.dataset.box) return null;
  const [bx, by, bw] = canvas.dataset.box.split(",").map(Number);
  const n = land.size;
  const j = Math.floor(((x - bx) / bw) * n);
  const i = Math.floor(((y - by) / bw) * n);
  if (i < 0 || j < 0 || i >= n || j >= n) return null;
  const step = (2 * land.radius) / (n - 1);
  return { i, j, alpha: -land.radius + j * step, beta: land.radius - i * step, loss: land.loss[i][j] };
}

/** The colour scale's bar, in the palette the map is drawn with. */
function ramp() {
  const bar = el("span", { className: "ramp", "aria-hidden": "true" });
  bar.style.background = `linear-gradient(to right, ${css(LOW)}, ${css(MID)}, ${css(HIGH)})`;
  return bar;
}

/** The text under the map: the loss at the centre, the colour scale's ends, the steps. */
export function landscapeKey(land, log, steps) {
  const [lo, hi] = formatColumn([land.min, land.max]);
  return [
    el("p", { className: "landscape-centre" }, "loss at the current weights (⊕) ",
      el("strong", { id: "landscape-centre" }, formatNumber(land.centre)), ` after ${plural(steps, "step")}`),
    el("p", { className: "colour-key landscape-key" },
      el("span", { id: "landscape-min" }, lo),
      ramp(),
      el("span", { id: "landscape-max" }, hi),
      el("span", {}, log ? " (log scale)" : " (linear scale)")),
  ];
}

/** The gradient check's answer as a verdict, its numbers and a table of the parameters. */
export function gradcheckContent(check) {
  const verdict = el("p", { className: `verdict ${check.passed ? "passed" : "failed"}`, id: "gradcheck-verdict" },
    check.passed ? "passed" : "failed");
  const summary = el("p", {},
    "largest relative error ", el("strong", { id: "gradcheck-max" }, formatNumber(check.max_error)),
    ` (tolerance ${formatTick(check.tolerance)}), on the first ${plural(check.rows, "training row")}: `
    + "backpropagation against central differences, in float64.");
  const names = Object.keys(check.errors);
  const errors = formatColumn(names.map((name) => check.errors[name]));
  const skipped = check.skipped || {};
  const rows = names.map((name, k) => el("tr", { "data-param": name },
    el("th", { scope: "row" }, name), el("td", {}, errors[k]), el("td", {}, String(skipped[name] ?? 0))));
  const table = el("table", { className: "gradcheck-table" },
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "parameter"), el("th", { scope: "col" }, "rel. error"),
      el("th", { scope: "col", title: "entries not compared: a ReLU unit exactly on its kink" }, "skipped"))),
    el("tbody", {}, ...rows));
  const anySkipped = Object.values(skipped).some((n) => n > 0);
  const note = anySkipped ? [el("p", { className: "hint" }, "Skipped: entries where a ReLU unit sits exactly on its kink, so no derivative exists.")] : [];
  return [verdict, summary, el("div", { className: "table-scroll" }, table), ...note];
}

const $ = (id) => document.getElementById(id);
const LANDSCAPE_SIZE = 21;

/** The answer when it is one, else its sentence in the panel (and null). */
function accepted(answer) {
  const box = $("teach-error");
  const ok = answer !== null && answer.ok;
  box.hidden = ok || answer === null;
  box.textContent = ok || answer === null ? "" : answer.body.error;
  return ok ? answer.body : null;
}

/** Show a result box as of `steps` (a fresh answer: not stale). */
function fresh(box, steps) {
  box.hidden = false;
  box.classList.remove("stale");
  box.querySelector(".stale-note")?.remove();
  box.dataset.steps = String(steps);
}

/**
 * The panel's buttons. `request(call)` runs `call(session)` in the page's queue once the server
 * holds the run the controls show, and resolves to its answer (null when there is no run, or
 * a reset replaced it meanwhile); `steps()` is how many steps the page shows. Returns what the
 * page calls when it draws a new state (`moved(steps)`) and after a reset (`clear()`).
 */
export function wireTeachers(request, steps) {
  async function landscape() {
    const radius = Number($("landscape-radius").value);
    const body = accepted(await request((session) => landscapeCall(session, LANDSCAPE_SIZE, radius)));
    if (!body) return;
    const figure = $("landscape");
    fresh(figure, steps());
    const log = drawLandscape($("landscape-canvas"), body.landscape);
    $("landscape-key").replaceChildren(...landscapeKey(body.landscape, log, steps()));
  }
  async function gradcheck() {
    const body = accepted(await request(gradcheckCall));
    if (!body) return;
    const box = $("gradcheck");
    box.replaceChildren(...gradcheckContent(body.gradcheck));
    fresh(box, steps());
  }
  function readout(event) {
    const rect = event.target.getBoundingClientRect();
    const at = landscapeAt(event.target, event.clientX - rect.left, event.clientY - rect.top);
    $("landscape-readout").textContent = at
      ? `α = ${formatTick(at.alpha)}, β = ${formatTick(at.beta)}: loss ${formatNumber(at.loss)}`
      : "";
  }
  return {
    landscape, gradcheck, readout,
    /** Training moved on: the slice and the check describe older weights. Kept, dimmed, labelled. */
    moved(now) {
      for (const box of [$("landscape"), $("gradcheck")]) {
        if (box.hidden || box.classList.contains("stale") || box.dataset.steps === String(now)) continue;
        box.classList.add("stale");
        const button = box.id === "landscape" ? "Loss landscape" : "Check gradients";
        box.prepend(el("p", { className: "stale-note" }, `Of step ${box.dataset.steps}: press ${button} again for the current weights.`));
      }
    },
    /** The window changed size: the shown slice again, at the canvas's new size. */
    redraw() {
      const canvas = $("landscape-canvas");
      if (!$("landscape").hidden && canvas.landscape) drawLandscape(canvas, canvas.landscape);
    },
    clear() {
      for (const id of ["landscape", "gradcheck", "teach-error"]) $(id).hidden = true;
      $("gradcheck").replaceChildren();
      $("landscape-readout").textContent = "";
    },
  };
}
