/**
 * What the benchmark stages share. A benchmark's checks are its result, passing or failing: the workflow
 * alone decides that a failed check fails the run (after the other benchmarks and cleanup).
 */
import { log } from '@temporalio/activity';
import type { Config } from '../config/schema.js';
import { lmcacheMetricsPort, type PlacedStageInput } from '../placement/placement.js';
import type { Check, ComparisonRow, LmcacheCounterReading } from '../report/types.js';
import type { EvidenceSettings } from '../verification/lmcache-evidence.js';
import { countingLmcache } from './lmcache-metrics.js';

export interface BenchmarkOutcome {
  checks: Check[];
  /** Long doc QA only: the latencies of both servers side by side. */
  longDocQaComparison?: ComparisonRow[];
  /** vllm_bench: the seed of this attempt (see ./cold-caches.ts). */
  seed?: number;
  /** LMCache's counters over each run of the stage (see ./lmcache-metrics.ts). */
  lmcacheCounters?: LmcacheCounterReading[];
}

/** Logs the outcome with its failed checks as fields and hands it back to the workflow. */
export function concludeBenchmark(stage: string, outcome: BenchmarkOutcome): BenchmarkOutcome {
  const failed = outcome.checks.filter((check) => !check.passed).map((check) => check.name);
  log.info('benchmark checked', { stage, checks: outcome.checks.length, failed });
  return outcome;
}

/** The comparison benchmarks' order: baseline first, so warm-up effects never favour LMCache. */
export function baselineThenLmcache(config: Config): ReadonlyArray<readonly ['baseline' | 'lmcache', number]> {
  return [
    ['baseline', config.vllmBaselinePort],
    ['lmcache', config.vllmPort],
  ];
}

/**
 * Runs one side of a comparison benchmark between two readings of LMCache's counters, which go into `readings`.
 * Around the baseline they show what LMCache did while only the baseline was served: nothing, unless the
 * baseline reached the cache too.
 */
export function runSide<T>(
  side: 'baseline' | 'lmcache',
  input: PlacedStageInput,
  readings: LmcacheCounterReading[],
  body: () => Promise<T>,
): Promise<T> {
  return countingLmcache(lmcacheMetricsPort(input.config, input.placement), side, readings, body);
}

/** How the evidence checks (src/verification/lmcache-evidence.ts) decide, from the run's knobs. */
export function evidenceSettings(config: Config): EvidenceSettings {
  return { required: config.requireLmcacheEvidence, minServedPercent: config.lmcacheMinServedPercent };
}

/**
 * Under SIM_NOISE_PERCENT a performance check says which noise it was measured in, so the run can be reproduced:
 * the servers drew it from the run's seed at launch (src/commands/containers.ts).
 */
export function withSimNoise(check: Check, config: Config): Check {
  if (config.profile !== 'sim' || config.simNoisePercent === 0) return check;
  const note =
    `Sim noise ${config.simNoisePercent} % per batch, lasting about ${config.simNoiseSeconds} s, ` +
    `SIM_NOISE_SEED=${config.randomSeed}.`;
  return { ...check, detail: check.detail ? `${check.detail} ${note}` : note };
}
