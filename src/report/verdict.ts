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
