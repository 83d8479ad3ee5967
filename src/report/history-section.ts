/**
 * The report's "against the last N passing runs" section: this run's key figures beside the median of the
 * earlier passing runs of the same profile and model, with a chart per figure. Pure.
 */
import { compareFigures, type FigureComparison, type RunRecord } from '../history/trends.js';
import { comparisonTable, figureCharts, regressionSentences, type ChartFile } from '../history/render.js';
import type { RunReport } from '../report/types.js';

export type RunHistory =
  | {
      available: true;
      previous: RunRecord[];
      comparisons: FigureComparison[];
      marginPercent: number;
      charts: ChartFile[];
    }
  | { available: false; reason: string };

/** Compares a finished run with earlier passing runs (oldest first) and draws its charts. */
export function compareWithHistory(report: RunReport, previous: RunRecord[], marginPercent: number): RunHistory {
  const figures = report.figures ?? { queryTtft: null, queryRoundTime: null, throughputRatio: null };
  const comparisons = compareFigures(figures, previous, marginPercent);
  const series = [
    ...previous.map((run) => ({ label: run.buildId, figures: run.figures, failed: false })),
    { label: `${report.buildId} (this run)`, figures, failed: !report.passed },
  ];
  return { available: true, previous, comparisons, marginPercent, charts: figureCharts(series, comparisons) };
}

const UNCOMPARED_HEADING = '## Against earlier passing runs';

export function renderHistorySection(history: RunHistory, report: RunReport): string[] {
  if (!history.available) {
    return [
      UNCOMPARED_HEADING,
      '',
      `Run history could not be read, so this run is not compared: ${history.reason}`,
      '',
    ];
  }
  if (history.previous.length === 0) {
    const none = `No earlier passing run of profile ${report.profile} and model \`${report.model}\` to compare with.`;
    return [UNCOMPARED_HEADING, '', none, ''];
  }
  const out = [`## Against the last ${history.previous.length} passing runs`, ''];
  const regressions = regressionSentences(history.comparisons, report.buildId);
  out.push(
    regressions.length > 0
      ? `❌ **Regression**: ${regressions.join(' ')}`
      : "✅ No figure is worse than the earlier runs' median by more than the margin.",
    '',
    `Earlier passing runs of profile ${report.profile} and model \`${report.model}\`: ${history.previous.map((run) => `\`${run.buildId}\``).join(', ')}.`,
    '',
    ...comparisonTable(history.comparisons, history.marginPercent),
    '',
  );
  for (const chart of history.charts) out.push(`![${chart.figure.title}](${chart.file})`, '');
  return out;
}
