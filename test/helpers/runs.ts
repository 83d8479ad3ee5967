/** Run records and reports for tests of history, regressions and their rendering. */
import type { KeyFigures } from '../../src/history/figures.js';
import type { RunRecord } from '../../src/history/trends.js';

export function runRecord(
  index: number,
  verdict: string,
  figures: Partial<KeyFigures>,
  extra: Partial<RunRecord> = {},
): RunRecord {
  return {
    workflowId: `lmcache-mp-test-build-${index}`,
    runId: `run-${index}`,
    startTime: new Date(Date.UTC(2026, 10, 1, 0, index)).toISOString(),
    status: verdict === 'passed' ? 'COMPLETED' : verdict === 'running' ? 'RUNNING' : 'FAILED',
    profile: 'sim',
    model: 'sim/greedy-echo',
    buildId: `build-${index}`,
    verdict,
    failedChecks: [],
    figures: { queryTtft: null, queryRoundTime: null, throughputRatio: null, ...figures },
    ...extra,
  };
}
