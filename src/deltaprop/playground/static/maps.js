// Maps sent by the server (base64 bytes, see the protocol) and the big output plot.

// The ringed rows that get their row number written beside them: those the tables show.
const MAX_LABELLED_ROWS = 32;
import { clipSegment, prepareCanvas } from "./canvas.js";
import { css, diverging, NEGATIVE, POSITIVE } from "./colours.js";
import { finite, formatTick } from "./format.js";

/** base64 -> bytes. */
function decodeBytes(b64) {
  const text = atob(b64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i += 1) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/** A map {min, max, data} -> Float32Array of values: byte q stands for min + (max-min) q/255. */
function mapValues(map) {
  const bytes = decodeBytes(map.data);
  const values = new Float32Array(bytes.length);
  const span = map.max - map.min;
  for (let i = 0; i < bytes.length; i += 1) values[i] = map.min + (span * bytes[i]) / 255;
  return values;
}

// One scratch canvas and image buffer per size: maps are tiny images scaled up with
// smoothing, and making new ones for each of ~100 neurons twenty times a second would only
// give the garbage collector work.
const scratch = new Map();
function scratchCanvas(width, height) {
  const key = `${width}x${height}`;
  if (!scratch.has(key)) {
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext("2d");
    scratch.set(key, { canvas, context, image: context.createImageData(width, height) });
  }
  return scratch.get(key);
}

/** Draw size x size values (row 0 at the top) into the box: colour diverging((v - centre) / scale),
 *  orange below the centre, blue above (a negative scale swaps them); `strength` < 1 pales
 *  the colours (the big map, so that the data points stand out on it). */
function drawHeatmap(ctx, values, size, box, { centre, scale }, strength = 1) {
  const { canvas, context: sctx, image } = scratchCanvas(size, size);
  const s = scale !== 0 && Number.isFinite(scale) ? scale : 1;
  for (let i = 0; i < size * size; i += 1) {
    const [r, g, b] = diverging((strength * (values[i] - centre)) / s);
    image.data[4 * i] = r;
    image.data[4 * i + 1] = g;
    image.data[4 * i + 2] = b;
    image.data[4 * i + 3] = 255;
  }
  sctx.putImageData(image, 0, 0);
  ctx.save();
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(canvas, box.x, box.y, box.w, box.h);
  ctx.restore();
}

/**
 * Draw one neuron's map (classify: heatmap; regress: a small curve) into a box.
 * `range` is the unit's fixed value range {lo, hi} (a bounded activation: tanh [-1, 1],
 * sigmoid [0, 1]; lo > hi draws the colours the other way round), or null to scale this
 * map by itself around 0 (ReLU, identity, the inputs).
 */
export function drawNeuronMap(ctx, map, task, box, range) {
  const values = mapValues(map);
  const [lo, hi] = range
    ? [range.lo, range.hi]
    : (() => {
      const extent = Math.max(Math.abs(map.min), Math.abs(map.max), 1e-12);
      return [-extent, extent];
    })();
  if (task === "classify") {
    const size = Math.round(Math.sqrt(values.length));
    drawHeatmap(ctx, values, size, box, { centre: (lo + hi) / 2, scale: (hi - lo) / 2 });
    return;
  }
  ctx.fillStyle = "#f7f8f9";
  ctx.fillRect(box.x, box.y, box.w, box.h);
  // A curve's y axis: the fixed range, or the map's own range with 0 in it.
  const bottom = range ? Math.min(lo, hi) : Math.min(map.min, 0);
  const top = range ? Math.max(lo, hi) : Math.max(map.max, 0);
  const span = top - bottom || 1;
  const yOf = (v) => box.y + box.h - 2 - ((v - bottom) / span) * (box.h - 4);
  // The zero line, so the sign of the unit's output stays readable.
  ctx.strokeStyle = "#c8ccd0";
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(box.x, yOf(Math.max(bottom, Math.min(top, 0))));
  ctx.lineTo(box.x + box.w, yOf(Math.max(bottom, Math.min(top, 0))));
  ctx.stroke();
  ctx.strokeStyle = css(POSITIVE);
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  values.forEach((v, i) => {
    const x = box.x + (i / Math.max(1, values.length - 1)) * box.w;
    if (i === 0) ctx.moveTo(x, yOf(v));
    else ctx.lineTo(x, yOf(v));
  });
  ctx.stroke();
}

function plotFrame(width, height) {
  const pad = { left: 34, right: 8, top: 8, bottom: 24 };
  return { x: pad.left, y: pad.top, w: width - pad.left - pad.right, h: height - pad.top - pad.bottom };
}

function axes(ctx, frame, extent) {
  const [xmin, xmax, ymin, ymax] = extent;
  const short = (v) => formatTick(Number(v.toPrecision(2)));
  ctx.strokeStyle = "#888";
  ctx.lineWidth = 1;
  ctx.strokeRect(frame.x + 0.5, frame.y + 0.5, frame.w - 1, frame.h - 1);
  ctx.fillStyle = "#555";
  ctx.font = "10px sans-serif";
  ctx.textBaseline = "top";
  ctx.textAlign = "left";
  ctx.fillText(short(xmin), frame.x, frame.y + frame.h + 4);
  ctx.textAlign = "right";
  ctx.fillText(short(xmax), frame.x + frame.w, frame.y + frame.h + 4);
  ctx.textBaseline = "middle";
  ctx.fillText(short(ymax), frame.x - 4, frame.y + 6);
  ctx.fillText(short(ymin), frame.x - 4, frame.y + frame.h - 6);
}

function toPixel(frame, extent) {
  const [xmin, xmax, ymin, ymax] = extent;
  return (x, y) => [
    frame.x + ((x - xmin) / (xmax - xmin || 1)) * frame.w,
    frame.y + ((ymax - y) / (ymax - ymin || 1)) * frame.h,
  ];
}

/** Train points filled, test points outlined and drawn over them; the last step's minibatch ringed. */
function drawPoints(ctx, data, pixel, classify, batchRows) {
  const colourOf = (y) => (classify ? css(y >= 0.5 ? POSITIVE : NEGATIVE) : "#333");
  const point = (x, y, filled) => {
    const [px, py] = pixel(x[0], classify ? x[1] : y);
    ctx.beginPath();
    ctx.arc(px, py, 3.5, 0, 2 * Math.PI);
    // A dark rim on every point: a point on the map of its own class must not vanish.
    ctx.fillStyle = filled ? colourOf(y) : "#fff";
    ctx.fill();
    if (!filled) {
      ctx.strokeStyle = colourOf(y);
      ctx.lineWidth = 2;
      ctx.stroke();
    }
    ctx.beginPath();
    ctx.arc(px, py, filled ? 3.5 : 4.5, 0, 2 * Math.PI);
    ctx.strokeStyle = "rgba(20,20,20,0.8)";
    ctx.lineWidth = 0.8;
    ctx.stroke();
  };
  data.train.x.forEach((x, i) => point(x, data.train.y[i], true));
  if (data.test) data.test.x.forEach((x, i) => point(x, data.test.y[i], false));
  ringRows(ctx, data, pixel, classify, batchRows);
}

/** Ring the minibatch's rows and write each one's row number beside it (the tables' first
 *  column), for the rows the tables show. */
function ringRows(ctx, data, pixel, classify, batchRows) {
  ctx.font = "10px sans-serif";
  ctx.textAlign = "left";
  ctx.textBaseline = "bottom";
  (batchRows || []).forEach((row, k) => {
    const x = data.train.x[row];
    if (!x) return;
    const [px, py] = pixel(x[0], classify ? x[1] : data.train.y[row]);
    ctx.beginPath();
    ctx.arc(px, py, 6.5, 0, 2 * Math.PI);
    ctx.strokeStyle = "#d62728"; // the delta colour: these rows are the ones in the tables
    ctx.lineWidth = 1.5;
    ctx.stroke();
    if (k >= MAX_LABELLED_ROWS) return;
    ctx.lineWidth = 3;
    ctx.strokeStyle = "rgba(255,255,255,0.85)";
    ctx.strokeText(String(row), px + 6, py - 5);
    ctx.fillStyle = "#8a1414";
    ctx.fillText(String(row), px + 6, py - 5);
  });
}

/** The training row whose point is nearest (x, y) in CSS pixels of the output canvas, within
 *  `reach` pixels; null when there is none. */
export function trainRowAt(canvas, data, task, x, y, reach = 9) {
  if (!data || !canvas.dataset.frame) return null;
  const [fx, fy, fw, fh] = canvas.dataset.frame.split(",").map(Number);
  const pixel = toPixel({ x: fx, y: fy, w: fw, h: fh }, canvas.dataset.extent.split(",").map(Number));
  let best = null;
  let bestDistance = Infinity;
  data.train.x.forEach((point, row) => {
    const [px, py] = pixel(point[0], task === "classify" ? point[1] : data.train.y[row]);
    const d = Math.hypot(px - x, py - y);
    if (d <= reach && d < bestDistance) [best, bestDistance] = [row, d]; // a tie: the first row
  });
  return best;
}

/** Where training row `row` is drawn, in CSS pixels of the output canvas (for the tests). */
export function trainRowPixel(canvas, data, task, row) {
  const [fx, fy, fw, fh] = canvas.dataset.frame.split(",").map(Number);
  const pixel = toPixel({ x: fx, y: fy, w: fw, h: fh }, canvas.dataset.extent.split(",").map(Number));
  const point = data.train.x[row];
  return pixel(point[0], task === "classify" ? point[1] : data.train.y[row]);
}

/**
 * The big picture, on two stacked canvases of the same size: the map (P(class 1), or a plain
 * background for a curve) below, the curve, points and axes above. Returns how many of the
 * fitted curve's points lie outside the plot (0 for a classifier).
 */
export function drawOutput(mapCanvas, canvas, state, data) {
  const { ctx, width, height } = prepareCanvas(canvas);
  const under = prepareCanvas(mapCanvas).ctx;
  const frame = plotFrame(width, height);
  const extent = state.grid.extent;
  const pixel = toPixel(frame, extent);
  const classify = state.task === "classify";
  canvas.dataset.frame = [frame.x, frame.y, frame.w, frame.h].join(",");
  canvas.dataset.extent = extent.join(",");
  let outside = 0;
  if (classify) {
    const values = Float32Array.from(decodeBytes(state.output.data), (q) => q / 255);
    // Blue where class 1 is the likelier, as in the colour key and the output neuron's map.
    drawHeatmap(under, values, state.output.size, frame, { centre: 0.5, scale: 0.5 }, 0.6);
  } else {
    under.fillStyle = "#fafbfc";
    under.fillRect(frame.x, frame.y, frame.w, frame.h);
    outside = drawCurve(ctx, state.output, pixel, frame);
  }
  ctx.save();
  ctx.beginPath();
  ctx.rect(frame.x, frame.y, frame.w, frame.h);
  ctx.clip();
  if (data) drawPoints(ctx, data, pixel, classify, state.step ? state.step.rows : null);
  ctx.restore();
  axes(ctx, frame, extent);
  return outside;
}

/** The fitted curve, clipped to the frame: a curve that leaves it is drawn up to the edge. */
function drawCurve(ctx, curve, pixel, frame) {
  ctx.strokeStyle = css(POSITIVE);
  ctx.lineWidth = 2.5;
  ctx.lineCap = "round";
  ctx.beginPath();
  let outside = 0;
  let previous = null;
  curve.x.forEach((x, i) => {
    const y = curve.y[i];
    if (!finite(y)) {
      outside += 1;
      previous = null;
      return;
    }
    let [px, py] = pixel(x, y);
    py = Math.max(-1e9, Math.min(1e9, py)); // keeps the clipping arithmetic finite
    if (py < frame.y || py > frame.y + frame.h) outside += 1;
    if (previous) {
      const segment = clipSegment(previous[0], previous[1], px, py, frame);
      if (segment) {
        ctx.moveTo(segment[0], segment[1]);
        ctx.lineTo(segment[2], segment[3]);
      }
    }
    previous = [px, py];
  });
  ctx.stroke();
  ctx.lineCap = "butt";
  return outside;
}
