/** A run's verdict in words. Pure: the workflow shows it in the Temporal UI, the renderers print it. */
import type { RunReport } from './types.js';

export type Verdict = 'passed' | 'failed' | 'passed — no checks selected';

/** A run whose selected stages hold no check (STAGES=build,launch,health) must not read like a full pass. */
export function verdict(report: Pick<RunReport, 'passed' | 'checks'>): Verdict {
  if (!report.passed) return 'failed';
  return report.checks.length === 0 ? 'passed — no checks selected' : 'passed';
}

/** The verdict for a last line: PASSED, FAILED, or PASSED — no checks selected. */
export function verdictLine(report: Pick<RunReport, 'passed' | 'checks'>): string {
  return verdict(report).replace(/^\w+/, (word) => word.toUpperCase());
}
