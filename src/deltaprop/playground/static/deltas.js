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

// A small network's layers share one table, so that a row's x, every layer's deltas, its y-hat
// and its y read across one line (and a step's whole backward pass fits a classroom screen);
// wider layers get tables of their own, which wrap instead of scrolling far sideways.
const BAND_UNITS = 12;

/** Consecutive layers (1-based numbers) grouped while their units add up to BAND_UNITS at most. */
export function bands(layers) {
  const groups = [];
  let units = Infinity;
  layers.forEach((layer, i) => {
    const width = layer.mean_abs_delta.length;
    if (units + width > BAND_UNITS) {
      groups.push([]);
      units = 0;
    }
    groups.at(-1).push(i + 1);
    units += width;
  });
  return groups;
}

/** The columns around a layer's deltas: x before layer 1's, y-hat and y before the output's. */
function contextGroups(state, l, last, shown) {
  const data = state.data;
  const step = state.step;
  const rows = step.rows.slice(0, shown);
  const groups = [];
  if (l === 1 && data) {
    const names = state.feature_names.length ? state.feature_names : ["x"];
    groups.push({ heads: names, cells: columnTexts(rows.map((r) => data.train.x[r]), names.length), kind: "x" });
  }
  if (last && step.y_hat) {
    const width = step.y_hat[0] ? step.y_hat[0].length : 1;
    const heads = width === 1 ? ["ŷ"] : Array.from({ length: width }, (_, j) => `ŷ${j + 1}`);
    groups.push({ heads, cells: columnTexts(step.y_hat.slice(0, shown), width), kind: "yhat" });
  }
  if (last && data) {
    groups.push({ heads: ["y"], cells: columnTexts(rows.map((r) => [data.train.y[r]]), 1), kind: "y" });
  }
  return groups;
}

function rowHeader(row) {
  const button = el("button", { type: "button", className: "row-button", "data-row": String(row), title: `trace training row ${row}` }, String(row));
  return el("th", { scope: "row" }, button);
}

/** One layer's part of a table: its context columns (x on the left of the table, y-hat and y
 *  beside the output's deltas), its heads, and its delta cells tinted by its largest |delta|. */
function layerColumns(state, l) {
  const layer = state.step.layers[l - 1];
  const last = l === state.step.layers.length;
  const units = layer.mean_abs_delta.length;
  let largest = 1e-300;
  for (const row of layer.delta) for (const v of row) largest = Math.max(largest, Math.abs(finiteOr0(v)));
  const context = contextGroups(state, l, last, layer.delta.length);
  return {
    l, layer, units, largest,
    lead: context.filter((g) => g.kind === "x"),
    beside: context.filter((g) => g.kind !== "x"),
    texts: columnTexts(layer.delta, units),
    name: last ? `layer ${l} (output)` : `layer ${l} (hidden)`,
  };
}

function contextHeads(groups) {
  return groups.flatMap((g) => g.heads.map((h) => el("th", { scope: "col", className: `context ${g.kind}` }, h)));
}

function contextCells(groups, i) {
  return groups.flatMap((g) => g.cells[i].map((t) => el("td", { className: `context ${g.kind}` }, t)));
}

/** Append one layer's cells to a table row, its first one marked: a rule sets layers apart. */
function appendGroup(tr, cells) {
  if (cells.length) cells[0].classList.add("group-start");
  tr.append(...cells);
}

function width(groups) {
  return groups.reduce((n, g) => n + g.heads.length, 0);
}

/** The two header rows: each layer's name and gradient norm over its columns, then the units. */
function bandHead(parts, lead) {
  const top = el("tr", {}, el("td", { colspan: String(1 + width(lead)), className: "corner" }));
  const names = el("tr", {}, el("th", { scope: "col", title: "training row: press its number to trace it" }, "row"), ...contextHeads(lead));
  for (const p of parts) {
    top.append(el(
      "th",
      { scope: "colgroup", colspan: String(width(p.beside) + p.units), className: "layer-head", "data-layer": String(p.l) },
      `${p.name} δ/B`, el("br"),
      el("span", { className: "caption-detail", title: "the norm of the layer's gradient (dW, db)" }, "‖∇‖ "),
      el("span", { className: "grad-norm", "data-layer": String(p.l) }, formatNumber(p.layer.grad_norm)),
    ));
    const units = Array.from({ length: p.units }, (_, j) => el("th", { scope: "col", className: "unit", "data-layer": String(p.l) }, `unit ${j + 1}`));
    appendGroup(names, [...contextHeads(p.beside), ...units]);
  }
  return el("thead", {}, top, names);
}

function bandRow(parts, lead, i, row) {
  const tr = el("tr", { "data-row": String(row) }, rowHeader(row), ...contextCells(lead, i));
  for (const p of parts) {
    const deltas = p.layer.delta[i].map((v, j) => {
      const td = el("td", { className: "delta", "data-layer": String(p.l) }, p.texts[i][j]);
      // Light tint only: the number stays the thing to read.
      td.style.background = css(diverging(finiteOr0(v) / p.largest), 0.75);
      return td;
    });
    appendGroup(tr, [...contextCells(p.beside, i), ...deltas]);
  }
  return tr;
}

function bandFoot(parts, lead) {
  const mean = el("tr", { className: "mean-row" }, el("th", { scope: "row", colspan: String(1 + width(lead)) }, "mean |δ|"));
  for (const p of parts) {
    const blanks = Array.from({ length: width(p.beside) }, () => el("td", { className: "context" }));
    const means = formatColumn(p.layer.mean_abs_delta).map((t) => el("td", { className: "delta", "data-layer": String(p.l) }, t));
    appendGroup(mean, [...blanks, ...means]);
  }
  return el("tfoot", {}, mean);
}

/** One table for a band of consecutive layers (numbers 1-based), rows as sent. */
function bandTable(state, band) {
  const parts = band.map((l) => layerColumns(state, l));
  const lead = parts.flatMap((p) => p.lead);
  const first = parts[0].layer;
  const rows = state.step.rows.slice(0, first.delta.length);
  const table = el(
    "table",
    { className: "delta-table", "data-layers": band.join(" ") },
    bandHead(parts, lead),
    el("tbody", {}, ...rows.map((row, i) => bandRow(parts, lead, i, row))),
    bandFoot(parts, lead),
  );
  const more = first.rows_total > first.rows_shown ? ` (the first ${first.rows_shown} of ${first.rows_total} rows)` : "";
  const caption = more ? [el("h3", {}, `${plural(first.rows_shown, "row")}${more}`)] : [];
  return el("div", { className: "delta-layer" }, ...caption, el("div", { className: "table-scroll" }, table));
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
    ". ",
    el("strong", { className: "batch-factor" }, `The loss is a mean over B = ${B} rows: each δ here is the row's own δ divided by ${B}`),
    ` (output: (ŷ − y)/${B}). A row number opens its trace. `,
    el("span", { className: "tint-key" }, "Tint: orange negative, blue positive, scaled per layer by its largest |δ|; – not finite."),
  );
  const layers = bands(step.layers).map((band) => bandTable(state, band));
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
