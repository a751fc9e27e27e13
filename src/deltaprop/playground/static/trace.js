// The trace of one training row: its forward pass layer by layer, its loss, and the backward
// pass of that one sample's loss, every equation with its numbers (docs/playground.md).
// The server sends the values (POST /api/trace); this module only writes them out.
// Layers are numbered as in the notes: layer l = 1 .. L, a_0 = x.
// Each number carries data-value (what the server sent) and, where a quantity is defined,
// data-q (its name, e.g. "z.1.2" = z of layer 1, unit 2, all 1-based), which the tests read.
import { el } from "./deltas.js";
import { finite, formatColumn, formatNumber } from "./format.js";

// Up to this many units in and out, a layer's equations are written term by term; wider
// layers get compact tables.
const SMALL = 4;

/** A symbol with a subscript and an optional superscript: sym("z", "j", "(1)"). */
function sym(name, sub = "", sup = "") {
  const node = el("var", {}, name);
  if (sup) node.append(el("sup", {}, sup));
  if (sub) node.append(el("sub", {}, sub));
  return node;
}

/** A number on the page: its text, the value sent, and the quantity it defines (if any). */
function num(text, value, q = null) {
  const attrs = { className: "num", "data-value": finite(value) ? String(value) : "" };
  if (finite(value)) attrs.title = String(value);
  if (q) attrs["data-q"] = q;
  return el("span", attrs, text);
}

/** A vector's numbers, formatted as one column; the spans, optionally named q.l.(j+1). */
function vector(values, q = null, l = null) {
  const texts = formatColumn(values);
  return values.map((v, j) => num(texts[j], v, q ? `${q}.${l}.${j + 1}` : null));
}

/** Spans for W (rows = units), each row formatted as one column with the matrix. */
function matrix(W, q, l) {
  const texts = formatColumn(W.flat());
  const width = W.length ? W[0].length : 0;
  return W.map((row, j) => row.map((v, k) => num(texts[j * width + k], v, q ? `${q}.${l}.${j + 1}.${k + 1}` : null)));
}

/** "(a)(b)" products joined by " + ". */
function sumOfProducts(left, right) {
  const parts = [];
  left.forEach((x, k) => {
    if (k > 0) parts.push(" + ");
    parts.push("(", x, ")(", right[k], ")");
  });
  return parts;
}

function eq(...children) {
  return el("p", { className: "eq" }, ...children);
}

function clone(node) {
  const copy = node.cloneNode(true);
  copy.removeAttribute("data-q");
  return copy;
}

/** The targets as a vector over the outputs: one-hot for softmax, the label, or the targets. */
function targets(trace, nOut) {
  const y = trace.y;
  if (Array.isArray(y)) return y;
  if (nOut === 1) return [y];
  return Array.from({ length: nOut }, (_, j) => (j === y ? 1 : 0));
}

// ------------------------------------------------------------------------ the forward pass

function forwardSmall(layer, l, prev, spans) {
  const lines = [];
  const sup = `(${l})`;
  layer.W.forEach((row, j) => {
    const u = String(j + 1);
    lines.push(eq(
      sym("z", u, sup), " = ", ...row.flatMap((_, k) => [k ? " + " : "", sym("w", `${u}${k + 1}`, sup), sym("a", String(k + 1), `(${l - 1})`)]),
      " + ", sym("b", u, sup), " = ", ...sumOfProducts(spans.W[j], prev.map(clone)), " + (", spans.b[j], ")",
      " = ", spans.z[j],
    ));
    lines.push(eq(sym("a", u, sup), ` = ${layer.activation}(`, sym("z", u, sup), ") = ", spans.a[j]));
  });
  return lines;
}

function table(head, rows, className = "trace-table") {
  const thead = el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col" }, h))));
  const tbody = el("tbody", {}, ...rows.map(([label, cells]) => el("tr", {}, el("th", { scope: "row" }, label), ...cells.map((c) => el("td", {}, c)))));
  return el("div", { className: "table-scroll" }, el("table", { className }, thead, tbody));
}

function forwardWide(layer, l, spans) {
  const nIn = layer.W[0].length;
  const head = ["unit j", ...Array.from({ length: nIn }, (_, k) => `w j,${k + 1}`), "b j", "z j", "a j"];
  const rows = layer.W.map((_, j) => [String(j + 1), [...spans.W[j], spans.b[j], spans.z[j], spans.a[j]]]);
  return [
    eq(sym("z", "", `(${l})`), " = ", sym("W", "", `(${l})`), " ", sym("a", "", `(${l - 1})`), " + ", sym("b", "", `(${l})`),
      ", ", sym("a", "", `(${l})`), ` = ${layer.activation}(`, sym("z", "", `(${l})`), "), row by row:"),
    table(head, rows),
  ];
}

