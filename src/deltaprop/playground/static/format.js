// The page's one number formatter: every value the server sends may be null (JSON has no NaN
// or infinity), so everything shown goes through here and reads "–" for those.

const DASH = "–";

/** A number that is not NaN or infinite (the server sends those as null). */
export function finite(v) {
  return typeof v === "number" && Number.isFinite(v);
}

/** A value for a width or a tint: a number, or 0 for null (not finite). */
export function finiteOr0(v) {
  return finite(v) ? v : 0;
}

/** "1.5e+59" -> "1.5e59": shorter, and still read back by parseFloat / Python's float. */
function tidyExponent(text) {
  return text.replace("e+", "e");
}

/**
 * A number for reading: `digits` significant digits (toPrecision, which itself goes to
 * exponent form for large or tiny values), or with `decimals` a fixed number of decimals
 * (fractions such as an accuracy), which switches to exponent form from 1e4 on so that a
 * diverged run's R² of -5.9e58 stays short.
 */
export function formatNumber(v, { digits = 4, decimals = null } = {}) {
  if (!finite(v)) return DASH;
  if (decimals !== null) {
    return Math.abs(v) >= 1e4 ? tidyExponent(v.toExponential(digits - 1)) : v.toFixed(decimals);
  }
  return tidyExponent(v.toPrecision(digits));
}

/** An axis label: as few digits as the value needs (ticks are round numbers), exponent form
 *  from 1e4 on and below 1e-3, with every digit it needs (1.5e59, not 2e59). */
export function formatTick(v) {
  if (!finite(v)) return DASH;
  const rounded = Number(v.toPrecision(6));
  const a = Math.abs(rounded);
  if (a !== 0 && (a >= 1e4 || a < 1e-3)) return tidyExponent(rounded.toExponential());
  return String(rounded);
}
