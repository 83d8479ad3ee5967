/**
 * scripts/check-power.sh's arithmetic: each trial's verdict under the single-sample rule and the grey-zone rule,
 * read from the same stage outcomes (the grey rule's first sample is the single rule's sample), and the rates
 * and costs of each rule over the trials. Pure.
 */
import type { Check } from '../report/types.js';

/** The figures the grey zone re-measures; the other checks are the same under both rules. */
export const PERFORMANCE_CHECKS = [
  'vllm_bench.throughput',
  'long_doc_qa.query_ttft_per_prompt',
  'long_doc_qa.query_round_time_per_prompt',
] as const;

export function isPerformanceCheck(check: Check): boolean {
  return (PERFORMANCE_CHECKS as readonly string[]).includes(check.name);
}

export interface StageTrial {
  checks: Check[];
  /** The stage's wall time, repeats included. */
  seconds: number;
}

export interface TrialVerdict {
  singleFailed: boolean;
  greyFailed: boolean;
  /** What the single-sample rule would have cost: the stages' time less their repeats. */
  singleSeconds: number;
  greySeconds: number;
  /** Checks other than the performance ones that failed: not part of either rule, but worth a warning. */
  otherFailures: string[];
}

export function judgeTrial(stages: readonly StageTrial[]): TrialVerdict {
  const checks = stages.flatMap((stage) => stage.checks);
  const measured = checks.filter(isPerformanceCheck);
  const greySeconds = stages.reduce((sum, stage) => sum + stage.seconds, 0);
  // A stage's figures share their repeats (one tool run measures both latencies): count each stage's once.
  const repeatSeconds = stages.reduce((sum, stage) => {
    const samples = stage.checks.find((check) => check.samples)?.samples;
    return sum + (samples ? samples.seconds.slice(1).reduce((a, b) => a + b, 0) : 0);
  }, 0);
  return {
    singleFailed: measured.some((check) => !(check.samples?.firstPassed ?? check.passed)),
    greyFailed: measured.some((check) => !check.passed),
    singleSeconds: greySeconds - repeatSeconds,
    greySeconds,
    otherFailures: checks.filter((check) => !isPerformanceCheck(check) && !check.passed).map((check) => check.name),
  };
}

export interface PowerLine {
  rule: 'single' | 'grey';
  noisePercent: number;
  defect: string;
  trials: number;
  failed: number;
  rate: number;
  meanSecondsPerVerdict: number;
}

/** The two lines of one condition: the single-sample rule's and the grey-zone rule's, over the same trials. */
export function powerLines(noisePercent: number, defect: string, verdicts: readonly TrialVerdict[]): PowerLine[] {
  const trials = verdicts.length;
  const line = (rule: PowerLine['rule'], failed: number, seconds: number): PowerLine => ({
    rule,
    noisePercent,
    defect,
    trials,
    failed,
    rate: trials === 0 ? 0 : failed / trials,
    meanSecondsPerVerdict: trials === 0 ? 0 : Math.round((seconds / trials) * 100) / 100,
  });
  const sum = (of: (verdict: TrialVerdict) => number) => verdicts.reduce((total, verdict) => total + of(verdict), 0);
  return [
    line(
      'single',
      sum((v) => Number(v.singleFailed)),
      sum((v) => v.singleSeconds),
    ),
    line(
      'grey',
      sum((v) => Number(v.greyFailed)),
      sum((v) => v.greySeconds),
    ),
  ];
}