// ------------------------------------------------------------------------ the loss

const LOSS_TEXT = {
  binary_cross_entropy: "L = −[y log a + (1 − y) log(1 − a)]",
  cross_entropy: "L = −log a_y (a the softmax output, y the class)",
  squared_error: "L = ½ Σ_j (a_j − y_j)²",
  mse: "L = (1/k) Σ_j (a_j − y_j)², k outputs",
};

function lossLines(trace, aL, y) {
  const yText = formatColumn(y);
  return [
    eq(`${LOSS_TEXT[trace.loss_name] ?? `L = ${trace.loss_name}(a, y)`}, with a = `, sym("a", "", `(${trace.layers.length})`),
      " = (", ...aL.flatMap((s, j) => [j ? ", " : "", clone(s)]), "), y = (", ...y.flatMap((v, j) => [j ? ", " : "", num(yText[j], v, `y.${j + 1}`)]), ")"),
    eq("L = ", num(formatNumber(trace.loss), trace.loss, "loss")),
  ];
}

// ------------------------------------------------------------------------ the backward pass

/** What the output delta is, by loss: fused a - y, or dL/da times f'(z). */
function outputGradient(lossName, k) {
  if (lossName === "mse") return `(2/${k})(a − y)`;
  return "(a − y)";
}

function outputDelta(trace, L, spans, y) {
  const layer = trace.layers[L - 1];
  const yTexts = formatColumn(y);
  const sup = `(${L})`;
  const fused = layer.fprime === null || layer.fprime === undefined;
  const lines = [eq(fused
    ? `Output delta (the loss and the output's ${layer.activation} fused: the canonical link): δ = ∂L/∂z = a − y`
    : `Output delta: δ = ∂L/∂a ⊙ f′(z) = ${outputGradient(trace.loss_name, y.length)} ⊙ f′(z)`)];
  layer.delta.forEach((_, j) => {
    const u = String(j + 1);
    const diff = ["(", clone(spans.a[j]), " − ", num(yTexts[j], y[j]), ")"];
    const scale = trace.loss_name === "mse" ? [`(2/${y.length})`] : [];
    const rhs = fused ? diff : [...scale, ...diff, " · (", spans.fprime[j], ")"];
    lines.push(eq(sym("δ", u, sup), " = ", ...rhs, " = ", spans.delta[j]));
  });
  return lines;
}

function hiddenDeltaSmall(layer, l, above, spans, aboveSpans) {
  const sup = `(${l})`;
  return layer.delta.map((_, j) => {
    const u = String(j + 1);
    const column = above.W.map((row) => row[j]);
    const wTexts = formatColumn(column);
    const ws = column.map((w, k) => num(wTexts[k], w));
    return eq(
      sym("δ", u, sup), " = (", ...above.W.flatMap((_, k) => [k ? " + " : "", sym("w", `${k + 1}${u}`, `(${l + 1})`), sym("δ", String(k + 1), `(${l + 1})`)]),
      `) · f′(`, sym("z", u, sup), ") = (", ...sumOfProducts(ws, aboveSpans.delta.map(clone)), ") · (", spans.fprime[j], ") = ", spans.delta[j],
    );
  });
}

function hiddenDeltaWide(layer, l, above, spans) {
  // A null (not finite) term makes the sum unknown, not zero.
  const back = layer.delta.map((_, j) => above.W.reduce(
    (s, row, k) => (finite(s) && finite(row[j]) && finite(above.delta[k]) ? s + row[j] * above.delta[k] : null), 0));
  const backSpans = vector(back);
  const rows = layer.delta.map((_, j) => [String(j + 1), [backSpans[j], spans.fprime[j], spans.delta[j]]]);
  return [table(["unit j", "(Wᵀδ) j", "f′(z j)", "δ j"], rows)];
}

function gradientSmall(layer, l, prev, spans) {
  const sup = `(${l})`;
  const lines = [];
  layer.dW.forEach((row, j) => {
    row.forEach((_, k) => {
      lines.push(eq(sym("dW", `${j + 1}${k + 1}`, sup), " = ", sym("δ", String(j + 1), sup), sym("a", String(k + 1), `(${l - 1})`),
        " = (", clone(spans.delta[j]), ")(", clone(prev[k]), ") = ", spans.dW[j][k]));
    });
    lines.push(eq(sym("db", String(j + 1), sup), " = ", sym("δ", String(j + 1), sup), " = ", spans.db[j]));
  });
  return lines;
}

