/** The report for a terminal: stages and checks in aligned columns, failures, the verdict last. Pure. */
import { formatValue } from '../verification/format.js';
import {
  BENCHMARKS,
  checkResult,
  describeCommit,
  describePlacement,
  formatCounter,
  formatDuration,
  LMCACHE_COUNTER_COLUMNS,
  lmcacheCountersOf,
  reportOnlyNote,
  tally,
  standsFailed,
} from './layout.js';
import type { RunReport } from './types.js';
import { standingOverrides, verdictLine } from './verdict.js';

export function columns(rows: string[][], indent = '  '): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  return rows.map((row) => (indent + row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')).trimEnd());
}

/** A plain-text summary for a terminal: stages and checks in aligned columns, failed details, verdict last. */
export function renderSummaryTable(report: RunReport): string {
  const { checksPassed, stagesPassed } = tally(report);
  const out: string[] = [];
  out.push(
    `LMCache multiprocessing test  workflow ${report.workflowId}  profile ${report.profile}  model ${report.model}`,
    ...(report.commit ? [`commit ${describeCommit(report.commit)}`] : []),
    ...(report.placement ? [`node ${describePlacement(report.placement)}`] : []),
    '',
  );
  out.push('Stages');
  if (report.stages.length === 0) out.push('  (none ran)');
  else {
    out.push(
      ...columns([
        ['STAGE', 'STATUS', 'DURATION', 'ATTEMPTS'],
        ...report.stages.map((s) => [
          s.name,
          `${s.status.toUpperCase()}${s.detail ? ` (${s.detail})` : ''}`,
          formatDuration(s.durationMs),
          s.attempts === undefined ? '' : String(s.attempts),
        ]),
      ]),
    );
  }
  out.push('', 'Checks');
  if (report.checks.length === 0) out.push('  (none ran)');
  else {
    out.push(
      ...columns([
        ['CHECK', 'RESULT', 'VALUE', 'LIMIT'],
        ...report.checks.map((c) => [c.name, checkResult(c).toUpperCase(), formatValue(c.value), formatValue(c.limit)]),
      ]),
    );
  }
  out.push(...lmcacheCounterLines(report));
  const problems = [
    ...report.stages
      .filter(standsFailed)
      .map((s) => `stage ${s.name} ${s.status}${s.error ? `: ${s.error.replace(/\s*\r?\n\s*/g, ' ')}` : ''}`),
    ...report.checks.filter((c) => !c.passed).map((c) => `${c.name}: ${c.detail ?? 'failed'}`),
  ];
  if (problems.length > 0) out.push('', 'Failures', ...problems.map((p) => `  - ${p}`));
  const overrides = standingOverrides(report);
  if (overrides.length > 0) out.push('', 'Overridden by retryStage', ...overrides.map((o) => `  - ${o}`));
  out.push('', `Results: ${report.resultsDir}`);
  const note = reportOnlyNote(report);
  if (note) out.push(`Note: ${note}`);
  out.push(
    `Verdict: ${verdictLine(report)} (${checksPassed}/${report.checks.length} checks passed, ` +
      `${stagesPassed}/${report.stages.length} stages passed)`,
    '',
  );
  return out.join('\n');
}

/** LMCache's counters per benchmark run against vLLM with LMCache; a run whose counters were not read says why. */
function lmcacheCounterLines(report: RunReport): string[] {
  const rows = [['BENCHMARK', 'RUN', ...LMCACHE_COUNTER_COLUMNS.map(([, title]) => title.toUpperCase())]];
  const notes: string[] = [];
  for (const benchmark of BENCHMARKS) {
    const readings = lmcacheCountersOf(report, benchmark);
    if (!readings) continue;
    for (const { run, deltas, unavailable } of readings) {
      if (deltas)
        rows.push([benchmark, run, ...LMCACHE_COUNTER_COLUMNS.map(([field]) => formatCounter(field, deltas))]);
      else notes.push(`  ${benchmark} ${run}: ${unavailable ?? 'not read'}`);
    }
  }
  if (rows.length === 1 && notes.length === 0) return [];
  return ['', 'LMCache counters', ...(rows.length > 1 ? columns(rows) : []), ...notes];
}
