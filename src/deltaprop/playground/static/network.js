// The network drawing: one column per layer, each neuron drawn as its output map over the
// input plane (or its curve over x), edges coloured by the sign of W and as wide as |W|.
// After a step, each neuron also gets a red ring as thick as its mean |delta| for the batch.
import { prepareCanvas } from "./canvas.js";
import { css, NEGATIVE, POSITIVE } from "./colours.js";
import { finiteOr0, formatNumber } from "./format.js";
import { drawNeuronMap } from "./maps.js";

const DELTA_COLOUR = "#d62728";
// Room right of the output column for its units' names ("P(class 0)").
const OUTPUT_LABEL_ROOM = 58;
// Activations whose output has a fixed range: their maps use it, so that colours compare
// between units and steps. The others (and the inputs) are scaled per map around 0.
const BOUNDED = { tanh: [-1, 1], sigmoid: [0, 1], softmax: [0, 1] };

/** W[j][i] is the weight from input i to unit j (the protocol's [[...n_in] x n_out]). */
function weight(W, i, j) {
  return W[j][i];
}

/** The f of column c's units (c >= 1), from the state. */
function activationOf(state, column) {
  return state.activations ? state.activations[column - 1] : null;
}

/** The colour range of a unit's map: fixed for bounded units, null (per map) otherwise.
 *  cross_entropy's first softmax unit is P(class 0): drawn the other way round, so that
 *  blue means class 1 in every output map, as in the decision map. */
function unitRange(state, column, unit) {
  if (column === 0) return null;
  const f = activationOf(state, column);
  const bounds = BOUNDED[f];
  if (!bounds) return null;
  const flip = f === "softmax" && unit === 0;
  return flip ? { lo: bounds[1], hi: bounds[0] } : { lo: bounds[0], hi: bounds[1] };
}

/** What an output unit stands for. */
function outputName(state, unit) {
  if (state.task === "regress") return "ŷ";
  const f = activationOf(state, state.layer_sizes.length - 1);
  if (f === "softmax") return `P(class ${unit})`;
  return "P(class 1)";
}

/** Two short lines per column (name, then what its units compute): long one-line titles
 *  run into each other when there are seven or eight columns. */
function columnTitle(column, state, config, narrow) {
  const sizes = state.layer_sizes;
  if (column === 0) return [narrow ? "in" : "inputs", state.feature_names.join(", ")];
  const f = activationOf(state, column) ?? "";
  if (column === sizes.length - 1) return [narrow ? "out" : "output", f];
  const bn = (config.bn === 1 || config.bn === "1") && !narrow ? ", BN" : "";
  return [narrow ? `h${column}` : `hidden ${column}`, `${f}${bn}`];
}

/** Box geometry for every neuron: columns spread over the width, units centred vertically. */
function layout(sizes, width, height) {
  const top = 36;
  const bottom = 12;
  const maxUnits = Math.max(...sizes);
  const columnGap = (width - OUTPUT_LABEL_ROOM) / sizes.length;
  const box = Math.max(12, Math.min(52, (height - top - bottom) / maxUnits - 8, columnGap * 0.45));
  const pitch = Math.min(box + 24, (height - top - bottom) / maxUnits);
  // Room for the mean |delta| under each box: below the ring (up to 5 px) and, side by side,
  // a column apart by more than a label's width.
  const labelled = pitch - box >= 22 && columnGap >= 40;
  return sizes.map((n, column) => {
    const cx = columnGap * (column + 0.5);
    const y0 = top + (height - top - bottom - n * pitch) / 2 + (pitch - box) / 2;
    return Array.from({ length: n }, (_, unit) => ({ x: cx - box / 2, y: y0 + unit * pitch, w: box, h: box, labelled }));
  });
}

function drawEdges(ctx, state, boxes) {
  let largest = 1e-12;
  for (const layer of state.weights) for (const row of layer.W) for (const w of row) largest = Math.max(largest, Math.abs(finiteOr0(w)));
  state.weights.forEach((layer, l) => {
    const from = boxes[l];
    const to = boxes[l + 1];
    from.forEach((a, i) => {
      to.forEach((b, j) => {
        const w = finiteOr0(weight(layer.W, i, j));
        const strength = Math.abs(w) / largest;
        ctx.strokeStyle = css(w >= 0 ? POSITIVE : NEGATIVE, 0.25 + 0.65 * strength);
        ctx.lineWidth = 0.4 + 5 * strength;
        ctx.beginPath();
        const x1 = a.x + a.w;
        const y1 = a.y + a.h / 2;
        const x2 = b.x;
        const y2 = b.y + b.h / 2;
        const bend = (x2 - x1) / 2;
        ctx.moveTo(x1, y1);
        ctx.bezierCurveTo(x1 + bend, y1, x2 - bend, y2, x2, y2);
        ctx.stroke();
      });
    });
  });
}

