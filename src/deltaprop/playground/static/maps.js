// Maps sent by the server (base64 bytes, see the protocol) and the big output plot.
import { diverging, css, NEGATIVE, POSITIVE } from "./colours.js";

/** base64 -> bytes. */
export function decodeBytes(b64) {
  const text = atob(b64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i += 1) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/** A map {min, max, data} -> Float32Array of values: byte q stands for min + (max-min) q/255. */
export function mapValues(map) {
  const bytes = decodeBytes(map.data);
  const values = new Float32Array(bytes.length);
  const span = map.max - map.min;
  for (let i = 0; i < bytes.length; i += 1) values[i] = map.min + (span * bytes[i]) / 255;
  return values;
}

// One scratch canvas per size: maps are tiny images scaled up with smoothing, and making a
// new canvas for each of ~100 neurons several times a second would churn the GC.
const scratch = new Map();
function scratchCanvas(width, height) {
  const key = `${width}x${height}`;
  if (!scratch.has(key)) {
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    scratch.set(key, canvas);
  }
  return scratch.get(key);
}

/** Draw size x size values (row 0 at the top) into the box, coloured around `centre`;
 *  `strength` < 1 pales the colours (the big map, so that the data points stand out on it). */
export function drawHeatmap(ctx, values, size, box, centre, scale, strength = 1) {
  const canvas = scratchCanvas(size, size);
  const sctx = canvas.getContext("2d");
  const image = sctx.createImageData(size, size);
  const s = scale > 0 ? scale : 1;
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

/** Where a neuron's values are "neutral": 0.5 for probabilities, 0 otherwise. */
export function centreOf(unitKind) {
  return unitKind === "probability" ? 0.5 : 0;
}

/** Draw one neuron's map (classify: heatmap; regress: a small curve) into a box. */
export function drawNeuronMap(ctx, map, task, box, unitKind) {
  const values = mapValues(map);
  const centre = centreOf(unitKind);
  if (task === "classify") {
    const size = Math.round(Math.sqrt(values.length));
    const scale = Math.max(Math.abs(map.min - centre), Math.abs(map.max - centre), 1e-12);
    drawHeatmap(ctx, values, size, box, centre, scale);
    return;
  }
  ctx.fillStyle = "#f7f8f9";
  ctx.fillRect(box.x, box.y, box.w, box.h);
  const lo = Math.min(map.min, 0);
  const hi = Math.max(map.max, 0);
  const span = hi - lo || 1;
  const yOf = (v) => box.y + box.h - 2 - ((v - lo) / span) * (box.h - 4);
  // The zero line, so the sign of the unit's output stays readable.
  ctx.strokeStyle = "#c8ccd0";
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(box.x, yOf(0));
  ctx.lineTo(box.x + box.w, yOf(0));
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

/** Canvas sized for the device pixel ratio; returns the context in CSS pixels. */
export function prepareCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || Number(canvas.getAttribute("width"));
  const height = canvas.clientHeight || Number(canvas.getAttribute("height"));
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  return { ctx, width, height };
}

function plotFrame(width, height) {
  const pad = { left: 34, right: 8, top: 8, bottom: 24 };
  return { x: pad.left, y: pad.top, w: width - pad.left - pad.right, h: height - pad.top - pad.bottom };
}

function axes(ctx, frame, extent) {
  const [xmin, xmax, ymin, ymax] = extent;
  ctx.strokeStyle = "#888";
  ctx.lineWidth = 1;
  ctx.strokeRect(frame.x + 0.5, frame.y + 0.5, frame.w - 1, frame.h - 1);
  ctx.fillStyle = "#555";
  ctx.font = "10px sans-serif";
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  ctx.fillText(fmt(xmin), frame.x + 8, frame.y + frame.h + 4);
  ctx.fillText(fmt(xmax), frame.x + frame.w - 8, frame.y + frame.h + 4);
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  ctx.fillText(fmt(ymax), frame.x - 4, frame.y + 6);
  ctx.fillText(fmt(ymin), frame.x - 4, frame.y + frame.h - 6);
}

function fmt(v) {
  return Math.abs(v) >= 100 ? v.toExponential(1) : String(Number(v.toPrecision(2)));
}

function toPixel(frame, extent) {
  const [xmin, xmax, ymin, ymax] = extent;
  return (x, y) => [
    frame.x + ((x - xmin) / (xmax - xmin || 1)) * frame.w,
    frame.y + ((ymax - y) / (ymax - ymin || 1)) * frame.h,
  ];
}

/** Train points filled, test points outlined; the minibatch of the last step ringed. */
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
  if (data.test) data.test.x.forEach((x, i) => point(x, data.test.y[i], false));
  data.train.x.forEach((x, i) => point(x, data.train.y[i], true));
  for (const row of batchRows || []) {
    const x = data.train.x[row];
    if (!x) continue;
    const [px, py] = pixel(x[0], classify ? x[1] : data.train.y[row]);
    ctx.beginPath();
    ctx.arc(px, py, 6.5, 0, 2 * Math.PI);
    ctx.strokeStyle = "#d62728"; // the delta colour: these rows are the ones in the tables
    ctx.lineWidth = 1.5;
    ctx.stroke();
  }
}

/** The big picture: decision map with the data (classify) or the fitted curve (regress). */
export function drawOutput(canvas, state) {
  const { ctx, width, height } = prepareCanvas(canvas);
  const frame = plotFrame(width, height);
  const extent = state.grid.extent;
  const pixel = toPixel(frame, extent);
  const classify = state.task === "classify";
  const batchRows = state.step ? state.step.rows : null;
  if (classify) {
    const bytes = decodeBytes(state.output.data);
    const values = Float32Array.from(bytes, (q) => q / 255);
    drawHeatmap(ctx, values, state.output.size, frame, 0.5, 0.5, 0.6);
  } else {
    ctx.fillStyle = "#fafbfc";
    ctx.fillRect(frame.x, frame.y, frame.w, frame.h);
  }
  ctx.save();
  ctx.beginPath();
  ctx.rect(frame.x, frame.y, frame.w, frame.h);
  ctx.clip();
  if (!classify) drawCurve(ctx, state.output, pixel);
  drawPoints(ctx, state.data, pixel, classify, batchRows);
  ctx.restore();
  axes(ctx, frame, extent);
}

function drawCurve(ctx, curve, pixel) {
  ctx.strokeStyle = css(POSITIVE);
  ctx.lineWidth = 2.5;
  ctx.beginPath();
  curve.x.forEach((x, i) => {
    const [px, py] = pixel(x, curve.y[i]);
    if (i === 0) ctx.moveTo(px, py);
    else ctx.lineTo(px, py);
  });
  ctx.stroke();
}
