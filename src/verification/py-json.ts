/**
 * Python's json module writes NaN, Infinity and -Infinity as bare tokens (e.g. a mean over no
 * successful requests), which JSON.parse rejects. These helpers read such text, turning the tokens
 * into the JavaScript numbers they stand for, so a NaN is reported as a NaN rather than as broken JSON.
 */

const MARK = '\u0000py:';
const TOKENS = /"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g;
const SPECIAL: Record<string, number> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  '-Infinity': Number.NEGATIVE_INFINITY,
};

/** JSON.parse that also accepts Python's NaN / Infinity / -Infinity; throws SyntaxError like JSON.parse. */
export function parsePythonJson(text: string): unknown {
  // Strings are matched first so a "NaN" inside a string value is left alone.
  const marked = text.replace(TOKENS, (token) => (token.startsWith('"') ? token : JSON.stringify(MARK + token)));
  return JSON.parse(marked, (_key, value: unknown) =>
    typeof value === 'string' && value.startsWith(MARK) ? SPECIAL[value.slice(MARK.length)] : value,
  );
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Reads `fields` of `obj` as finite numbers. Throws `fail(reason)` naming the first field that is
 * missing or not a finite number, so the caller can wrap it with the source's name.
 */
export function requireFiniteNumbers(
  obj: Record<string, unknown>,
  fields: readonly string[],
  fail: (reason: string) => Error,
): void {
  for (const field of fields) {
    if (!(field in obj)) throw fail(`field "${field}" is missing`);
    const value = obj[field];
    if (typeof value !== 'number') throw fail(`field "${field}" is ${describe(value)}, not a number`);
    if (!Number.isFinite(value)) throw fail(`field "${field}" is ${String(value)}, not a finite number`);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `the string ${JSON.stringify(truncate(value, 40))}`;
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

/** Shortens text for a one-line message, marking the cut. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
