/**
 * Writes a bisect's bisect.md (and its figure's chart) into the bisect's results directory, with links to each
 * probe's run in the Temporal UI (TEMPORAL_UI_URL, default the dev server's UI at http://127.0.0.1:8233).
 */
import { activityInfo } from '@temporalio/activity';
import { renderBisectMarkdown, type BisectResult } from '../bisect/report.js';
import { writeFiles } from '../util/files.js';

const DEV_SERVER_UI = 'http://127.0.0.1:8233';

export async function writeBisectReport(input: {
  result: BisectResult;
  resultsDir: string;
}): Promise<{ files: string[] }> {
  const ui = { baseUrl: process.env.TEMPORAL_UI_URL || DEV_SERVER_UI, namespace: activityInfo().workflowNamespace ?? 'default' };
  const page = renderBisectMarkdown(input.result, ui);
  const files: Record<string, string> = {
    'bisect.md': page.markdown,
    'bisect.json': `${JSON.stringify(input.result, null, 2)}\n`,
  };
  if (page.chart) files[page.chart.file] = page.chart.svg;
  return { files: await writeFiles(input.resultsDir, files) };
}
