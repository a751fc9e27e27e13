// The page's one number formatter: every value the server sends may be null (JSON has no NaN
// or infinity), so everything shown goes through here and reads "–" for those.
//
// One style everywhere: `digits` significant digits. A column of numbers (a table's column, a
// vector in an equation) is written in one style down its length: plain decimals when every
// nonzero value lies in [1e-4, 1e5), otherwise exponent form for all of them, so that "0.000",
// "9.424e-7" and "-0.000001809" never stand in one column.

const DASH = "–";
export const DIGITS = 4;
const SMALLEST_PLAIN = 1e-4;
const LARGEST_PLAIN = 1e5;

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

/** Plain decimals for `v` with `digits` significant digits (toPrecision without its exponent). */
function plain(v, digits) {
  if (v === 0) return "0";
  const magnitude = Math.floor(Math.log10(Math.abs(v)));
  const decimals = Math.max(0, digits - 1 - magnitude);
  // toFixed rounds like toPrecision here; it only misreads magnitude at a power-of-ten edge
  // (9.99996 -> "10.000"), where the extra digit is harmless.
  return v.toFixed(Math.min(100, decimals));
}

function exponent(v, digits) {
  return v === 0 ? "0" : tidyExponent(v.toExponential(digits - 1));
}

/** Whether every finite nonzero value of a column reads well in plain decimals. */
function plainFits(values) {
  return values.every((v) => !finite(v) || v === 0 || (Math.abs(v) >= SMALLEST_PLAIN && Math.abs(v) < LARGEST_PLAIN));
}

/** Whole numbers (class labels, counts): written as such, not "1.000". */
function wholeNumbers(values) {
  return values.every((v) => !finite(v) || (Number.isInteger(v) && Math.abs(v) < LARGEST_PLAIN));
}

/** A column of numbers in one style (see the top of this file); nulls read "–". A column of
 *  whole numbers (labels) is written without decimals. */
export function formatColumn(values, { digits = DIGITS } = {}) {
  if (values.length && wholeNumbers(values)) return values.map((v) => (finite(v) ? String(v) : DASH));
  const write = plainFits(values) ? plain : exponent;
  return values.map((v) => (finite(v) ? write(v, digits) : DASH));
}

/**
 * A single number for reading: `digits` significant digits, in the same style a column of
 * one would have; or with `decimals` a fixed number of decimals (fractions such as an
 * accuracy, and the epoch), which switches to exponent form from 1e4 on so that a diverged
 * run's R² of -5.9e58 stays short.
 */
export function formatNumber(v, { digits = DIGITS, decimals = null } = {}) {
  if (!finite(v)) return DASH;
  if (decimals !== null) {
    return Math.abs(v) >= 1e4 ? tidyExponent(v.toExponential(digits - 1)) : v.toFixed(decimals);
  }
  return formatColumn([v], { digits })[0];
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

/** "1 training row", "10 training rows". */
export function plural(n, word, many = `${word}s`) {
  return `${n} ${n === 1 ? word : many}`;
}
