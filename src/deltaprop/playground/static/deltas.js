// The backward-pass panel: after one step, each dense layer's deltas (dLoss/dz per sample and
// unit) for the minibatch, as numbers with a tint, so the delta rule can be followed by hand.
// Layer 1's table also gives the rows' inputs x, the output layer's their targets y and the
// outputs y-hat; each row number is a button that opens that row's trace.
import { css, diverging } from "./colours.js";
import { finiteOr0, formatColumn, formatNumber, plural } from "./format.js";

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "className") node.className = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

/** Cells for a matrix given by columns: each column written in one style (format.js). */
function columnTexts(rows, width) {
  const columns = Array.from({ length: width }, (_, j) => formatColumn(rows.map((r) => (r ? r[j] : null))));
  return rows.map((_, i) => columns.map((column) => column[i]));
}

/** The context columns of a layer's table: x for layer 1, y and y-hat for the output layer. */
function contextColumns(state, l, last, shown) {
  const data = state.data;
  const step = state.step;
  const rows = step.rows.slice(0, shown);
  const groups = [];
  if (l === 1 && data) {
    const names = state.feature_names.length ? state.feature_names : ["x"];
    groups.push({ heads: names.map((n) => n), cells: columnTexts(rows.map((r) => data.train.x[r]), names.length), kind: "x" });
  }
  if (last && step.y_hat) {
    const width = step.y_hat[0] ? step.y_hat[0].length : 1;
    const heads = width === 1 ? ["ŷ"] : Array.from({ length: width }, (_, j) => `ŷ${j + 1}`);
    groups.push({ heads, cells: columnTexts(step.y_hat.slice(0, shown), width), kind: "yhat" });
  }
  if (last && data) {
    const ys = rows.map((r) => [data.train.y[r]]);
    groups.push({ heads: ["y"], cells: columnTexts(ys, 1), kind: "y" });
  }
  return groups;
}

function rowHeader(row) {
  const button = el("button", { type: "button", className: "row-button", "data-row": String(row), title: `trace training row ${row}` }, String(row));
  return el("th", { scope: "row" }, button);
}

function deltaCells(values, texts, largest) {
  return values.map((v, j) => {
    const td = el("td", {}, texts[j]);
    // Light tint only: the number stays the thing to read.
    td.style.background = css(diverging(finiteOr0(v) / largest), 0.75);
    return td;
  });
}

function layerTable(state, layer, l, last) {
  const step = state.step;
  const units = layer.delta.length ? layer.delta[0].length : layer.mean_abs_delta.length;
  let largest = 1e-300;
  for (const row of layer.delta) for (const v of row) largest = Math.max(largest, Math.abs(finiteOr0(v)));
  const groups = contextColumns(state, l, last, layer.delta.length);
  const head = el("tr", {}, el("th", { scope: "col", title: "training row: press its number to trace it" }, "row"));
  for (const g of groups) for (const h of g.heads) head.append(el("th", { scope: "col", className: `context ${g.kind}` }, h));
  for (let j = 0; j < units; j += 1) head.append(el("th", { scope: "col" }, `unit ${j + 1}`));
  const texts = columnTexts(layer.delta, units);
  const body = layer.delta.map((values, i) => {
    const tr = el("tr", { "data-row": String(step.rows[i]) }, rowHeader(step.rows[i]));
    for (const g of groups) for (const t of g.cells[i]) tr.append(el("td", { className: `context ${g.kind}` }, t));
    tr.append(...deltaCells(values, texts[i], largest));
    return tr;
  });
  const table = el("table", { className: "delta-table", "data-layer": String(l) }, el("thead", {}, head), el("tbody", {}, ...body));
  const meanRow = el("tr", { className: "mean-row" }, el("th", { scope: "row" }, "mean |δ|"));
  for (const g of groups) for (let k = 0; k < g.heads.length; k += 1) meanRow.append(el("td", { className: "context" }));
  formatColumn(layer.mean_abs_delta).forEach((t) => meanRow.append(el("td", {}, t)));
  table.append(el("tfoot", {}, meanRow));
  const name = last ? `layer ${l} (output)` : `layer ${l} (hidden)`;
  const more = layer.rows_total > layer.rows_shown ? `, first ${layer.rows_shown} of ${layer.rows_total} rows` : "";
  const caption = el(
    "h3",
    {},
    `${name}: δ/B${more}`,
    el("br"),
    el("span", { className: "caption-detail" }, `${plural(layer.rows_shown, "row")} × ${plural(units, "unit")}; gradient norm `),
    el("span", { className: "grad-norm", "data-layer": String(l) }, formatNumber(layer.grad_norm)),
  );
  return el("div", { className: "delta-layer" }, caption, el("div", { className: "table-scroll" }, table));
}

/** Fill the panel from state.step (the answer to /api/step); `state.data` gives x and y. */
export function showDeltas(panel, state) {
  const step = state.step;
  const B = step.rows.length;
  const summary = el(
    "p",
    { className: "delta-summary" },
    `Step ${state.steps}: a minibatch of ${plural(B, "training row")} (ringed in the plot), mean loss before the update `,
    el("span", { id: "batch-loss" }, formatNumber(step.loss)),
    ". δ = ∂loss/∂z per row and unit. ",
    el("strong", { className: "batch-factor" }, `The loss is a mean over B = ${B} rows: each δ here is the row's own δ divided by ${B}`),
    ` (output: (ŷ − y)/${B}). A row number opens its trace. `,
    el("span", { className: "tint-key" }, "Tint: orange negative, blue positive, scaled per layer by its largest |δ|; – not finite."),
  );
  const layers = step.layers.map((layer, i) => layerTable(state, layer, i + 1, i === step.layers.length - 1));
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
  panel.replaceChildren(el("p", { className: "hint" }, "Press Step to train one minibatch and see every layer's deltas here; click a training point to trace it."));
  delete panel.dataset.steps;
}
