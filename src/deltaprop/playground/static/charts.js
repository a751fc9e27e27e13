// Line charts against the epoch: the train/test losses, and the per-layer gradient norms on a
// log scale (they span orders of magnitude between layers, which is the point of showing them).
import { prepareCanvas } from "./canvas.js";
import { SERIES } from "./colours.js";
import { finite, formatTick } from "./format.js";

const PAD = { left: 44, right: 10, top: 18, bottom: 18 };

function drawable(v, logY) {
  return finite(v) && (!logY || v > 0);
}

/** The y range: whole decades around the values (log), or from 0 to just above the largest. */
function range(series, logY) {
  const values = series.flatMap((s) => s.y.filter((v) => drawable(v, logY)));
  if (!values.length) return logY ? [0.1, 1] : [0, 1];
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  if (logY) {
    const top = Math.ceil(Math.log10(hi) + 1e-9);
    const bottom = Math.min(Math.floor(Math.log10(lo)), top - 1);
    return [10 ** bottom, 10 ** top];
  }
  return [Math.min(0, lo), hi > 0 ? hi * 1.05 : 1];
}

/** Losses go on a log axis once their positive values span more than 3 decades: a diverging
 *  run's 1e58 (or a long run's 1e-5) would flatten everything else on a linear one. */
function spansDecades(series, decades) {
  const values = series.flatMap((s) => s.y.filter((v) => drawable(v, true)));
  return values.length > 1 && Math.max(...values) / Math.min(...values) > 10 ** decades;
}

function linearTicks(lo, hi) {
  const raw = (hi - lo) / 4;
  const power = 10 ** Math.floor(Math.log10(raw || 1));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || power;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi * (1 + 1e-9); v += step) ticks.push(Number(v.toPrecision(6)));
  return ticks;
}

function logTicks(lo, hi) {
  const first = Math.round(Math.log10(lo));
  const last = Math.round(Math.log10(hi));
  const every = Math.max(1, Math.ceil((last - first) / 5));
  const ticks = [];
  for (let e = first; e <= last; e += every) ticks.push(10 ** e);
  return ticks;
}

/**
 * Draw series [{label, colour, dash, y}] against shared x values (epochs).
 * Missing values (null, or <= 0 on a log scale) break the line instead of faking a value; a
 * value with no drawable neighbour is drawn as a dot. What was drawn is also written on the
 * canvas's data attributes (data-points, data-ticks, data-x-label, data-scale), which the
 * tests read back.
 */
function drawLineChart(canvas, { x, series, logY = false, title = "" }) {
  const { ctx, width, height } = prepareCanvas(canvas);
  const frame = { x: PAD.left, y: PAD.top, w: width - PAD.left - PAD.right, h: height - PAD.top - PAD.bottom };
  const [lo, hi] = range(series, logY);
  const xmin = x.length ? Math.min(x[0], 0) : 0;
  const xlast = x.length ? x[x.length - 1] : 0;
  const xspan = xlast - xmin > 0 ? xlast - xmin : 1;
  const px = (v) => frame.x + ((v - xmin) / xspan) * frame.w;
  const py = logY
    ? (v) => frame.y + frame.h - ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo) || 1)) * frame.h
    : (v) => frame.y + frame.h - ((v - lo) / (hi - lo || 1)) * frame.h;

  ctx.font = "10px sans-serif";
  ctx.fillStyle = "#555";
  ctx.strokeStyle = "#e3e5e8";
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  const labels = [];
  for (const t of logY ? logTicks(lo, hi) : linearTicks(lo, hi)) {
    const y = Math.round(py(t)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(frame.x, y);
    ctx.lineTo(frame.x + frame.w, y);
    ctx.stroke();
    const label = formatTick(t);
    labels.push(label);
    ctx.fillText(label, frame.x - 4, y);
  }
  ctx.strokeStyle = "#888";
  ctx.strokeRect(frame.x + 0.5, frame.y + 0.5, frame.w - 1, frame.h - 1);
  ctx.textBaseline = "top";
  ctx.textAlign = "left";
  ctx.fillText("0", frame.x, frame.y + frame.h + 4);
  const xLabel = `epoch ${formatTick(Number(xlast.toPrecision(3)))}`;
  ctx.textAlign = "right"; // ends at the frame's right edge: never cut by the canvas
  ctx.fillText(xLabel, frame.x + frame.w, frame.y + frame.h + 4);
  ctx.textAlign = "left";
  ctx.fillStyle = "#222";
  ctx.font = "11px sans-serif";
  ctx.fillText(title, frame.x, 3);

  let points = 0;
  ctx.save();
  ctx.beginPath();
  // A little room on the sides, where the first and last points' dots would be cut in half.
  ctx.rect(frame.x - 4, frame.y - 4, frame.w + 8, frame.h + 8);
  ctx.clip();
  for (const s of series) {
    ctx.strokeStyle = s.colour;
    ctx.fillStyle = s.colour;
    ctx.lineWidth = 1.6;
    ctx.setLineDash(s.dash || []);
    ctx.beginPath();
    const ok = s.y.map((v) => drawable(v, logY));
    const at = (i) => [px(x[i]), py(s.y[i])];
    s.y.forEach((v, i) => {
      if (!ok[i]) return;
      points += 1;
      if (i > 0 && ok[i - 1]) ctx.lineTo(...at(i));
      else ctx.moveTo(...at(i));
    });
    ctx.stroke();
    ctx.setLineDash([]);
    s.y.forEach((v, i) => {
      if (!ok[i] || ok[i - 1] || ok[i + 1]) return;
      ctx.beginPath(); // a point without neighbours would be an invisible zero-length line
      ctx.arc(...at(i), 2.5, 0, 2 * Math.PI);
      ctx.fill();
    });
  }
  ctx.restore();
  Object.assign(canvas.dataset, { points: String(points), ticks: labels.join("|"), xLabel, scale: logY ? "log" : "linear" });
  legend(canvas.parentElement.querySelector(".legend"), series);
}

