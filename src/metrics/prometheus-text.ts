/**
 * Prometheus text exposition (format 0.0.4), as much of it as reading a server's counters needs: each sample's
 * name, labels and value. Comments, HELP and TYPE lines and timestamps are passed over. Pure.
 */

export interface PrometheusSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$/;
/** One `name="value"` pair; the value may hold escaped quotes, backslashes and newlines. */
const LABEL_PAIR = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/y;

function parseValue(text: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (text === 'NaN') return Number.NaN;
  const value = Number(text);
  if (text === '' || Number.isNaN(value)) throw new Error(`not a sample value: ${JSON.stringify(text)}`);
  return value;
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL_PAIR.lastIndex = 0;
  while (LABEL_PAIR.lastIndex < text.length) {
    const start = LABEL_PAIR.lastIndex;
    const pair = LABEL_PAIR.exec(text);
    if (!pair) {
      if (text.slice(start).trim() === '') break;
      throw new Error(`bad labels in Prometheus sample line: ${line}`);
    }
    labels[pair[1]!] = pair[2]!.replace(/\\(.)/g, (_, escaped: string) => (escaped === 'n' ? '\n' : escaped));
  }
  return labels;
}

/** Every sample of the exposition, in order. A line that is neither a comment nor a sample is an error. */
export function parsePrometheusText(text: string): PrometheusSample[] {
  const samples: PrometheusSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE_LINE.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    samples.push({ name: match[1]!, labels: parseLabels(match[2] ?? '', line), value: parseValue(match[3]!) });
  }
  return samples;
}

/** A metric's samples over all its label sets; undefined when the exposition has none of it. */
function valuesOf(samples: PrometheusSample[], name: string): number[] | undefined {
  const values = samples.filter((sample) => sample.name === name).map((sample) => sample.value);
  return values.length > 0 ? values : undefined;
}

/** A counter's total: the sum over its label sets (per model, per device…). */
export function sumOf(samples: PrometheusSample[], name: string): number | undefined {
  return valuesOf(samples, name)?.reduce((sum, value) => sum + value, 0);
}

/** A gauge's highest value over its label sets: a ratio per backend does not add up. */
export function maxOf(samples: PrometheusSample[], name: string): number | undefined {
  const values = valuesOf(samples, name);
  return values && Math.max(...values);
}
