// The hidden-layer editor: one row per hidden layer with -/+ buttons around a width field,
// and "add"/"remove" buttons for the last layer. Widths are kept as typed (strings) so that a
// bad value reaches the server, which names the problem, instead of being silently fixed here.

const MAX_LAYERS = 6;
const MAX_WIDTH = 16;

function button(text, className, layer, title) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = className;
  b.dataset.layer = String(layer);
  b.textContent = text;
  b.title = title;
  return b;
}

function isWidth(text) {
  return /^\s*\d+\s*$/.test(text) && Number(text) >= 1 && Number(text) <= MAX_WIDTH;
}

export class LayerEditor {
  /** `onChange` is called after every edit, with no arguments. */
  constructor(container, addButton, removeButton, onChange) {
    this.container = container;
    this.addButton = addButton;
    this.removeButton = removeButton;
    this.onChange = onChange;
    this.widths = [];
    addButton.addEventListener("click", () => this.add());
    removeButton.addEventListener("click", () => this.remove());
    // One listener for all rows: rows are rebuilt on every change.
    container.addEventListener("click", (event) => this.clicked(event));
    container.addEventListener("change", (event) => this.typed(event));
  }

  /** Set from the config's "layers" string ("4,4", or "" for none). */
  set(text) {
    const trimmed = String(text ?? "").trim();
    this.widths = trimmed === "" ? [] : trimmed.split(",").map((w) => w.trim());
    this.render();
  }

  /** The config's "layers" string. */
  value() {
    return this.widths.join(",");
  }

  add() {
    const last = this.widths.length ? this.widths[this.widths.length - 1] : "4";
    this.widths.push(isWidth(last) ? last : "4");
    this.render();
    this.onChange();
  }

  remove() {
    this.widths.pop();
    this.render();
    this.onChange();
  }

  clicked(event) {
    const target = event.target.closest("button");
    if (!target || !this.container.contains(target)) return;
    const i = Number(target.dataset.layer) - 1;
    const width = Number(this.widths[i]);
    if (!Number.isFinite(width)) return;
    // One step from the typed value, brought into [1, MAX_WIDTH]: "−" on 99 gives 16.
    const next = target.classList.contains("layer-plus") ? Math.floor(width) + 1 : Math.ceil(width) - 1;
    this.widths[i] = String(Math.max(1, Math.min(MAX_WIDTH, next)));
    this.render();
    this.onChange();
  }

  typed(event) {
    const input = event.target;
    if (!input.classList.contains("layer-width")) return;
    this.widths[Number(input.dataset.layer) - 1] = input.value.trim();
    this.render();
    this.onChange();
  }

  render() {
    const rows = this.widths.map((width, i) => {
      const layer = i + 1;
      const row = document.createElement("div");
      row.className = "layer-row";
      const label = document.createElement("label");
      label.textContent = `hidden ${layer}`;
      label.htmlFor = `layer-width-${layer}`;
      const input = document.createElement("input");
      input.type = "text";
      input.inputMode = "numeric";
      input.className = "layer-width";
      input.id = `layer-width-${layer}`;
      input.dataset.layer = String(layer);
      input.value = width;
      input.size = 3;
      // Only a hint: the server is the one that accepts or refuses the value.
      input.classList.toggle("invalid", !isWidth(width));
      const minus = button("−", "layer-minus", layer, "one unit fewer");
      const plus = button("+", "layer-plus", layer, "one unit more");
      minus.disabled = !(Number(width) > 1);
      plus.disabled = !(Number(width) < MAX_WIDTH);
      row.append(label, minus, input, plus);
      return row;
    });
    if (!rows.length) {
      const none = document.createElement("p");
      none.className = "hint";
      none.textContent = "no hidden layer: a linear model";
      rows.push(none);
    }
    this.container.replaceChildren(...rows);
    this.addButton.disabled = this.widths.length >= MAX_LAYERS;
    this.removeButton.disabled = this.widths.length === 0;
  }
}
