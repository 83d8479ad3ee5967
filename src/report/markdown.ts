/** The report as people read it: Markdown with the verdict, stages, checks, comparisons and charts. Pure. */
import { formatNumber, formatValue } from '../verification/format.js';
import { renderHistorySection, type RunHistory } from './history-section.js';
import {
  BENCHMARK_TITLES,
  checkResult,
  describePlacement,
  formatCounter,
  groupChecks,
  formatDuration,
  LMCACHE_COUNTER_COLUMNS,
  lmcacheCountersOf,
  reportOnlyNote,
  tally,
  standsFailed,
} from './layout.js';
import type { ComparisonRow, RunReport, StageReport, StageStatus } from './types.js';
import { verdict, verdictLine } from './verdict.js';

const CHECK_RESULT_MARKS = { pass: '✅ pass', fail: '❌ fail', 'report only': 'ℹ️ report only' } as const;

const STAGE_ICONS: Record<StageStatus, string> = {
  passed: '✅',
  failed: '❌',
  skipped: '⏭️',
  cancelled: '⛔',
};

/**
 * Text from tools on one Markdown line: outside code spans, `<` and `>` are escaped so that output
 * such as `<think>` shows instead of vanishing as an HTML tag; newlines would end the line.
 */
function mdText(text: string): string {
  return text
    .replace(/\r?\n/g, ' ')
    .split(/(`[^`]*`)/)
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/</g, '&lt;').replace(/>/g, '&gt;')))
    .join('');
}

/** One table cell: a pipe would end the cell. */
function mdCell(text: string): string {
  return mdText(text).replace(/\|/g, '\\|');
}

function mdCode(text: string): string {
  return `\`${text.replace(/`/g, "'")}\``;
}

/** Mermaid's xychart labels are double-quoted strings with no escape for a quote. */
function mermaidLabel(text: string): string {
  return `"${text.replace(/"/g, "'")}"`;
}

function barChart(title: string, yAxis: string, bars: [string, number][]): string[] {
  return [
    '```mermaid',
    'xychart-beta',
    `    title ${mermaidLabel(title)}`,
    `    x-axis [${bars.map(([label]) => mermaidLabel(label)).join(', ')}]`,
    `    y-axis ${mermaidLabel(yAxis)}`,
    `    bar [${bars.map(([, value]) => Number(value.toPrecision(4))).join(', ')}]`,
    '```',
  ];
}

const METRIC_NAMES: Record<ComparisonRow['metric'], string> = {
  query_ttft_per_prompt: 'Query TTFT per prompt',
  query_round_time_per_prompt: 'Query round time per prompt',
  warmup_round_time_per_prompt: 'Warm-up round time per prompt',
};

/** Markdown table: metric | baseline | LMCache | speedup (baseline ÷ LMCache, so > 1× means LMCache is faster). */
export function renderComparisonTable(rows: ComparisonRow[]): string {
  const cell = (value: number | undefined) => (value === undefined ? '—' : formatNumber(value));
  const lines = ['| Metric | Baseline | LMCache | Speedup |', '| --- | ---: | ---: | ---: |'];
  for (const { metric, baseline, lmcache } of rows) {
    const comparable = baseline !== undefined && lmcache !== undefined && lmcache > 0;
    const speedup = comparable ? `${(baseline / lmcache).toFixed(2)}×` : '—';
    lines.push(`| ${METRIC_NAMES[metric]} (s) | ${cell(baseline)} | ${cell(lmcache)} | ${speedup} |`);
  }
  return lines.join('\n');
}

/**
 * A report people read: verdict, stages, checks against their limits, the long doc QA comparison, charts,
 * and, when given, how the run compares with earlier passing runs.
 */
