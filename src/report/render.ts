/**
 * Renders a run's report three ways: Markdown for people (with charts), JUnit XML for CI, and a
 * plain-text table for a terminal. Pure: the caller writes the text where it belongs.
 */
import { formatNumber, formatValue } from '../verification/format.js';
import { renderHistorySection, type RunHistory } from './history-section.js';
import type { Check, ComparisonRow, RunReport, StageReport, StageStatus } from './types.js';
import { verdict, verdictLine } from './verdict.js';

/** The suite's benchmarks, in the order they run; each gets a section and a JUnit suite even when it never ran. */
const BENCHMARKS = ['lm_eval', 'vllm_bench', 'long_doc_qa'] as const;

const BENCHMARK_TITLES: Record<string, string> = {
  lm_eval: 'lm_eval (correctness)',
  vllm_bench: 'vllm bench serve (throughput)',
  long_doc_qa: 'Long document QA (latency)',
};

function prefixOf(checkName: string): string {
  const dot = checkName.indexOf('.');
  return dot === -1 ? checkName : checkName.slice(0, dot);
}

/** Checks grouped by benchmark prefix: the known three first, then any other prefix as it appears. */
function groupChecks(checks: Check[]): [string, Check[]][] {
  const groups = new Map<string, Check[]>(BENCHMARKS.map((b) => [b, []]));
  for (const check of checks) {
    const prefix = prefixOf(check.name);
    const group = groups.get(prefix);
    if (group) group.push(check);
    else groups.set(prefix, [check]);
  }
  return [...groups];
}

