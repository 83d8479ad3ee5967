/** Number formatting shared by check details and reports, so both show a value the same way. */

/**
 * Integers as they are; others to four significant digits (two decimals from 1000 up), without
 * trailing zeros, so a limit typed as 0.22 reads 0.22 and a measurement can be compared with it by eye.
 */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value) || Number.isInteger(value)) return String(value);
  return String(Number(Math.abs(value) >= 1000 ? value.toFixed(2) : value.toPrecision(4)));
}

export function formatValue(value: number | string | null | undefined): string {
  if (value === null || value === undefined) return '—';
  return typeof value === 'number' ? formatNumber(value) : value;
}

/**
 * Limits are computed in floating point (e.g. baseline × 0.95), so a measurement a person sees as
 * exactly at the limit may sit a rounding error past it; this tolerance (far below any measurement's
 * meaning) lets "exactly at the limit passes" hold.
 */
const RELATIVE_TOLERANCE = 1e-12;

export function atLeast(value: number, minimum: number): boolean {
  return value >= minimum - Math.abs(minimum) * RELATIVE_TOLERANCE;
}

export function atMost(value: number, maximum: number): boolean {
  return value <= maximum + Math.abs(maximum) * RELATIVE_TOLERANCE;
}