function gradientWide(layer, spans) {
  const nIn = layer.dW[0].length;
  const head = ["unit j", ...Array.from({ length: nIn }, (_, k) => `dW j,${k + 1}`), "db j"];
  return [table(head, layer.dW.map((_, j) => [String(j + 1), [...spans.dW[j], spans.db[j]]]))];
}

// ------------------------------------------------------------------------ the whole trace

function layerSpans(layer, l) {
  return {
    W: matrix(layer.W, "W", l), b: vector(layer.b, "b", l), z: vector(layer.z, "z", l), a: vector(layer.a, "a", l),
    fprime: layer.fprime ? vector(layer.fprime, "fp", l) : [], delta: vector(layer.delta, "delta", l),
    dW: matrix(layer.dW, "dW", l), db: vector(layer.db, "db", l),
  };
}

function isSmall(layer) {
  return layer.W.length <= SMALL && layer.W[0].length <= SMALL;
}

function forwardSection(trace, spans, inputs) {
  const parts = [el("h3", {}, "Forward pass"), eq(sym("a", "", "(0)"), " = x = (", ...inputs.flatMap((s, k) => [k ? ", " : "", s]), ")")];
  trace.layers.forEach((layer, i) => {
    const l = i + 1;
    const prev = i === 0 ? inputs : spans[i - 1].a;
    parts.push(el("h4", {}, `Layer ${l}: ${layer.W[0].length} → ${layer.W.length} units, f = ${layer.activation}`));
    parts.push(...(isSmall(layer) ? forwardSmall(layer, l, prev, spans[i]) : forwardWide(layer, l, spans[i])));
  });
  return parts;
}

function backwardSection(trace, spans, inputs, y) {
  const L = trace.layers.length;
  const parts = [el("h3", {}, "Backward pass of this row's loss"), ...outputDelta(trace, L, spans[L - 1], y)];
  for (let i = L - 2; i >= 0; i -= 1) {
    const layer = trace.layers[i];
    const l = i + 1;
    parts.push(el("h4", {}, `Layer ${l}: δ(${l}) = (W(${l + 1})ᵀ δ(${l + 1})) ⊙ f′(z(${l}))`));
    parts.push(...(isSmall(trace.layers[i + 1]) && isSmall(layer)
      ? hiddenDeltaSmall(layer, l, trace.layers[i + 1], spans[i], spans[i + 1])
      : hiddenDeltaWide(layer, l, trace.layers[i + 1], spans[i])));
  }
  parts.push(el("h3", {}, "Gradients of this row's loss: dW(l) = δ(l) a(l−1)ᵀ, db(l) = δ(l)"));
  trace.layers.forEach((layer, i) => {
    const prev = i === 0 ? inputs : spans[i - 1].a;
    parts.push(el("h4", {}, `Layer ${i + 1}`));
    parts.push(...(isSmall(layer) ? gradientSmall(layer, i + 1, prev, spans[i]) : gradientWide(layer, spans[i])));
  });
  return parts;
}

/** Where 1/B enters: the step's loss is the mean over its B rows. */
function batchSection(trace, spans) {
  const B = trace.batch_size;
  const L = trace.layers.length;
  const out = trace.layers[L - 1].delta.map((d) => (finite(d) && B ? d / B : null));
  return [
    el("h3", {}, `The minibatch: 1/B with B = ${B}`),
    el("p", { className: "batch-factor" },
      `A step's loss is the mean over its B = ${B} rows, so its gradient is dW(l) = (1/B) Σ over the rows of δ(l) a(l−1)ᵀ (plus the L2 term on W). `
      + `This row's share is every δ, dW and db above divided by ${B}; the deltas table of a step shows δ/B.`),
    eq(sym("δ", "", `(${L})`), ` / ${B} = (`, ...vector(out, "deltaB", L).flatMap((s, j) => [j ? ", " : "", s]), ")"),
    eq("These are the current weights: a step's table was computed before its update, so after a step the two agree only for a row traced before it."),
  ];
}

/** The panel's content for a trace answer. */
export function traceContent(trace) {
  const inputs = vector(trace.x);
  inputs.forEach((s, k) => { s.dataset.q = `x.${k + 1}`; });
  const spans = trace.layers.map((layer, i) => layerSpans(layer, i + 1));
  const L = trace.layers.length;
  const y = targets(trace, trace.layers[L - 1].a.length);
  return [
    ...forwardSection(trace, spans, inputs),
    el("h3", {}, "Loss of this row"),
    ...lossLines(trace, spans[L - 1].a, y),
    ...backwardSection(trace, spans, inputs, y),
    ...batchSection(trace, spans),
  ];
}
