/**
 * lm_eval correctness check: two runs against vLLM+LMCache must log the same samples. The reference
 * sorts each samples file's lines and requires them identical; this does the same and, when they
 * differ, names the first differing sample so a person need not diff 600 JSON lines by hand.
 */
import { isPlainObject, parsePythonJson, truncate } from './py-json.js';
import type { Check } from '../report/types.js';

// datetime.now().isoformat() with ':' replaced by '-'; microseconds are left out when they are zero.
const TIMESTAMP = String.raw`\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(?:\.\d+)?`;

/**
 * lm_eval writes <output_path>/<model with / replaced by __>/samples_<task>_<timestamp>.jsonl.
 * Matches a file's base name; group 1 is the timestamp. Anchored on the timestamp so that task
 * `gsm8k` does not also match `samples_gsm8k_sim_…`.
 */
export function samplesFilePattern(task: string): RegExp {
  const escaped = task.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^samples_${escaped}_(${TIMESTAMP})\\.jsonl$`);
}

/** Picks the newest samples file of `task` among relative paths (as found by a recursive listing); undefined if none. */
export function pickSamplesFile(relativePaths: string[], task: string): string | undefined {
  const pattern = samplesFilePattern(task);
  let best: { path: string; timestamp: string } | undefined;
  for (const path of relativePaths) {
    const match = pattern.exec(path.slice(path.lastIndexOf('/') + 1));
    if (!match) continue;
    const timestamp = match[1]!;
    // ISO timestamps order as strings; ties (two model folders) fall back to the path, for determinism.
    if (!best || timestamp > best.timestamp || (timestamp === best.timestamp && path > best.path)) {
      best = { path, timestamp };
    }
  }
  return best?.path;
}

interface SamplesFile {
  path: string;
  text: string;
}

interface Sample {
  /** doc_id and filter identify a logged sample: lm_eval logs each document once per filter. */
  key: string;
  label: string;
  order: [number, string];
  line: string;
  fields?: Record<string, unknown>;
}

const RUN_NAMES = ['first', 'second'] as const;

/** Compares two runs' samples after sorting their lines (the reference's rule). Missing run → failed check naming it. */
export function verifyLmEvalSamples(first: SamplesFile | undefined, second: SamplesFile | undefined): Check[] {
  const runs = [first, second].map((file) => (file ? sampleLines(file.text) : undefined));
  return [identicalCheck([first, second], runs), countCheck([first, second], runs)];
}

/** Blank lines carry no sample (a trailing newline leaves one), so they are not compared. */
function sampleLines(text: string): string[] {
  return text.split('\n').filter((line) => line.trim() !== '');
}

function identicalCheck(files: (SamplesFile | undefined)[], runs: (string[] | undefined)[]): Check {
  const name = 'lm_eval.samples_identical';
  const missing = RUN_NAMES.filter((_, i) => !files[i]);
  if (missing.length > 0) {
    const which = missing.length === 2 ? 'either lm_eval run' : `the ${missing[0]} lm_eval run`;
    return {
      name,
      passed: false,
      value: null,
      limit: 0,
      detail: `No samples file from ${which}, so there is nothing to compare.`,
    };
  }
  const empty = RUN_NAMES.findIndex((_, i) => runs[i]!.length === 0);
  if (empty >= 0) {
    return {
      name,
      passed: false,
      value: null,
      limit: 0,
      detail: `The ${RUN_NAMES[empty]} run's samples file ${files[empty]!.path} has no samples, so there is nothing to compare.`,
    };
  }
  const [a, b] = runs as [string[], string[]];
  if (sameSortedLines(a, b)) {
    return {
      name,
      passed: true,
      value: 0,
      limit: 0,
      detail: `All ${a.length} sample lines are identical after sorting.`,
    };
  }
  // Sorted lines differ, so at least one sample's lines differ between the runs.
  const byKey = [groupByKey(a), groupByKey(b)] as const;
  const keys = [...new Set([...byKey[0].keys(), ...byKey[1].keys()])];
  const differing = keys
    .filter((key) => !sameSortedLines(lines(byKey[0].get(key)), lines(byKey[1].get(key))))
    .map((key) => (byKey[0].get(key) ?? byKey[1].get(key))![0]!)
    .sort(compareSamples);
  const firstDiff = differing[0]!;
  return {
    name,
    passed: false,
    value: differing.length,
    limit: 0,
    detail:
      `${differing.length} of ${keys.length} samples differ between the runs after sorting; the first is ` +
      `${firstDiff.label}, ${describeDifference(byKey[0].get(firstDiff.key), byKey[1].get(firstDiff.key))}.`,
  };
}

