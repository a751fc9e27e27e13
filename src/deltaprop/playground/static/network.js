// The network drawing: one column per layer, each neuron drawn as its output map over the
// input plane (or its curve over x), edges coloured by the sign of W (or of the last step's
// dW) and as wide as its magnitude. After a step, each neuron also gets a red ring as thick as
// its mean |delta| for the batch. The canvas is as tall as its columns need, no taller.
import { prepareCanvas } from "./canvas.js";
import { css, NEGATIVE, POSITIVE } from "./colours.js";
import { finiteOr0, formatColumn, formatNumber } from "./format.js";
import { drawNeuronMap } from "./maps.js";

const DELTA_COLOUR = "#d62728";
// Room right of the output column for its units' names ("P(class 0)").
const OUTPUT_LABEL_ROOM = 58;
// Activations whose output has a fixed range: their maps use it, so that colours compare
// between units and steps. The others (and the inputs) are scaled per map around 0.
const BOUNDED = { tanh: [-1, 1], sigmoid: [0, 1], softmax: [0, 1] };
// Room above the boxes for the two title lines, and below them.
const TOP = 36;
const BOTTOM = 12;
// The tallest the units of one column may make the drawing, and the largest box.
const MAX_COLUMN_HEIGHT = 520;
const MAX_BOX = 40;
const SHORT_NAMES = { sigmoid: "sigm", identity: "id", softmax: "smax", relu: "ReLU", tanh: "tanh" };

/** W[j][i] is the weight from input i to unit j (the protocol's [[...n_in] x n_out]). */
function weight(W, i, j) {
  return W[j][i];
}

/** The f of column c's units (c >= 1), from the state. */
function activationOf(state, column) {
  return state.activations ? state.activations[column - 1] : null;
}

/** The colour range of a unit's map: fixed for bounded units, null (per map) otherwise.
 *  Each softmax unit shows its own probability (blue near 1), so P(class 0) and P(class 1)
 *  look like each other's negative and cannot be mistaken for one another. */