/** Rings from the step's mean |delta|, scaled by the largest over all layers so that
 *  vanishing or exploding deltas show as a difference between columns. A value the server
 *  could not send (null: not finite) gets the thinnest ring and "–". */
function drawDeltaRings(ctx, step, boxes) {
  let largest = 1e-300;
  for (const layer of step.layers) for (const v of layer.mean_abs_delta) largest = Math.max(largest, finiteOr0(v));
  ctx.font = "9px sans-serif";
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  step.layers.forEach((layer, l) => {
    layer.mean_abs_delta.forEach((v, j) => {
      const b = boxes[l + 1][j];
      if (!b) return;
      ctx.strokeStyle = DELTA_COLOUR;
      ctx.lineWidth = 0.8 + 4 * Math.sqrt(finiteOr0(v) / largest);
      ctx.strokeRect(b.x - 3, b.y - 3, b.w + 6, b.h + 6);
      if (b.labelled) {
        ctx.fillStyle = DELTA_COLOUR;
        ctx.fillText(formatNumber(v, { digits: 2 }), b.x + b.w / 2, b.y + b.h + 6);
      }
    });
  });
}

/** Draw the whole network; returns the neuron boxes (for the hover read-out). */
export function drawNetwork(canvas, state, config) {
  const { ctx, width, height } = prepareCanvas(canvas);
  const sizes = state.layer_sizes;
  const boxes = layout(sizes, width, height);
  drawEdges(ctx, state, boxes);
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  // Columns closer than "hidden 1" is wide get the short titles (h1, in, out).
  const columnGap = boxes.length > 1 ? boxes[1][0].x - boxes[0][0].x : width;
  ctx.font = "11px sans-serif";
  const narrow = columnGap < ctx.measureText("hidden 10").width + 6;
  sizes.forEach((_, column) => {
    const b = boxes[column][0];
    const [name, kind] = columnTitle(column, state, config, narrow);
    ctx.font = "11px sans-serif";
    ctx.fillStyle = "#222";
    ctx.fillText(name, b.x + b.w / 2, 4);
    ctx.font = "10px sans-serif";
    ctx.fillStyle = "#777";
    ctx.fillText(kind, b.x + b.w / 2, 18);
  });
  boxes.forEach((column, c) => {
    const maps = c === 0 ? state.input_maps : state.maps[c - 1];
    column.forEach((b, unit) => {
      if (maps && maps[unit]) drawNeuronMap(ctx, maps[unit], state.task, b, unitRange(state, c, unit));
      ctx.strokeStyle = "#555";
      ctx.lineWidth = 1;
      ctx.strokeRect(b.x, b.y, b.w, b.h);
    });
  });
  const last = boxes.length - 1;
  ctx.font = "10px sans-serif";
  ctx.fillStyle = "#222";
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  boxes[last].forEach((b, unit) => ctx.fillText(outputName(state, unit), b.x + b.w + 8, b.y + b.h / 2));
  if (state.step) drawDeltaRings(ctx, state.step, boxes);
  // For the tests: the output units' names and their boxes' centres (CSS pixels).
  canvas.dataset.outputs = boxes[last].map((_, unit) => outputName(state, unit)).join("|");
  canvas.dataset.outputCentres = boxes[last].map((b) => `${b.x + b.w / 2},${b.y + b.h / 2}`).join(";");
  return boxes;
}

/** Text for the neuron under the mouse: what it is, its bias, its output range, the colour
 *  scale of its map, and its last mean |delta|. */
export function describeNeuron(state, boxes, x, y) {
  for (let c = 0; c < boxes.length; c += 1) {
    for (let u = 0; u < boxes[c].length; u += 1) {
      const b = boxes[c][u];
      if (x < b.x || x > b.x + b.w || y < b.y || y > b.y + b.h) continue;
      const map = c === 0 ? state.input_maps[u] : state.maps[c - 1][u];
      const values = map ? `values in [${formatNumber(map.min, { digits: 3 })}, ${formatNumber(map.max, { digits: 3 })}]` : "";
      if (c === 0) return `input ${state.feature_names[u] ?? u + 1}: ${values}, colours scaled to this map`;
      const last = c === boxes.length - 1;
      const name = last ? `output unit ${u + 1} (${outputName(state, u)})` : `hidden layer ${c}, unit ${u + 1}`;
      const range = unitRange(state, c, u);
      const scale = range
        ? `colours on the fixed range [${Math.min(range.lo, range.hi)}, ${Math.max(range.lo, range.hi)}]${range.lo > range.hi ? ", reversed: orange = class 0" : ""}`
        : "colours scaled to this map";
      let text = `${name}: b = ${formatNumber(state.weights[c - 1].b[u], { digits: 3 })}, ${values}, ${scale}`;
      if (state.step) text += `, mean |δ| = ${formatNumber(state.step.layers[c - 1].mean_abs_delta[u], { digits: 3 })}`;
      return text;
    }
  }
  return null;
}
