/**
 * How far a benchmark tool has got, read from the lines it prints as it runs: lm_eval's and `vllm bench serve`'s
 * tqdm bars, and the builtin drivers' `progress: <phase> <done>/<total>` lines. Pure.
 */

export interface ToolProgress {
  /** What a person reads: "7/40 samples", "warmup round: document 3/12". */
  text: string;
  done: number;
  total: number;
}

/** Reads one output line (a tqdm redraw counts as a line); undefined when the line says nothing of progress. */
export type ProgressParser = (line: string) => ToolProgress | undefined;

/** tqdm's default bar: `<desc>: 45%|████▌     | 18/40 [00:00<00:00, 171.01it/s]`, the description optional. */
const TQDM = /^\s*(?:(.*?):\s*)?\d+%\|[^|]*\|\s*(\d+)\/(\d+)\s*\[/;
/** src/drivers/cli.ts reportProgress. */
const DRIVER = /^progress: (\S+) (\d+)\/(\d+)\s*$/;

function tqdm(line: string): { desc: string; done: number; total: number } | undefined {
  const match = TQDM.exec(line);
  return match ? { desc: match[1] ?? '', done: Number(match[2]), total: Number(match[3]) } : undefined;
}

function driver(line: string): { phase: string; done: number; total: number } | undefined {
  const match = DRIVER.exec(line);
  return match ? { phase: match[1]!, done: Number(match[2]), total: Number(match[3]) } : undefined;
}

/** lm_eval's requests to the server, one per sample; its other bars (building contexts) are not samples. */
export const lmEvalProgress: ProgressParser = (line) => {
  const bar = tqdm(line);
  if (!bar || bar.desc !== 'Requesting API') return undefined;
  return { text: `${bar.done}/${bar.total} samples`, done: bar.done, total: bar.total };
};

/** `vllm bench serve`'s one bar (no description) over the benchmark's requests; the builtin driver's `bench` phase. */
export const benchProgress: ProgressParser = (line) => {
  const bar = tqdm(line);
  const counted = bar && bar.desc === '' ? bar : driver(line);
  if (!counted || ('phase' in counted && counted.phase !== 'bench')) return undefined;
  return { text: `${counted.done}/${counted.total} requests completed`, done: counted.done, total: counted.total };
};

/** The long doc QA driver's rounds (prewarmup, warmup, query), each over the documents. */
export const longDocQaProgress: ProgressParser = (line) => {
  const step = driver(line);
  if (!step) return undefined;
  return { text: `${step.phase} round: document ${step.done}/${step.total}`, done: step.done, total: step.total };
};

/**
 * Lets a changing value through at most once per interval, the latest one: `offer` every value as it comes, and
 * read `current` whenever a heartbeat goes out (a ticker does, so the last value is published even when the tool
 * goes quiet).
 */
export class Throttled<T> {
  private latest: T | undefined;
  private published: T | undefined;
  private publishedAt = -Infinity;

  constructor(private readonly intervalMs: number) {}

  offer(value: T): void {
    this.latest = value;
  }

  current(now: number): T | undefined {
    if (this.latest !== this.published && now - this.publishedAt >= this.intervalMs) {
      this.published = this.latest;
      this.publishedAt = now;
    }
    return this.published;
  }
}
