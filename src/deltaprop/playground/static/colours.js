// One diverging palette for the whole page, so that "orange = negative / class 0" and
// "blue = positive / class 1" reads the same in the network, the maps and the delta tables.

export const NEGATIVE = [245, 147, 34];   // orange
export const NEUTRAL = [236, 238, 240];   // near white
export const POSITIVE = [8, 119, 189];    // blue

/** RGB for t in [-1, 1] (clamped): orange at -1, white at 0, blue at +1. */
export function diverging(t) {
  const u = Math.max(-1, Math.min(1, Number.isFinite(t) ? t : 0));
  const end = u < 0 ? NEGATIVE : POSITIVE;
  const a = Math.abs(u);
  return [
    Math.round(NEUTRAL[0] + (end[0] - NEUTRAL[0]) * a),
    Math.round(NEUTRAL[1] + (end[1] - NEUTRAL[1]) * a),
    Math.round(NEUTRAL[2] + (end[2] - NEUTRAL[2]) * a),
  ];
}

export function css([r, g, b], alpha = 1) {
  return alpha === 1 ? `rgb(${r},${g},${b})` : `rgba(${r},${g},${b},${alpha})`;
}

/** A categorical palette for one line per layer in the gradient-norm chart. */
export const SERIES = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d"];
