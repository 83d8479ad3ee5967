/** A run's verdict in words. Pure: the workflow shows it in the Temporal UI, the renderers print it. */
import type { RunReport } from './types.js';

export type Verdict = 'passed' | 'failed' | 'passed — no checks selected' | 'passed-with-overrides';

/** A run whose selected stages hold no check (STAGES=build,launch,health) must not read like a full pass. */
export function verdict(report: Pick<RunReport, 'passed' | 'checks' | 'verdict'>): Verdict {
  if (!report.passed) return 'failed';
  // Green only because retryStage overrode a setting: never a plain pass.
  if (report.verdict === 'passed-with-overrides') return report.verdict;
  return report.checks.length === 0 ? 'passed — no checks selected' : 'passed';
}

/** The verdict for a last line: PASSED, FAILED, or PASSED — no checks selected. */
export function verdictLine(report: Pick<RunReport, 'passed' | 'checks' | 'verdict'>): string {
  return verdict(report).replace(/^\w+/, (word) => word.toUpperCase());
}

/**
 * How CI reads a verdict: 0 passed, 1 failed, 3 passed only thanks to a retryStage override, so that a relaxed
 * threshold cannot turn a job green unnoticed (Buildkite soft-fails exit 3; scripts/run-mp-test.sh exits with it).
 */
export function verdictExitCode(report: Pick<RunReport, 'passed' | 'checks' | 'verdict'>): 0 | 1 | 3 {
  const words = verdict(report);
  if (words === 'failed') return 1;
  return words === 'passed-with-overrides' ? 3 : 0;
}

/** What the run's standing outcomes owe to retryStage overrides: `stage: field original → overridden`, one each. */
export function standingOverrides(report: Pick<RunReport, 'stages'>): string[] {
  return report.stages
    .filter((stage) => !stage.superseded)
    .flatMap((stage) =>
      Object.entries(stage.overrides ?? {}).map(
        ([field, { original, overridden }]) =>
          `${stage.name}: ${field} ${JSON.stringify(original)} → ${JSON.stringify(overridden)}`,
      ),
    );
}

/** One line for a CI annotation: the verdict, and after it what retryStage overrode, if anything. */
export function verdictWithOverrides(report: Pick<RunReport, 'passed' | 'checks' | 'verdict' | 'stages'>): string {
  const overrides = standingOverrides(report);
  return overrides.length > 0 ? `${verdict(report)} (${overrides.join('; ')})` : verdict(report);
}