/** The legend as HTML under the chart: it wraps by itself when there are many layers. */
function legend(element, series) {
  if (!element) return;
  element.style.paddingLeft = `${PAD.left}px`; // starts where the chart's frame does
  const key = series.map((s) => s.label).join("|");
  if (element.dataset.key === key) return;
  element.dataset.key = key;
  element.replaceChildren(
    ...series.map((s) => {
      const item = document.createElement("span");
      item.className = "legend-item";
      const swatch = document.createElement("span");
      swatch.className = s.dash ? "swatch dashed" : "swatch";
      swatch.style.borderColor = s.colour;
      item.append(swatch, s.label);
      return item;
    }),
  );
}

/** The losses after each update; the test loss only when there is a test set. */
export function drawLoss(canvas, history, hasTest) {
  const series = [{ label: "train", colour: "#222", y: history.train_loss }];
  if (hasTest) series.push({ label: "test", colour: "#d62728", dash: [5, 3], y: history.test_loss || [] });
  const logY = spansDecades(series, 3);
  drawLineChart(canvas, { x: history.epoch, title: logY ? "loss, log scale (it spans over 3 decades)" : "loss", series, logY });
}

export function drawGradNorms(canvas, history, layers) {
  const series = Array.from({ length: layers }, (_, l) => ({
    label: `layer ${l + 1}`,
    colour: SERIES[l % SERIES.length],
    y: history.grad_norms.map((row) => (row ? row[l] : null)),
  }));
  drawLineChart(canvas, { x: history.epoch, series, logY: true, title: "‖(dW, db)‖ per layer, log scale" });
  noteGaps(canvas, gapNote(history.grad_norms));
}

/** Why the gradient-norm chart has gaps, in words: an update without a gradient (the reset,
 *  or a step refused because its gradient was not finite) has no norm to draw. */
function gapNote(rows) {
  const missing = rows.filter((row) => !row || row.some((v) => !finite(v))).length;
  if (missing === 0) return "";
  if (missing === rows.length) return "no gradient yet: press Step or Play";
  const later = rows.slice(1).filter((row) => !row || row.some((v) => !finite(v))).length;
  return later ? "gaps: no gradient there (a step refused, or none taken)" : "";
}

function noteGaps(canvas, note) {
  canvas.dataset.note = note;
  if (!note) return;
  const ctx = canvas.getContext("2d");
  const width = canvas.clientWidth;
  ctx.font = "10px sans-serif";
  ctx.fillStyle = "#8a5a00";
  ctx.textAlign = "right";
  ctx.textBaseline = "top";
  ctx.fillText(note, width - PAD.right - 4, PAD.top + 4, width - PAD.left - PAD.right - 8);
}
