// Line charts against the epoch: the train/test losses, and the per-layer gradient norms on a
// log scale (they span orders of magnitude between layers, which is the point of showing them).
import { SERIES } from "./colours.js";
import { prepareCanvas } from "./maps.js";

const PAD = { left: 44, right: 8, top: 18, bottom: 18 };

function finitePositive(v, logY) {
  return typeof v === "number" && Number.isFinite(v) && (!logY || v > 0);
}

function range(series, logY) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of series) {
    for (const v of s.y) {
      if (!finitePositive(v, logY)) continue;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  if (!Number.isFinite(lo)) return logY ? [0.1, 1] : [0, 1];
  if (logY) {
    return [10 ** Math.floor(Math.log10(lo)), 10 ** Math.ceil(Math.log10(hi) + 1e-9)];
  }
  // Losses: start at 0 so that shrinking loss reads as shrinking bars of height.
  const top = hi > 0 ? hi * 1.05 : 1;
  return [Math.min(0, lo), top];
}

function linearTicks(lo, hi) {
  const raw = (hi - lo) / 4;
  const power = 10 ** Math.floor(Math.log10(raw || 1));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || power;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-12; v += step) ticks.push(Number(v.toPrecision(6)));
  return ticks;
}

function logTicks(lo, hi) {
  const ticks = [];
  const every = Math.max(1, Math.ceil((Math.log10(hi) - Math.log10(lo)) / 5));
  for (let e = Math.log10(lo); e <= Math.log10(hi) + 1e-9; e += every) ticks.push(10 ** Math.round(e));
  return ticks;
}

function tickLabel(v, logY) {
  if (logY) return `1e${Math.round(Math.log10(v))}`;
  return Math.abs(v) >= 1000 ? v.toExponential(0) : String(v);
}

/**
 * Draw series [{label, colour, dash, y}] against shared x values (epochs).
 * Missing values (null, or <= 0 on a log scale) break the line instead of faking a value.
 */
export function drawLineChart(canvas, { x, series, logY = false, title = "" }) {
  const { ctx, width, height } = prepareCanvas(canvas);
  const frame = { x: PAD.left, y: PAD.top, w: width - PAD.left - PAD.right, h: height - PAD.top - PAD.bottom };
  const [lo, hi] = range(series, logY);
  const xmax = x.length ? Math.max(x[x.length - 1], 1e-9) : 1;
  const xmin = x.length ? Math.min(x[0], 0) : 0;
  const px = (v) => frame.x + ((v - xmin) / (xmax - xmin || 1)) * frame.w;
  const py = logY
    ? (v) => frame.y + frame.h - ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo) || 1)) * frame.h
    : (v) => frame.y + frame.h - ((v - lo) / (hi - lo || 1)) * frame.h;

  ctx.font = "10px sans-serif";
  ctx.fillStyle = "#555";
  ctx.strokeStyle = "#e3e5e8";
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const t of logY ? logTicks(lo, hi) : linearTicks(lo, hi)) {
    const y = Math.round(py(t)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(frame.x, y);
    ctx.lineTo(frame.x + frame.w, y);
    ctx.stroke();
    ctx.fillText(tickLabel(t, logY), frame.x - 4, y);
  }
  ctx.strokeStyle = "#888";
  ctx.strokeRect(frame.x + 0.5, frame.y + 0.5, frame.w - 1, frame.h - 1);
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  ctx.fillText("0", frame.x, frame.y + frame.h + 4);
  ctx.fillText(`epoch ${Number(xmax.toPrecision(3))}`, frame.x + frame.w - 24, frame.y + frame.h + 4);
  ctx.textAlign = "left";
  ctx.fillStyle = "#222";
  ctx.font = "11px sans-serif";
  ctx.fillText(title, frame.x, 3);

  for (const s of series) {
    ctx.strokeStyle = s.colour;
    ctx.lineWidth = 1.6;
    ctx.setLineDash(s.dash || []);
    ctx.beginPath();
    let drawing = false;
    s.y.forEach((v, i) => {
      if (!finitePositive(v, logY)) {
        drawing = false;
        return;
      }
      if (drawing) ctx.lineTo(px(x[i]), py(v));
      else ctx.moveTo(px(x[i]), py(v));
      drawing = true;
    });
    ctx.stroke();
    ctx.setLineDash([]);
  }
  legend(canvas.parentElement.querySelector(".legend"), series);
}

/** The legend as HTML under the chart: it wraps by itself when there are many layers. */
function legend(element, series) {
  if (!element) return;
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

export function drawLoss(canvas, history) {
  drawLineChart(canvas, {
    x: history.epoch,
    title: "loss",
    series: [
      { label: "train", colour: "#222", y: history.train_loss },
      { label: "test", colour: "#d62728", dash: [5, 3], y: history.test_loss || [] },
    ],
  });
}

export function drawGradNorms(canvas, history) {
  const layers = history.grad_norms.length ? history.grad_norms[0].length : 0;
  const series = Array.from({ length: layers }, (_, l) => ({
    label: `layer ${l + 1}`,
    colour: SERIES[l % SERIES.length],
    y: history.grad_norms.map((row) => row[l]),
  }));
  drawLineChart(canvas, { x: history.epoch, series, logY: true, title: "gradient norm per layer, ‖(dW, db)‖, log scale" });
}
