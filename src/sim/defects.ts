/**
 * SIM_DEFECT: faults that can be switched on so that the pipeline's checks are shown to fail.
 * They act only where LMCache is involved; src/sim/README.md says which program each one acts in.
 * Pure: the configuration schema (and so the workflow bundle) validates SIM_DEFECT with parseDefect too.
 */
import { UsageError } from './usage-error.js';

export type Defect =
  | { kind: 'none' }
  | { kind: 'corrupt-on-hit' }
  | { kind: 'never-hit' }
  | { kind: 'never-retrieve' }
  | { kind: 'store-fails' }
  /** `slow-load:<ms>`: each retrieve adds that many milliseconds on the GPU path; plain `slow-load` has no `ms`. */
  | { kind: 'slow-load'; ms?: number }
  /** `slow-store:<percent>`: throughput drops by about that percent; plain `slow-store` has no `percent`. */
  | { kind: 'slow-store'; percent?: number }
  | { kind: 'never-healthy' }
  | { kind: 'crash-after'; requests: number };

const SIMPLE_KINDS = [
  'none',
  'corrupt-on-hit',
  'never-hit',
  'never-retrieve',
  'store-fails',
  'slow-load',
  'slow-store',
  'never-healthy',
] as const;
/** The allowed values, as a person reads them. */
export const DEFECT_CHOICES =
  `${SIMPLE_KINDS.join(', ')}, crash-after:N (N >= 1), slow-load:MS (MS > 0), ` +
  'slow-store:PERCENT (0 < PERCENT < 100)';

export const NO_DEFECT: Defect = { kind: 'none' };

/** Parses SIM_DEFECT; unset or empty means `none`. Throws UsageError naming the allowed values. */
export function parseDefect(value: string | undefined): Defect {
  const text = (value ?? '').trim() || 'none';
  const simple = SIMPLE_KINDS.find((kind) => kind === text);
  if (simple) return { kind: simple };
  const crash = /^crash-after:([1-9][0-9]*)$/.exec(text);
  if (crash) return { kind: 'crash-after', requests: Number(crash[1]) };
  const strength = /^(slow-load|slow-store):([0-9]+(?:\.[0-9]+)?)$/.exec(text);
  if (strength) {
    const value = Number(strength[2]);
    if (strength[1] === 'slow-load' && value > 0) return { kind: 'slow-load', ms: value };
    if (strength[1] === 'slow-store' && value > 0 && value < 100) return { kind: 'slow-store', percent: value };
  }
  throw new UsageError(`SIM_DEFECT=${JSON.stringify(text)} is not a known defect; allowed: ${DEFECT_CHOICES}`);
}

export function describeDefect(defect: Defect): string {
  if (defect.kind === 'crash-after') return `crash-after:${defect.requests}`;
  if (defect.kind === 'slow-load' && defect.ms !== undefined) return `slow-load:${defect.ms}`;
  if (defect.kind === 'slow-store' && defect.percent !== undefined) return `slow-store:${defect.percent}`;
  return defect.kind;
}

/** Parses SIM_GPU_CACHE_TOKENS; unset, empty or 0 means undefined: the size --gpu-memory-utilization gives. */
export function parseGpuCacheTokens(value: string | undefined): number | undefined {
  const text = (value ?? '').trim();
  if (text === '' || text === '0') return undefined;
  if (!/^[1-9][0-9]*$/.test(text)) {
    throw new UsageError(`SIM_GPU_CACHE_TOKENS=${JSON.stringify(text)} must be a number of tokens >= 0`);
  }
  return Number(text);
}

/** Parses SIM_STARTUP_SECONDS; unset or empty means 0. */
export function parseStartupSeconds(value: string | undefined): number {
  const text = (value ?? '').trim();
  if (text === '') return 0;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new UsageError(`SIM_STARTUP_SECONDS=${JSON.stringify(text)} must be a number of seconds >= 0`);
  }
  return seconds;
}

/** Parses SIM_NOISE_PERCENT: the spread (one standard deviation) of the modelled GPU time per batch; unset is 0. */
export function parseNoisePercent(value: string | undefined): number {
  const text = (value ?? '').trim();
  if (text === '') return 0;
  const percent = Number(text);
  if (!Number.isFinite(percent) || percent < 0 || percent > 50) {
    throw new UsageError(`SIM_NOISE_PERCENT=${JSON.stringify(text)} must be a percent from 0 to 50`);
  }
  return percent;
}

/** Parses SIM_NOISE_SECONDS: how long the interference lasts (its correlation time); unset is 1 s. */
export function parseNoiseSeconds(value: string | undefined): number {
  const text = (value ?? '').trim();
  if (text === '') return 1;
  const seconds = Number(text);
  if (!Number.isFinite(seconds) || seconds < 0.01 || seconds > 3600) {
    throw new UsageError(`SIM_NOISE_SECONDS=${JSON.stringify(text)} must be a number of seconds from 0.01 to 3600`);
  }
  return seconds;
}

/** Parses SIM_NOISE_SEED, the noise generator's seed (the run records it); unset is 0. */
export function parseNoiseSeed(value: string | undefined): number {
  const text = (value ?? '').trim();
  if (text === '') return 0;
  if (!/^[0-9]+$/.test(text) || Number(text) > 0xffffffff) {
    throw new UsageError(`SIM_NOISE_SEED=${JSON.stringify(text)} must be an integer from 0 to 4294967295`);
  }
  return Number(text);
}
