/**
 * Writes the run's report where people and CI look for it: report.json, report.md (with its charts) and
 * junit.xml. report.md compares the run with the last passing runs of its profile and model, read from
 * Temporal visibility; when that cannot be read, the report says so and the run goes on.
 */
import { activityInfo } from '@temporalio/activity';
import { listRuns, withVisibilityClient } from '../history/visibility.js';
import { compareWithHistory, type RunHistory } from '../report/history-section.js';
import { renderJUnit } from '../report/junit.js';
import { renderMarkdown } from '../report/markdown.js';
import type { RunReport } from '../report/types.js';
import { writeFiles } from '../util/files.js';

export interface HistoryOptions {
  regressionMarginPercent: number;
  historyRuns: number;
}

async function readHistory(report: RunReport, options: HistoryOptions): Promise<RunHistory> {
  try {
    const previous = await withVisibilityClient(
      process.env,
      (client) =>
        listRuns(
          client,
          { profile: report.profile, model: report.model, verdict: 'passed', excludeWorkflowId: report.workflowId },
          options.historyRuns,
        ),
      { namespace: activityInfo().workflowNamespace, connectTimeout: '10s' },
    );
    return compareWithHistory(report, previous, options.regressionMarginPercent);
  } catch (error) {
    return { available: false, reason: (error as Error).message };
  }
}

/** The report's files by name, relative to the results directory: report.md's charts sit in charts/. */
export function reportFiles(report: RunReport, history?: RunHistory): Record<string, string> {
  const files: Record<string, string> = {
    'report.json': `${JSON.stringify(report, null, 2)}\n`,
    'report.md': renderMarkdown(report, history),
    'junit.xml': renderJUnit(report),
  };
  if (history?.available) {
    for (const chart of history.charts) files[chart.file] = chart.svg;
  }
  return files;
}

export async function writeReport(report: RunReport, historyOptions?: HistoryOptions): Promise<{ files: string[] }> {
  const history = historyOptions ? await readHistory(report, historyOptions) : undefined;
  return { files: await writeFiles(report.resultsDir, reportFiles(report, history)) };
}