export function renderMarkdown(report: RunReport, history?: RunHistory): string {
  const { checksPassed, stagesPassed } = tally(report);
  const out: string[] = [];
  out.push(`# ${report.passed ? '✅' : '❌'} LMCache multiprocessing test ${verdict(report)}`, '');
  out.push(
    `**${checksPassed} of ${report.checks.length} checks passed · ${stagesPassed} of ${report.stages.length} stages passed**`,
    '',
  );
  const note = reportOnlyNote(report);
  if (note) out.push(`ℹ️ ${note}.`, '');
  out.push('| | |', '| --- | --- |');
  out.push(`| Workflow | ${mdCode(report.workflowId)} (run ${mdCode(report.runId)}) |`);
  out.push(`| Build | ${mdCode(report.buildId)} |`);
  if (report.commit) {
    const { sha, subject, author, date } = report.commit;
    out.push(`| Commit | ${mdCode(sha)} ${mdCell(subject)} (${mdCell(author)}, ${date}) |`);
  }
  out.push(`| Profile | ${report.profile} |`);
  out.push(`| Model | ${mdCode(report.model)} |`);
  if (report.placement) out.push(`| Node | ${mdText(describePlacement(report.placement))} |`);
  out.push(`| Results | ${mdCode(report.resultsDir)} |`, '');

  const failedStages = report.stages.filter(standsFailed);
  const failedChecks = report.checks.filter((c) => !c.passed);
  if (failedStages.length > 0 || failedChecks.length > 0) {
    out.push('## What failed', '');
    for (const stage of failedStages) {
      const why = stage.error ? `: ${stage.errorType ? `${stage.errorType}: ` : ''}${stage.error}` : '';
      out.push(`- ${STAGE_ICONS[stage.status]} stage **${mdText(stage.name)}** ${stage.status}${mdText(why)}`);
    }
    for (const check of failedChecks) {
      out.push(
        `- ❌ **${check.name}**: ${mdText(check.detail ?? `value ${formatValue(check.value)}, limit ${formatValue(check.limit)}`)}`,
      );
    }
    out.push('');
  }

  out.push('## Stages', '');
  if (report.stages.length === 0) {
    out.push('No stage ran.', '');
  } else {
    out.push('| Stage | Status | Duration | Attempts | Error |', '| --- | --- | ---: | ---: | --- |');
    for (const stage of report.stages) {
      const error = stage.error ? mdCell(`${stage.errorType ? `${stage.errorType}: ` : ''}${stage.error}`) : '';
      const status = `${stage.status}${stage.superseded ? ' (superseded by a retry)' : ''}${stage.detail ? `: ${mdCell(stage.detail)}` : ''}`;
      const attempts = `${stage.attempts ?? ''}${stage.retry ? ` (retry ${stage.retry})` : ''}`;
      out.push(
        `| ${mdCell(stage.name)} | ${STAGE_ICONS[stage.status]} ${status} | ${formatDuration(stage.durationMs)} | ${attempts} | ${error} |`,
      );
    }
    out.push('');
    out.push(...retrySection(report.stages));
    out.push(
      ...barChart(
        'Stage durations',
        'Seconds',
        report.stages.map((s) => [s.name, s.durationMs / 1000]),
      ),
      '',
    );
  }

  out.push('## Checks', '');
  for (const [prefix, checks] of groupChecks(report.checks)) {
    out.push(`### ${BENCHMARK_TITLES[prefix] ?? prefix}`, '');
    if (checks.length === 0) {
      out.push('No checks: this benchmark did not run.', '');
      continue;
    }
    out.push('| Check | Result | Value | Limit | Detail |', '| --- | --- | ---: | ---: | --- |');
    for (const check of checks) {
      out.push(
        `| ${mdCode(check.name)} | ${CHECK_RESULT_MARKS[checkResult(check)]} | ${mdCell(formatValue(check.value))} | ${mdCell(formatValue(check.limit))} | ${mdCell(check.detail ?? '')} |`,
      );
    }
    out.push('', ...lmcacheCounterTable(report, prefix));
  }

  if (report.longDocQaComparison) {
    out.push('## Long document QA: LMCache vs baseline', '', renderComparisonTable(report.longDocQaComparison), '');
    const bars: [string, number][] = report.longDocQaComparison.flatMap((row) => {
      const pairs: [string, number][] = [];
      if (row.baseline !== undefined) pairs.push([`${METRIC_NAMES[row.metric]}, baseline`, row.baseline]);
      if (row.lmcache !== undefined) pairs.push([`${METRIC_NAMES[row.metric]}, LMCache`, row.lmcache]);
      return pairs;
    });
    if (bars.length > 0) out.push(...barChart('Long document QA latency', 'Seconds', bars), '');
  }

  if (history) out.push(...renderHistorySection(history, report));

  out.push(`**Verdict: ${verdictLine(report)}**`, '');
  return out.join('\n');
}

/** What each retry changed: overridden knobs and thresholds beside the run's values, and vllm_bench's seed. */
function retrySection(stages: StageReport[]): string[] {
  const changed = stages.filter((stage) => stage.overrides || stage.seed !== undefined);
  if (changed.length === 0) return [];
  const out = ['## Retries and overrides', '', '| Stage | Attempt | Setting | Run value | This attempt |'];
  out.push('| --- | --- | --- | --- | --- |');
  for (const stage of changed) {
    const attempt = stage.retry ? `retry ${stage.retry}` : `attempt ${stage.attempts ?? 1}`;
    for (const [field, { original, overridden }] of Object.entries(stage.overrides ?? {})) {
      out.push(`| ${mdCell(stage.name)} | ${attempt} | ${mdCode(field)} | ${original} | **${overridden}** |`);
    }
    if (stage.seed !== undefined) out.push(`| ${mdCell(stage.name)} | ${attempt} | seed | | ${stage.seed} |`);
  }
  return [...out, ''];
}

/** LMCache's own counters over each of the benchmark's runs against vLLM with LMCache, below its checks. */
function lmcacheCounterTable(report: RunReport, benchmark: string): string[] {
  const readings = lmcacheCountersOf(report, benchmark);
  if (!readings) return [];
  const out = [
    "LMCache's own counters (its Prometheus metrics, after minus before each run):",
    '',
    `| Run | ${LMCACHE_COUNTER_COLUMNS.map(([, title]) => title).join(' | ')} |`,
    `| --- |${' ---: |'.repeat(LMCACHE_COUNTER_COLUMNS.length)}`,
  ];
  const blank = ' |'.repeat(LMCACHE_COUNTER_COLUMNS.length);
  for (const { run, deltas, unavailable } of readings) {
    if (deltas) {
      out.push(
        `| ${mdCell(run)} | ${LMCACHE_COUNTER_COLUMNS.map(([field]) => formatCounter(field, deltas)).join(' | ')} |`,
      );
    } else out.push(`| ${mdCell(run)} | ${mdCell(unavailable ?? 'not read')}${blank}`);
  }
  return [...out, ''];
}
