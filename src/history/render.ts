/**
 * `history.md` and its charts: the runs visibility listed, each group's newest run against the median of
 * the passing runs before it, and an SVG chart per figure over builds. Pure: the caller writes the files.
 */
import { formatNumber } from '../verification/format.js';
import { inProgress } from '../workflows/search-attributes.js';
import { FIGURES, type FigureSpec, type KeyFigures } from './figures.js';
import { lineChartSvg } from './svg-chart.js';
import type { FigureComparison, RunGroup, RunRecord } from './trends.js';

export interface ChartFile {
  /** Path relative to the Markdown file that shows it. */
  file: string;
  figure: FigureSpec;
  svg: string;
}

const CHARTS_DIR = 'charts';

function figureText(spec: FigureSpec, value: number | null): string {
  if (value === null) return '—';
  return `${formatNumber(value)}${spec.unit ? ` ${spec.unit}` : ''}`;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** Chart files for a series of runs, oldest first; `name` keeps several groups' charts apart. */
export function figureCharts(
  series: { label: string; figures: KeyFigures; failed: boolean }[],
  comparisons: FigureComparison[] | undefined,
  name = '',
): ChartFile[] {
  return FIGURES.map((figure) => {
    const comparison = comparisons?.find((c) => c.figure.id === figure.id);
    const reference =
      comparison?.median !== null && comparison?.median !== undefined
        ? { value: comparison.median, label: `median of ${comparison.runs} earlier passing run(s)` }
        : undefined;
    const svg = lineChartSvg({
      title: figure.title,
      unit: figure.unit,
      points: series.map((run) => ({ label: run.label, value: run.figures[figure.id], failed: run.failed })),
      reference,
    });
    return { file: `${CHARTS_DIR}/${figure.chart}${name ? `-${name}` : ''}.svg`, figure, svg };
  });
}

/** The comparison of one run with earlier passing runs, a table row per figure. */
export function comparisonTable(comparisons: FigureComparison[], marginPercent: number): string[] {
  const lines = [
    '| Figure | This run | Median before | Runs | Change | Verdict |',
    '| --- | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const c of comparisons) {
    const change =
      c.worsePercent === null
        ? '—'
        : `${formatNumber(Math.abs(c.worsePercent))} % ${c.worsePercent > 0 ? 'worse' : 'better'}`;
    const verdict = c.regression
      ? `❌ regression (> ${formatNumber(marginPercent)} % worse)`
      : c.worsePercent === null
        ? 'no comparison'
        : '✅ within margin';
    lines.push(
      `| ${cell(c.figure.title)} | ${figureText(c.figure, c.value)} | ${figureText(c.figure, c.median)} | ${c.runs} | ${change} | ${verdict} |`,
    );
  }
  return lines;
}

/** One sentence per regression: which figure and by how much. */
export function regressionSentences(comparisons: FigureComparison[], buildId: string): string[] {
  return comparisons
    .filter((c) => c.regression)
    .map(
      (c) =>
        `${c.figure.title} of build ${buildId} is ${figureText(c.figure, c.value)}, ${formatNumber(c.worsePercent!)} % worse than the median ` +
        `${figureText(c.figure, c.median)} of the ${c.runs} passing run(s) before it (${c.figure.better} is better).`,
    );
}

const isFailed = (run: RunRecord) => run.verdict !== 'passed' && !inProgress(run.verdict);

export interface HistoryPage {
  markdown: string;
  charts: ChartFile[];
  regressions: string[];
}

export function renderHistory(
  groups: RunGroup[],
  options: { marginPercent: number; filters: string; generatedAt: string },
): HistoryPage {
  const out: string[] = ['# LMCache multiprocessing test: run history', ''];
  const runs = groups.reduce((n, g) => n + g.runs.length, 0);
  out.push(
    `${runs} run(s) ${options.filters}, listed ${options.generatedAt}. A regression is a figure more than ` +
      `${formatNumber(options.marginPercent)} % worse than the median of the earlier passing runs of the same profile and model.`,
    '',
  );
  const charts: ChartFile[] = [];
  const regressions: string[] = [];
  if (groups.length === 0) out.push('No runs found.', '');
  groups.forEach((group, index) => {
    out.push(`## ${group.profile} · ${group.model}`, '');
    if (group.latest) {
      const found = regressionSentences(group.latest.comparisons, group.latest.run.buildId);
      regressions.push(...found);
      out.push(found.length > 0 ? '### ❌ Regression' : '### ✅ No regression', '');
      out.push(...found.map((sentence) => `- ${sentence}`), ...(found.length > 0 ? [''] : []));
      out.push(`Newest finished run: build \`${group.latest.run.buildId}\` (${group.latest.run.verdict}).`, '');
      out.push(...comparisonTable(group.latest.comparisons, options.marginPercent), '');
    }
    out.push('### Runs (newest first)', '');
    out.push(
      '| Started | Build | Commit | Verdict | Failed stage | Failed checks | ' +
        FIGURES.map((f) => cell(f.title)).join(' | ') +
        ' | Workflow |',
    );
    out.push('| --- | --- | --- | --- | --- | --- | ' + FIGURES.map(() => '---:').join(' | ') + ' | --- |');
    for (const run of [...group.runs].reverse()) {
      const verdict = `${isFailed(run) ? '❌' : run.verdict === 'passed' ? '✅' : '⏳'} ${run.verdict}`;
      out.push(
        `| ${run.startTime.replace('T', ' ').replace(/\.\d+Z$/, 'Z')} | \`${cell(run.buildId)}\` | ${run.commit ? `\`${cell(run.commit)}\`` : ''} | ${verdict} | ${cell(run.failedStage ?? '')} | ` +
          `${cell(run.failedChecks.join(', '))} | ${FIGURES.map((f) => figureText(f, run.figures[f.id])).join(' | ')} | \`${cell(run.workflowId)}\` |`,
      );
    }
    out.push('');
    const groupCharts = figureCharts(
      group.runs.map((run) => ({ label: run.buildId, figures: run.figures, failed: isFailed(run) })),
      group.latest?.comparisons,
      groups.length > 1 ? String(index + 1) : '',
    );
    charts.push(...groupCharts);
    out.push('### Trends', '');
    for (const chart of groupCharts) out.push(`![${chart.figure.title}](${chart.file})`, '');
  });
  return { markdown: out.join('\n'), charts, regressions };
}