/** Durations as people read them: 850 ms, 12.3 s, 4 m 05 s, 1 h 02 m 09 s. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const totalSeconds = Math.round(seconds);
  const h = Math.floor(totalSeconds / 3600);
  const m = Math.floor((totalSeconds % 3600) / 60);
  const s = totalSeconds % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h} h ${pad(m)} m ${pad(s)} s` : `${m} m ${pad(s)} s`;
}

function tally(report: RunReport) {
  return {
    checksPassed: report.checks.filter((c) => c.passed).length,
    stagesPassed: report.stages.filter((s) => s.status === 'passed').length,
  };
}

// ---------------------------------------------------------------- Markdown

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
  out.push('| | |', '| --- | --- |');
  out.push(`| Workflow | ${mdCode(report.workflowId)} (run ${mdCode(report.runId)}) |`);
  out.push(`| Build | ${mdCode(report.buildId)} |`);
  out.push(`| Profile | ${report.profile} |`);
  out.push(`| Model | ${mdCode(report.model)} |`);
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
      const status = `${stage.status}${stage.superseded ? ' (superseded by a retry)' : ''}`;
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
        `| ${mdCode(check.name)} | ${check.passed ? '✅ pass' : '❌ fail'} | ${mdCell(formatValue(check.value))} | ${mdCell(formatValue(check.limit))} | ${mdCell(check.detail ?? '')} |`,
      );
    }
    out.push('');
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

// ---------------------------------------------------------------- JUnit XML

/** Characters XML 1.0 forbids (tools' output carries ANSI colour codes), and lone surrogate halves. */
const XML_INVALID =
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const ANSI_SEQUENCE = /\u001B\[[0-9;?]*[A-Za-z]/g;

function xmlEscape(text: string): string {
  return text
    .replace(ANSI_SEQUENCE, '')
    .replace(XML_INVALID, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

function attrs(values: Record<string, string | number>): string {
  return Object.entries(values)
    .map(([key, value]) => ` ${key}="${xmlEscape(String(value))}"`)
    .join('');
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);

interface Case {
  name: string;
  classname: string;
  timeMs: number;
  failure?: { message: string; type: string; body: string };
  skipped?: string;
}

function suiteXml(name: string, cases: Case[], extra = ''): string[] {
  const failures = cases.filter((c) => c.failure).length;
  const skipped = cases.filter((c) => c.skipped !== undefined).length;
  const timeMs = cases.reduce((sum, c) => sum + c.timeMs, 0);
  const lines = [
    `  <testsuite${attrs({ name, tests: cases.length, failures, errors: 0, skipped, time: seconds(timeMs) })}>`,
  ];
  if (extra) lines.push(extra);
  for (const c of cases) {
    const open = `    <testcase${attrs({ name: c.name, classname: c.classname, time: seconds(c.timeMs) })}`;
    if (c.failure) {
      lines.push(
        `${open}>`,
        `      <failure${attrs({ message: c.failure.message, type: c.failure.type })}>${xmlEscape(c.failure.body)}</failure>`,
        '    </testcase>',
      );
    } else if (c.skipped !== undefined) {
      lines.push(`${open}>`, `      <skipped${attrs({ message: c.skipped })}/>`, '    </testcase>');
    } else {
      lines.push(`${open}/>`);
    }
  }
  lines.push('  </testsuite>');
  return lines;
}

/** A stage that failed or was cancelled, and that no later `retryStage` attempt superseded. */
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

function standsFailed(stage: StageReport): boolean {
  return (stage.status === 'failed' || stage.status === 'cancelled') && !stage.superseded;
}

function stageCase(stage: StageReport): Case {
  const name = stage.retry ? `${stage.name} (retry ${stage.retry})` : stage.name;
  const base = { name, classname: 'stages', timeMs: stage.durationMs };
  if (stage.superseded) return { ...base, skipped: `${stage.status}, superseded by a later retryStage attempt` };
  if (stage.status === 'skipped') return { ...base, skipped: 'stage skipped' };
  if (stage.status === 'passed') return base;
  // A cancelled stage did not do its work either, so CI must see it red.
  // CI shows the message on one line; the body keeps the whole error.
  const message = stage.error?.trim().split('\n')[0] ?? `stage ${stage.status}`;
  const body = [
    `status: ${stage.status}`,
    stage.attempts !== undefined ? `attempts: ${stage.attempts}` : '',
    stage.error ? `error: ${stage.error}` : '',
  ]
    .filter(Boolean)
    .join('\n');
  return { ...base, failure: { message, type: stage.errorType ?? stage.status, body } };
}

function checkCase(check: Check, classname: string): Case {
  const base = { name: check.name, classname, timeMs: 0 };
  if (check.passed) return base;
  const message = check.detail ?? `${check.name} failed`;
  const body = `value: ${formatValue(check.value)}\nlimit: ${formatValue(check.limit)}${check.detail ? `\ndetail: ${check.detail}` : ''}`;
  return { ...base, failure: { message, type: 'CheckFailed', body } };
}

/** JUnit XML for CI: a "stages" suite, then one suite per benchmark with a test case per check. */
export function renderJUnit(report: RunReport): string {
  const properties = [
    '    <properties>',
    ...Object.entries({
      workflowId: report.workflowId,
      runId: report.runId,
      buildId: report.buildId,
      profile: report.profile,
      model: report.model,
      resultsDir: report.resultsDir,
    }).map(([name, value]) => `      <property${attrs({ name, value })}/>`),
    '    </properties>',
  ].join('\n');
  const suites = [
    ...suiteXml('stages', report.stages.map(stageCase), properties),
    ...groupChecks(report.checks).flatMap(([prefix, checks]) =>
      suiteXml(
        prefix,
        checks.map((c) => checkCase(c, prefix)),
      ),
    ),
  ];
  const tests = report.stages.length + report.checks.length;
  const failures = report.stages.filter(standsFailed).length + report.checks.filter((c) => !c.passed).length;
  const timeMs = report.stages.reduce((sum, s) => sum + s.durationMs, 0);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attrs({ name: 'lmcache-mp-test', tests, failures, errors: 0, time: seconds(timeMs) })}>`,
    ...suites,
    '</testsuites>',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------- terminal

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
          s.status.toUpperCase(),
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
        ...report.checks.map((c) => [c.name, c.passed ? 'PASS' : 'FAIL', formatValue(c.value), formatValue(c.limit)]),
      ]),
    );
  }
  const problems = [
    ...report.stages
      .filter(standsFailed)
      .map((s) => `stage ${s.name} ${s.status}${s.error ? `: ${s.error.replace(/\s*\r?\n\s*/g, ' ')}` : ''}`),
    ...report.checks.filter((c) => !c.passed).map((c) => `${c.name}: ${c.detail ?? 'failed'}`),
  ];
  if (problems.length > 0) out.push('', 'Failures', ...problems.map((p) => `  - ${p}`));
  out.push('', `Results: ${report.resultsDir}`);
  out.push(
    `Verdict: ${verdictLine(report)} (${checksPassed}/${report.checks.length} checks passed, ` +
      `${stagesPassed}/${report.stages.length} stages passed)`,
    '',
  );
  return out.join('\n');
}
