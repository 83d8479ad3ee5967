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
  | { kind: 'slow-load' }
  | { kind: 'slow-store' }
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
export const DEFECT_CHOICES = `${SIMPLE_KINDS.join(', ')}, crash-after:N (N >= 1)`;

export const NO_DEFECT: Defect = { kind: 'none' };

/** Parses SIM_DEFECT; unset or empty means `none`. Throws UsageError naming the allowed values. */
export function parseDefect(value: string | undefined): Defect {
  const text = (value ?? '').trim() || 'none';
  const simple = SIMPLE_KINDS.find((kind) => kind === text);
  if (simple) return { kind: simple };
  const crash = /^crash-after:([1-9][0-9]*)$/.exec(text);
  if (crash) return { kind: 'crash-after', requests: Number(crash[1]) };
  throw new UsageError(`SIM_DEFECT=${JSON.stringify(text)} is not a known defect; allowed: ${DEFECT_CHOICES}`);
}

export function describeDefect(defect: Defect): string {
  return defect.kind === 'crash-after' ? `crash-after:${defect.requests}` : defect.kind;
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
