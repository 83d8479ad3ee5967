/**
 * What tells a good commit from a bad one in a bisect: a check of the run's report failing, or a key figure past
 * a limit. Parses the CLI forms and judges a probe's report. Pure: the workflow bundle imports it.
 */
import { InvalidConfigError } from '../config/schema.js';
import { FailureType } from '../failures.js';
import { FIGURES, keyFigures, type FigureId, type FigureSpec } from '../history/figures.js';
import type { RunReport, StageReport } from '../report/types.js';
import { formatNumber, formatValue } from '../verification/format.js';

/** Bad when the named check (as reports name it: `vllm_bench.throughput`) failed. */
export interface CheckPredicate {
  check: string;
}

/** Bad when the figure is above (`>`) or below (`<`) the limit; exactly at the limit is good. */
export interface FigurePredicate {
  figure: FigureId;
  op: '>' | '<';
  limit: number;
}

/** The workflow input's JSON shape. */
export type Predicate = CheckPredicate | FigurePredicate;

/** `infra`: the probe could not tell (a stage broke, the check or figure is missing); retried, never "bad". */
export type ProbeOutcome = 'good' | 'bad' | 'infra';

export interface Judgement {
  outcome: ProbeOutcome;
  /** The figure measured, or the check's value when it is a number. */
  figure?: number;
  reason: string;
}

/** `<stage>.<check>`, with as many dotted parts as the check has (`vllm_bench.lmcache.completed`). */
const CHECK_NAME = /^[a-z0-9_]+(\.[a-z0-9_]+)+$/;
const FIGURE_EXPRESSION = /^\s*([A-Za-z]+)\s*([<>])\s*(\S+)\s*$/;
const FLAG = /^\s*(--check|--figure)(?:\s*=\s*|\s+)(.*?)\s*$/s;

const figureList = FIGURES.map((f) => f.id).join(', ');

export function figureSpec(id: FigureId): FigureSpec {
  return FIGURES.find((f) => f.id === id)!;
}

export const isFigurePredicate = (predicate: Predicate): predicate is FigurePredicate => 'figure' in predicate;

function invalid(problem: string): never {
  throw new InvalidConfigError([problem]);
}

/**
 * The CLI forms `--check NAME` and `--figure 'FIGURE>LIMIT'` (or `<`; `--flag=value` too). Throws
 * InvalidConfigError naming the argument and the value.
 */
export function parsePredicate(text: string): Predicate {
  const flag = FLAG.exec(text);
  if (!flag) {
    invalid(
      `bisect predicate: expected --check NAME or --figure 'FIGURE>LIMIT' (or <), FIGURE one of ${figureList}; ` +
        `got ${JSON.stringify(text)}`,
    );
  }
  const [, name, value] = flag;
  if (name === '--check') {
    if (!CHECK_NAME.test(value!)) {
      invalid(
        `--check: expected a check name as reports show it (e.g. long_doc_qa.query_ttft_per_prompt, ` +
          `vllm_bench.throughput), got ${JSON.stringify(value)}`,
      );
    }
    return { check: value! };
  }
  const expression = FIGURE_EXPRESSION.exec(value!);
  if (!expression) {
    invalid(
      `--figure: expected FIGURE>LIMIT or FIGURE<LIMIT, FIGURE one of ${figureList}; got ${JSON.stringify(value)}`,
    );
  }
  const [, figure, op, limitText] = expression;
  if (!FIGURES.some((f) => f.id === figure)) {
    invalid(`--figure: unknown figure ${JSON.stringify(figure)} in ${JSON.stringify(value)}; figures: ${figureList}`);
  }
  const limit = Number(limitText);
  if (!Number.isFinite(limit)) {
    invalid(`--figure: the limit ${JSON.stringify(limitText)} in ${JSON.stringify(value)} is not a number`);
  }
  return { figure: figure as FigureId, op: op as '>' | '<', limit };
}

