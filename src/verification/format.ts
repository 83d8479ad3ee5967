/** Number formatting shared by check details and reports, so both show a value the same way. */

/** Integers as they are; other numbers with enough digits to compare against a limit by eye. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 100) return value.toFixed(2);
  if (abs >= 1) return value.toFixed(3);
  return value.toPrecision(3);
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