function countCheck(files: (SamplesFile | undefined)[], runs: (string[] | undefined)[]): Check {
  const name = 'lm_eval.sample_count';
  const [a, b] = runs;
  const base = { name, value: b?.length ?? null, limit: a?.length ?? null };
  const missing = RUN_NAMES.find((_, i) => !files[i]);
  if (missing) return { ...base, passed: false, detail: `No samples file from the ${missing} lm_eval run.` };
  const empty = RUN_NAMES.findIndex((_, i) => runs[i]!.length === 0);
  if (empty >= 0) {
    return {
      ...base,
      passed: false,
      detail: `The ${RUN_NAMES[empty]} run logged no samples (${files[empty]!.path} is empty).`,
    };
  }
  if (a!.length !== b!.length) {
    return {
      ...base,
      passed: false,
      detail: `The second run logged ${b!.length} samples but the first logged ${a!.length}.`,
    };
  }
  return { ...base, passed: true, detail: `Both runs logged ${a!.length} samples.` };
}

function sameSortedLines(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  const sa = [...a].sort();
  const sb = [...b].sort();
  return sa.every((line, i) => line === sb[i]);
}

function lines(samples: Sample[] | undefined): string[] {
  return samples?.map((s) => s.line) ?? [];
}

function groupByKey(sampleLinesOfRun: string[]): Map<string, Sample[]> {
  const groups = new Map<string, Sample[]>();
  for (const line of sampleLinesOfRun) {
    const sample = toSample(line);
    const group = groups.get(sample.key);
    if (group) group.push(sample);
    else groups.set(sample.key, [sample]);
  }
  return groups;
}

function toSample(line: string): Sample {
  let parsed: unknown;
  try {
    parsed = parsePythonJson(line);
  } catch {
    parsed = undefined;
  }
  if (isPlainObject(parsed) && 'doc_id' in parsed) {
    const docId = parsed.doc_id;
    const filter = typeof parsed.filter === 'string' ? parsed.filter : '';
    return {
      key: JSON.stringify([docId, filter]),
      label: `doc_id ${String(docId)}${filter ? ` (filter ${filter})` : ''}`,
      order: [typeof docId === 'number' ? docId : Number.POSITIVE_INFINITY, filter],
      line,
      fields: parsed,
    };
  }
  // A line that is not a logged sample (e.g. cut off mid-write) is compared as text.
  return {
    key: `line:${line}`,
    label: `the line ${JSON.stringify(truncate(line, 60))}`,
    order: [Number.POSITIVE_INFINITY, line],
    line,
  };
}

function compareSamples(x: Sample, y: Sample): number {
  if (x.order[0] !== y.order[0]) return x.order[0] < y.order[0] ? -1 : 1;
  return x.order[1].localeCompare(y.order[1]);
}

// The model's answer is what a cache defect changes; the rest follows from it or from the prompt.
const FIELD_PRIORITY = [
  'resps',
  'filtered_resps',
  'arguments',
  'prompt_hash',
  'doc',
  'doc_hash',
  'target',
  'target_hash',
];

function describeDifference(a: Sample[] | undefined, b: Sample[] | undefined): string {
  if (!a) return 'which appears only in the second run';
  if (!b) return 'which appears only in the first run';
  if (a.length !== 1 || b.length !== 1) {
    return `which is logged ${a.length} time(s) in the first run and ${b.length} in the second`;
  }
  // One line per run under the same key means both parsed as samples (a text line is its own key).
  const fa = a[0]!.fields ?? {};
  const fb = b[0]!.fields ?? {};
  const names = [...new Set([...Object.keys(fa), ...Object.keys(fb)])];
  const changed = names
    .filter((field) => JSON.stringify(fa[field]) !== JSON.stringify(fb[field]))
    .sort((x, y) => rank(x) - rank(y) || x.localeCompare(y));
  if (changed.length === 0) return 'whose lines differ only in formatting';
  const field = changed[0]!;
  const [ea, eb] = excerptPair(JSON.stringify(fa[field]) ?? 'missing', JSON.stringify(fb[field]) ?? 'missing');
  return `where ${joinNames(changed)} differ; its ${field} reads \`${ea}\` in the first run but \`${eb}\` in the second`;
}

function rank(field: string): number {
  const i = FIELD_PRIORITY.indexOf(field);
  return i === -1 ? FIELD_PRIORITY.length : i;
}

function joinNames(names: string[]): string {
  return names.length === 1 ? names[0]! : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

/** Windows of two texts around their first difference, so a long response shows where it changed. */
function excerptPair(a: string, b: string): [string, string] {
  const width = 60;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  const start = Math.max(0, i - 20);
  const cut = (s: string) =>
    `${start > 0 ? '…' : ''}${s.slice(start, start + width)}${s.length > start + width ? '…' : ''}`;
  return [cut(a), cut(b)];
}