function unitRange(state, column) {
  if (column === 0) return null;
  const bounds = BOUNDED[activationOf(state, column)];
  return bounds ? { lo: bounds[0], hi: bounds[1] } : null;
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

/** Box size and pitch (box plus the room for its ring and label) for a column gap. */
function boxSize(sizes, width) {
  const maxUnits = Math.max(...sizes);
  const columnGap = (width - OUTPUT_LABEL_ROOM) / sizes.length;
  let box = Math.max(12, Math.min(MAX_BOX, columnGap * 0.45));
  const pitch = Math.min(box + 24, MAX_COLUMN_HEIGHT / maxUnits);
  box = Math.min(box, pitch - 8);
  return { columnGap, box, pitch };
}

/** The height the drawing needs at this width. */
export function networkHeight(sizes, width) {
  const { pitch } = boxSize(sizes, width);
  return Math.ceil(TOP + BOTTOM + Math.max(...sizes) * pitch);
}

/** Box geometry for every neuron: columns spread over the width, units centred vertically. */
function layout(sizes, width, height) {
  const { columnGap, box, pitch } = boxSize(sizes, width);
  // Room for the mean |delta| under each box: below the ring (up to 5 px) and, side by side,
  // a column apart by more than a label's width.
  const labelled = pitch - box >= 22 && columnGap >= 40;
  return sizes.map((n, column) => {
    const cx = columnGap * (column + 0.5);
    const y0 = TOP + (height - TOP - BOTTOM - n * pitch) / 2 + (pitch - box) / 2;
    return Array.from({ length: n }, (_, unit) => ({ x: cx - box / 2, y: y0 + unit * pitch, w: box, h: box, labelled }));
  });
}

/** The values the edges are drawn by: each layer's W, or the last step's dW when asked
 *  (and there is one). W[j][i] is from input i to unit j. */
function edgeValues(state, byGradient) {
  const step = state.step;
  const gradients = byGradient && step && step.layers.every((layer) => layer.dW);
  return gradients ? step.layers.map((layer) => layer.dW) : state.weights.map((layer) => layer.W);
}

/** Draw every edge; returns their curves (for the hover read-out). */
function drawEdges(ctx, state, boxes, byGradient) {
  const values = edgeValues(state, byGradient);
  let largest = 1e-300;
  for (const W of values) for (const row of W) for (const w of row) largest = Math.max(largest, Math.abs(finiteOr0(w)));
  const edges = [];
  values.forEach((W, l) => {
    boxes[l].forEach((a, i) => {
      boxes[l + 1].forEach((b, j) => {
        const w = finiteOr0(W[j][i]);
        const strength = Math.abs(w) / largest;
        const edge = { layer: l, from: i, to: j, x1: a.x + a.w, y1: a.y + a.h / 2, x2: b.x, y2: b.y + b.h / 2, width: 0.4 + 5 * strength };
        ctx.strokeStyle = css(w >= 0 ? POSITIVE : NEGATIVE, 0.25 + 0.65 * strength);
        ctx.lineWidth = edge.width;
        ctx.beginPath();
        const bend = (edge.x2 - edge.x1) / 2;
        ctx.moveTo(edge.x1, edge.y1);
        ctx.bezierCurveTo(edge.x1 + bend, edge.y1, edge.x2 - bend, edge.y2, edge.x2, edge.y2);
        ctx.stroke();
        edges.push(edge);
      });
    });
  });
  return edges;
}

/** A point of an edge's curve at t in [0, 1] (the bezier drawEdges draws). */
function edgePoint(e, t) {
  const bend = (e.x2 - e.x1) / 2;
  const u = 1 - t;
  const x = u * u * u * e.x1 + 3 * u * u * t * (e.x1 + bend) + 3 * u * t * t * (e.x2 - bend) + t * t * t * e.x2;
  const y = u * u * u * e.y1 + 3 * u * u * t * e.y1 + 3 * u * t * t * e.y2 + t * t * t * e.y2;
  return [x, y];
}

/** The edge nearest (x, y) within a few pixels of its line, or null. */
export function edgeAt(edges, x, y) {
  let best = null;
  let bestDistance = Infinity;
  for (const e of edges) {
    if (x < e.x1 - 2 || x > e.x2 + 2) continue;
    for (let k = 0; k <= 32; k += 1) {
      const [px, py] = edgePoint(e, k / 32);
      const d = Math.hypot(px - x, py - y);
      if (d < bestDistance) [best, bestDistance] = [e, d];
    }
  }
  return best && bestDistance <= Math.max(4, best.width / 2 + 2) ? best : null;
}

/** Where the mouse may hover an edge (for the tests): a third of the way along, away from
 *  where edges between the same columns cross. */
export function edgeMiddle(e) {
  return edgePoint(e, 0.3);
}

/** A unit's short name: x1, h1.2 (hidden layer 1, unit 2), out.1. */
function unitName(state, column, unit) {
  const last = state.layer_sizes.length - 1;
  if (column === 0) return `input ${state.feature_names[unit] ?? unit + 1}`;
  return column === last ? `output unit ${unit + 1}` : `hidden ${column} unit ${unit + 1}`;
}

/** Text for an edge: its weight, the last step's gradient and the update that step made. */
export function describeEdge(state, e) {
  const l = e.layer + 1;
  const where = `w(${l}) ${e.to + 1},${e.from + 1}: from ${unitName(state, e.layer, e.from)} to ${unitName(state, l, e.to)}`;
  const w = state.weights[e.layer].W[e.to][e.from];
  const layer = state.step ? state.step.layers[e.layer] : null;
  if (!layer || !layer.dW) return `${where} · W = ${formatNumber(w)} · no step shown yet: press Step for its gradient and update`;
  const dW = layer.dW[e.to][e.from];
  const update = layer.update ? layer.update.W[e.to][e.from] : null;
  return `${where} · W = ${formatNumber(w)} · last step's gradient dW = ${formatNumber(dW)} · its update ΔW = ${formatNumber(update)}`;
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

/** The column titles, each line shortened or left out where it would run into the next
 *  column's; their extents go to data-titles (for the tests). */
function drawTitles(ctx, canvas, state, config, boxes) {
  const sizes = state.layer_sizes;
  // Columns closer than "hidden 1" is wide get the short titles (h1, in, out).
  const columnGap = boxes.length > 1 ? boxes[1][0].x - boxes[0][0].x : ctx.canvas.width;
  ctx.font = "11px sans-serif";
  const narrow = columnGap < ctx.measureText("hidden 10").width + 6;
  const room = columnGap - 4;
  const extents = [];
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  sizes.forEach((_, column) => {
    const centre = boxes[column][0].x + boxes[column][0].w / 2;
    const [name, kind] = columnTitle(column, state, config, narrow);
    const lines = [[name, "11px sans-serif", "#222", 4], [kind, "10px sans-serif", "#777", 18]];
    for (const [text, font, colour, y] of lines) {
      ctx.font = font;
      const fits = [text, SHORT_NAMES[text]].find((t) => t && ctx.measureText(t).width <= room);
      if (!fits) continue;
      ctx.fillStyle = colour;
      ctx.fillText(fits, centre, y);
      const half = ctx.measureText(fits).width / 2;
      extents.push(`${y}:${(centre - half).toFixed(1)}:${(centre + half).toFixed(1)}`);
    }
  });
  canvas.dataset.titles = extents.join(";");
}

/** Draw the whole network at the height it needs; returns the neuron boxes and the edges
 *  (for the hover read-out). `byGradient` colours the edges by the last step's dW. */
export function drawNetwork(canvas, state, config, { byGradient = false } = {}) {
  const sizes = state.layer_sizes;
  canvas.style.height = `${networkHeight(sizes, canvas.clientWidth || 600)}px`;
  const { ctx, width, height } = prepareCanvas(canvas);
  const boxes = layout(sizes, width, height);
  const edges = drawEdges(ctx, state, boxes, byGradient);
  drawTitles(ctx, canvas, state, config, boxes);
  boxes.forEach((column, c) => {
    const maps = c === 0 ? state.input_maps : state.maps[c - 1];
    column.forEach((b, unit) => {
      if (maps && maps[unit]) drawNeuronMap(ctx, maps[unit], state.task, b, unitRange(state, c));
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
  // For the tests: the output units' names and their boxes' centres (CSS pixels), and what
  // the edges were drawn by.
  canvas.dataset.outputs = boxes[last].map((_, unit) => outputName(state, unit)).join("|");
  canvas.dataset.outputCentres = boxes[last].map((b) => `${b.x + b.w / 2},${b.y + b.h / 2}`).join(";");
  canvas.dataset.edgesBy = byGradient && state.step?.layers.every((layer) => layer.dW) ? "gradient" : "weight";
  // The midpoints of the edges, on the element (not an attribute: a deep network has over a
  // thousand), for the tests to hover them.
  canvas.edgeMiddles = edges.map((e) => ({ layer: e.layer, from: e.from, to: e.to, at: edgeMiddle(e) }));
  return { boxes, edges };
}

/** Text for the neuron under the mouse: what it is, its bias, its output range, the colour
 *  scale of its map, and its last mean |delta|. */
export function describeNeuron(state, boxes, x, y) {
  for (let c = 0; c < boxes.length; c += 1) {
    for (let u = 0; u < boxes[c].length; u += 1) {
      const b = boxes[c][u];
      if (x < b.x || x > b.x + b.w || y < b.y || y > b.y + b.h) continue;
      const map = c === 0 ? state.input_maps[u] : state.maps[c - 1][u];
      const values = map ? `values in [${formatColumn([map.min, map.max]).join(", ")}]` : "";
      if (c === 0) return `input ${state.feature_names[u] ?? u + 1}: ${values}, colours scaled to this map`;
      const last = c === boxes.length - 1;
      const name = last ? `output unit ${u + 1} (${outputName(state, u)})` : `hidden layer ${c}, unit ${u + 1}`;
      const range = unitRange(state, c);
      const scale = range ? `colours on the fixed range [${range.lo}, ${range.hi}]` : "colours scaled to this map";
      let text = `${name}: b = ${formatNumber(state.weights[c - 1].b[u])}, ${values}, ${scale}`;
      if (state.step) text += `, mean |δ| = ${formatNumber(state.step.layers[c - 1].mean_abs_delta[u])}`;
      return text;
    }
  }
  return null;
}
