/** How a benchmark stage ends: its checks returned when all pass, a named non-retried failure otherwise. */
import { ApplicationFailure } from '@temporalio/activity';
import type { Config } from '../config/schema.js';
import { FailureType } from '../failures.js';
import type { Check } from '../verification/types.js';

export interface BenchmarkOutcome {
  checks: Check[];
  comparisonTable?: string;
}

export function concludeBenchmark(stage: string, outcome: BenchmarkOutcome): BenchmarkOutcome {
  const failed = outcome.checks.filter((check) => !check.passed);
  if (failed.length === 0) return outcome;
  throw ApplicationFailure.create({
    type: FailureType.BenchmarkCheckFailed,
    message: `${stage}: ${failed.map((check) => `${check.name} failed${check.detail ? ` (${check.detail})` : ''}`).join('; ')}`,
    details: [outcome],
  });
}

/** The comparison benchmarks' order: baseline first, so warm-up effects never favour LMCache. */
export function baselineThenLmcache(config: Config): ReadonlyArray<readonly ['baseline' | 'lmcache', number]> {
  return [
    ['baseline', config.vllmBaselinePort],
    ['lmcache', config.vllmPort],
  ];
}