/** The predicate as the CLI takes it, quoted for a shell (`>` would redirect). */
export function predicateCli(predicate: Predicate): string {
  return isFigurePredicate(predicate)
    ? `--figure '${predicate.figure}${predicate.op}${predicate.limit}'`
    : `--check ${predicate.check}`;
}

export function figureText(id: FigureId, value: number): string {
  const { unit } = figureSpec(id);
  return `${formatNumber(value)}${unit ? ` ${unit}` : ''}`;
}

/** For people: "bad when Query TTFT (LMCache) is above 0.15 s". */
export function describePredicate(predicate: Predicate): string {
  if (!isFigurePredicate(predicate)) return `bad when the check ${predicate.check} fails`;
  const { title } = figureSpec(predicate.figure);
  return `bad when ${title} is ${predicate.op === '>' ? 'above' : 'below'} ${figureText(predicate.figure, predicate.limit)}`;
}

/** A figure's verdict under the predicate, and the reason: "queryTtft 0.31 s > 0.15 → bad". At the limit is good. */
export function judgeFigure(predicate: FigurePredicate, value: number): { outcome: 'good' | 'bad'; reason: string } {
  const bad = predicate.op === '>' ? value > predicate.limit : value < predicate.limit;
  const relation = bad ? predicate.op : predicate.op === '>' ? '≤' : '≥';
  const outcome = bad ? 'bad' : 'good';
  return {
    outcome,
    reason: `${predicate.figure} ${figureText(predicate.figure, value)} ${relation} ${formatNumber(predicate.limit)} → ${outcome}`,
  };
}

/** Stages that broke rather than measured: an error or a cancellation, not failed checks. */
function brokenStages(report: RunReport): StageReport[] {
  return report.stages.filter(
    (stage) =>
      !stage.superseded &&
      (stage.status === 'cancelled' ||
        (stage.status === 'failed' && stage.errorType !== FailureType.BenchmarkCheckFailed)),
  );
}

function stageErrors(report: RunReport): string {
  const broken = brokenStages(report);
  if (broken.length === 0) return '';
  const each = broken.map(
    (s) => `stage ${s.name} ${s.status}${s.errorType ? ` (${s.errorType})` : ''}${s.error ? `: ${s.error}` : ''}`,
  );
  return `; ${each.join('; ')}`;
}

/**
 * Good, bad or infra for one probe's report. What was measured decides, even if another stage broke after it
 * (the reason says so); what was not measured is infra, never bad, so a broken node cannot look like a culprit.
 */
export function judgeProbe(predicate: Predicate, report: RunReport, maxThroughputSlowdownPercent: number): Judgement {
  const errors = stageErrors(report);
  if (isFigurePredicate(predicate)) {
    const value = keyFigures(report.checks, maxThroughputSlowdownPercent)[predicate.figure];
    if (value === null) {
      return {
        outcome: 'infra',
        reason: `${predicate.figure} was not measured${errors || ': its benchmark did not run'}`,
      };
    }
    const { outcome, reason } = judgeFigure(predicate, value);
    return { outcome, figure: value, reason: `${reason}${errors}` };
  }
  const check = report.checks.find((c) => c.name === predicate.check);
  if (!check) {
    return {
      outcome: 'infra',
      reason: `${predicate.check} is not in the run's report${errors || ': its stage did not run'}`,
    };
  }
  const figure = typeof check.value === 'number' && Number.isFinite(check.value) ? check.value : undefined;
  const measured = `value ${formatValue(check.value)}, limit ${formatValue(check.limit)}`;
  // A report-only check passes whatever it found: say so, or a bisect on it would look like "all good".
  const reportOnly = check.reportOnly ? ', report-only (REQUIRE_LMCACHE_EVIDENCE=0)' : '';
  return {
    outcome: check.passed ? 'good' : 'bad',
    ...(figure !== undefined ? { figure } : {}),
    reason: `${check.name} ${check.passed ? 'passed' : 'failed'} (${measured}${reportOnly}) → ${check.passed ? 'good' : 'bad'}${errors}`,
  };
}
