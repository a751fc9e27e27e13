// The backward-pass panel: after one step, each dense layer's deltas (dLoss/dz per sample and
// unit) for the minibatch, as numbers with a tint, so the delta rule can be followed by hand.
import { css, diverging } from "./colours.js";
import { finiteOr0, formatNumber } from "./format.js";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "className") node.className = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function layerTable(layer, l, rows, last) {
  const units = layer.delta.length ? layer.delta[0].length : layer.mean_abs_delta.length;
  let largest = 1e-300;
  for (const row of layer.delta) for (const v of row) largest = Math.max(largest, Math.abs(finiteOr0(v)));
  const head = el("tr", {}, el("th", { scope: "col" }, "training row"));
  for (let j = 0; j < units; j += 1) head.append(el("th", { scope: "col" }, `unit ${j + 1}`));
  const body = layer.delta.map((values, i) => {
    const tr = el("tr", {}, el("th", { scope: "row" }, String(rows[i])));
    values.forEach((v) => {
      const td = el("td", {}, formatNumber(v));
      // Light tint only: the number stays the thing to read.
      td.style.background = css(diverging(finiteOr0(v) / largest), 0.75);
      tr.append(td);
    });
    return tr;
  });
  const table = el("table", { className: "delta-table", "data-layer": String(l) }, el("thead", {}, head), el("tbody", {}, ...body));
  const meanRow = el("tr", { className: "mean-row" }, el("th", { scope: "row" }, "mean |δ|"));
  layer.mean_abs_delta.forEach((v) => meanRow.append(el("td", {}, formatNumber(v))));
  table.append(el("tfoot", {}, meanRow));
  const name = last ? `layer ${l} (output)` : `layer ${l} (hidden)`;
  const more = layer.rows_total > layer.rows_shown ? `, first ${layer.rows_shown} of ${layer.rows_total} rows` : "";
  const caption = el(
    "h3",
    {},
    `${name}: δ for ${layer.rows_shown} rows × ${units} units${more}; gradient norm `,
    el("span", { className: "grad-norm", "data-layer": String(l) }, formatNumber(layer.grad_norm)),
  );
  return el("div", { className: "delta-layer" }, caption, el("div", { className: "table-scroll" }, table));
}

/** Fill the panel from state.step (the answer to /api/step). */
export function showDeltas(panel, state) {
  const step = state.step;
  const summary = el(
    "p",
    { className: "delta-summary" },
    `Step ${state.steps}: one minibatch of ${step.rows.length} training rows; its loss before the update `,
    el("span", { id: "batch-loss" }, formatNumber(step.loss)),
    ". δ = ∂loss/∂z for each row (sample) and unit, z the unit's input sum; the rows are ringed in the output plot. ",
    el("span", { className: "tint-key" }, "Tint: orange negative, blue positive, scaled per layer by its largest |δ|; – a value that was not finite."),
  );
  const layers = step.layers.map((layer, i) => layerTable(layer, i + 1, step.rows, i === step.layers.length - 1));
  panel.replaceChildren(summary, el("div", { className: "delta-layers" }, ...layers));
  panel.classList.remove("stale");
  panel.dataset.steps = String(state.steps);
}

/** Training moved on: the deltas shown are of an older batch. Kept, but dimmed and labelled. */
export function markDeltasStale(panel) {
  if (!panel.dataset.steps || panel.classList.contains("stale")) return;
  panel.classList.add("stale");
  const note = el("p", { className: "stale-note" }, "Training has moved on since this step: press Step to see the current deltas.");
  panel.prepend(note);
}

export function clearDeltas(panel) {
  panel.classList.remove("stale");
  panel.replaceChildren(el("p", { className: "hint" }, "Press Step to train one minibatch and see every layer's deltas here."));
  delete panel.dataset.steps;
}
