/**
 * Writes the run's report where people and CI look for it: report.json, report.md (with its charts) and
 * junit.xml. report.md compares the run with the last passing runs of its profile and model, read from
 * Temporal visibility; when that cannot be read, the report says so and the run goes on.
 */
import { activityInfo } from '@temporalio/activity';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { listRuns, withVisibilityClient } from '../history/visibility.js';
import { compareWithHistory, type RunHistory } from '../report/history-section.js';
import { renderJUnit, renderMarkdown } from '../report/render.js';
import type { RunReport } from '../verification/types.js';

export interface HistoryOptions {
  regressionMarginPercent: number;
  historyRuns: number;
}

async function readHistory(report: RunReport, options: HistoryOptions): Promise<RunHistory> {
  try {
    const previous = await withVisibilityClient(
      process.env,
      (client) =>
        listRuns(client, { profile: report.profile, model: report.model, verdict: 'passed', excludeWorkflowId: report.workflowId }, options.historyRuns),
      { namespace: activityInfo().workflowNamespace, connectTimeout: '10s' },
    );
    return compareWithHistory(report, previous, options.regressionMarginPercent);
  } catch (error) {
    return { available: false, reason: (error as Error).message };
  }
}

export async function writeReport(report: RunReport, historyOptions?: HistoryOptions): Promise<{ files: string[] }> {
  await mkdir(report.resultsDir, { recursive: true });
  const history = historyOptions ? await readHistory(report, historyOptions) : undefined;
  const files: Record<string, string> = {
    'report.json': `${JSON.stringify(report, null, 2)}\n`,
    'report.md': renderMarkdown(report, history),
    'junit.xml': renderJUnit(report),
  };
  if (history?.available) {
    for (const chart of history.charts) files[chart.file] = chart.svg;
  }
  const written: string[] = [];
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(report.resultsDir, name);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
    written.push(file);
  }
  return { files: written };
}
