// The network drawing: one column per layer, each neuron drawn as its output map over the
// input plane (or its curve over x), edges coloured by the sign of W and as wide as |W|.
// After a step, each neuron also gets a red ring as thick as its mean |delta| for the batch.
import { css, NEGATIVE, POSITIVE } from "./colours.js";
import { drawNeuronMap, prepareCanvas } from "./maps.js";

const DELTA_COLOUR = "#d62728";

/** W[j][i] is the weight from input i to unit j (the protocol's [[...n_in] x n_out]). */
function weight(W, i, j) {
  return W[j][i];
}

/** What a unit's value means, which decides where its colour scale is centred. */
function unitKinds(state, config) {
  const sizes = state.layer_sizes;
  return sizes.map((_, column) => {
    if (column === 0) return "value";
    if (column === sizes.length - 1) return state.task === "classify" ? "probability" : "value";
    return config.activation === "sigmoid" ? "probability" : "value";
  });
}

/** Two short lines per column (name, then what its units compute): long one-line titles
 *  run into each other when there are seven or eight columns. */
function columnTitle(column, sizes, config, state) {
  if (column === 0) return ["inputs", state.feature_names.join(", ")];
  if (column === sizes.length - 1) {
    if (state.task === "regress") return ["output", "identity"];
    return ["output", config.loss === "cross_entropy" ? "softmax" : "sigmoid"];
  }
  const bn = config.bn === 1 || config.bn === "1" ? ", BN" : "";
  return [`hidden ${column}`, `${config.activation}${bn}`];
}

/** Box geometry for every neuron: columns spread over the width, units centred vertically. */
function layout(sizes, width, height) {
  const top = 36;
  const bottom = 12;
  const maxUnits = Math.max(...sizes);
  const columnGap = width / sizes.length;
  const box = Math.max(12, Math.min(52, (height - top - bottom) / maxUnits - 8, columnGap * 0.45));
  // Room under each box for its mean |delta| label when the column is not crowded.
  const pitch = Math.min(box + 24, (height - top - bottom) / maxUnits);
  const labelled = pitch - box >= 16; // room for the mean |delta| under each box
  return sizes.map((n, column) => {
    const cx = columnGap * (column + 0.5);
    const y0 = top + (height - top - bottom - n * pitch) / 2 + (pitch - box) / 2;
    return Array.from({ length: n }, (_, unit) => ({ x: cx - box / 2, y: y0 + unit * pitch, w: box, h: box, labelled }));
  });
}

function drawEdges(ctx, state, boxes) {
  let largest = 1e-12;
  for (const layer of state.weights) for (const row of layer.W) for (const w of row) largest = Math.max(largest, Math.abs(w));
  state.weights.forEach((layer, l) => {
    const from = boxes[l];
    const to = boxes[l + 1];
    from.forEach((a, i) => {
      to.forEach((b, j) => {
        const w = weight(layer.W, i, j);
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
 *  vanishing or exploding deltas show as a difference between columns. */
function drawDeltaRings(ctx, step, boxes) {
  let largest = 1e-300;
  for (const layer of step.layers) for (const v of layer.mean_abs_delta) largest = Math.max(largest, v);
  ctx.font = "9px sans-serif";
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  step.layers.forEach((layer, l) => {
    layer.mean_abs_delta.forEach((v, j) => {
      const b = boxes[l + 1][j];
      ctx.strokeStyle = DELTA_COLOUR;
      ctx.lineWidth = 0.8 + 4 * Math.sqrt(v / largest);
      ctx.strokeRect(b.x - 3, b.y - 3, b.w + 6, b.h + 6);
      if (b.labelled) {
        ctx.fillStyle = DELTA_COLOUR;
        ctx.fillText(v.toPrecision(2), b.x + b.w / 2, b.y + b.h + 4);
      }
    });
  });
}

/** Draw the whole network; returns the neuron boxes (for the hover read-out). */
export function drawNetwork(canvas, state, config) {
  const { ctx, width, height } = prepareCanvas(canvas);
  const sizes = state.layer_sizes;
  const boxes = layout(sizes, width, height);
  const kinds = unitKinds(state, config);
  drawEdges(ctx, state, boxes);
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  sizes.forEach((_, column) => {
    const b = boxes[column][0];
    const [name, kind] = columnTitle(column, sizes, config, state);
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
      if (maps && maps[unit]) drawNeuronMap(ctx, maps[unit], state.task, b, kinds[c]);
      ctx.strokeStyle = "#555";
      ctx.lineWidth = 1;
      ctx.strokeRect(b.x, b.y, b.w, b.h);
    });
  });
  if (state.step) drawDeltaRings(ctx, state.step, boxes);
  return boxes;
}

/** Text for the neuron under the mouse: where it is, its bias, its last mean |delta|. */
export function describeNeuron(state, boxes, x, y) {
  for (let c = 0; c < boxes.length; c += 1) {
    for (let u = 0; u < boxes[c].length; u += 1) {
      const b = boxes[c][u];
      if (x < b.x || x > b.x + b.w || y < b.y || y > b.y + b.h) continue;
      if (c === 0) return `input ${state.feature_names[u] ?? u + 1}`;
      const last = c === boxes.length - 1;
      let text = `${last ? "output" : `hidden layer ${c}`}, unit ${u + 1}: b = ${state.weights[c - 1].b[u].toPrecision(3)}`;
      const map = state.maps[c - 1][u];
      text += `, output in [${map.min.toPrecision(3)}, ${map.max.toPrecision(3)}]`;
      if (state.step) text += `, mean |δ| = ${state.step.layers[c - 1].mean_abs_delta[u].toPrecision(3)}`;
      return text;
    }
  }
  return null;
}
