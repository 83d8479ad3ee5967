/** The report as CI reads it: JUnit XML, a suite for the stages and one per benchmark. Pure. */
import { formatValue } from '../verification/format.js';
import { groupChecks, LMCACHE_COUNTER_COLUMNS, lmcacheCountersOf, standsFailed } from './layout.js';
import type { Check, RunReport, StageReport } from './types.js';

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

/** A grey-zone figure's samples as properties: `samples.<check>.values` (comma-separated), median, interval, why. */
function sampleProperties(check: Check): [string, string | number][] {
  const samples = check.samples;
  if (!samples) return [];
  const name = `samples.${check.name}`;
  return [
    [`${name}.values`, samples.values.join(',')],
    [`${name}.median`, samples.median],
    [`${name}.interval90`, samples.interval.join(',')],
    [`${name}.limit`, samples.limit],
    [`${name}.first_sample_passed`, String(samples.firstPassed)],
    [`${name}.reasons`, samples.reasons.join(' | ')],
  ];
}

/** A benchmark's LMCache counters and its grey-zone samples as suite properties: `lmcache.<run>.hit_tokens`, or `lmcache.<run>.unavailable`. */
function lmcacheProperties(report: RunReport, benchmark: string, checks: Check[]): string {
  const readings = lmcacheCountersOf(report, benchmark) ?? [];
  const properties = readings.flatMap(({ run, deltas, unavailable }): [string, string | number][] =>
    deltas
      ? LMCACHE_COUNTER_COLUMNS.map(([field, , suffix]) => [`lmcache.${run}.${suffix}`, deltas[field]])
      : [[`lmcache.${run}.unavailable`, unavailable ?? 'not read']],
  );
  properties.push(...checks.flatMap(sampleProperties));
  if (properties.length === 0) return '';
  return [
    '    <properties>',
    ...properties.map(([name, value]) => `      <property${attrs({ name, value })}/>`),
    '    </properties>',
  ].join('\n');
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
  if (check.reportOnly) return { ...base, skipped: check.detail ?? 'report only' };
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
        lmcacheProperties(report, prefix, checks),
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
