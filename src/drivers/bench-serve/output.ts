/** The tool's printed summary and file names: Python's formatting, reproduced. */

// Python's "{:<40} {:<10}" and "{:<10.2f}" columns, and "{s:{c}^{n}}" centred headers.
export const row = (label: string, value: string | number) => `${label.padEnd(40)} ${String(value).padEnd(10)}`;
export const rowF = (label: string, value: number) => row(label, value.toFixed(2));
export function centred(text: string, fill: string): string {
  const left = Math.max(0, Math.floor((50 - text.length) / 2));
  return fill.repeat(left) + text + fill.repeat(Math.max(0, 50 - text.length - left));
}

/** Python's str(float) for the values that reach file names and log lines. */
export function pyFloat(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return 'inf';
  return Number.isInteger(value) ? value.toFixed(1) : String(value);
}

export function timestamp(now: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${now.getFullYear()}${two(now.getMonth() + 1)}${two(now.getDate())}-${two(now.getHours())}${two(now.getMinutes())}${two(now.getSeconds())}`;
}
