/**
 * `cli.js history`: the last runs from Temporal visibility with verdict, failed stage and key figures, a
 * regression flag per profile and model, and history.md with an SVG chart per figure written to a directory.
 */
import path from 'node:path';
import { shortSha } from '../git/repo.js';
import { bisectCommand } from '../history/bisect-suggestion.js';
import { FIGURES } from '../history/figures.js';
import { renderHistory, type HistoryPage } from '../history/render.js';
import { analyseRuns } from '../history/trends.js';
import { listRuns, withVisibilityClient, type RunFilter } from '../history/visibility.js';
import { columns } from '../report/terminal.js';
import { writeFiles } from '../util/files.js';
import { formatNumber } from '../verification/format.js';

export interface HistoryCommand {
  filter: RunFilter;
  last: number;
  outDir: string;
  marginPercent: number;
}

/** history.md and its charts, in `outDir` (the charts in a subdirectory the Markdown refers to). */
export async function writeHistoryPage(outDir: string, page: HistoryPage): Promise<string> {
  const charts = Object.fromEntries(page.charts.map((chart) => [chart.file, chart.svg]));
  const [file] = await writeFiles(outDir, { 'history.md': page.markdown, ...charts });
  return file!;
}

export async function runHistory(
  env: NodeJS.ProcessEnv,
  command: HistoryCommand,
  log: (line: string) => void,
): Promise<{ regressions: string[] }> {
  const runs = await withVisibilityClient(env, (client) => listRuns(client, command.filter, command.last));
  const groups = analyseRuns(runs, command.marginPercent);
  const filters = [
    command.filter.profile && `profile ${command.filter.profile}`,
    command.filter.model && `model ${command.filter.model}`,
  ]
    .filter(Boolean)
    .join(', ');
  const page = renderHistory(groups, {
    marginPercent: command.marginPercent,
    filters: `(last ${command.last}${filters ? `; ${filters}` : ''})`,
    generatedAt: new Date().toISOString(),
  });

  await writeHistoryPage(command.outDir, page);

  const figure = (value: number | null) => (value === null ? '-' : formatNumber(value));
  for (const group of groups) {
    log(`${group.profile} · ${group.model}: ${group.runs.length} run(s), oldest first`);
    log(
      columns([
        ['STARTED', 'BUILD', 'COMMIT', 'VERDICT', 'FAILED STAGE', ...FIGURES.map((f) => f.chart.toUpperCase())],
        ...group.runs.map((run) => [
          run.startTime,
          run.buildId,
          run.commit ? shortSha(run.commit) : '-',
          run.verdict,
          run.failedStage ?? '-',
          ...FIGURES.map((f) => figure(run.figures[f.id])),
        ]),
      ]).join('\n'),
    );
  }
  if (runs.length === 0) log('no runs found');
  for (const sentence of page.regressions) log(`REGRESSION: ${sentence}`);
  if (groups.some((g) => g.latest) && page.regressions.length === 0) log('no regression');
  for (const group of groups) {
    const bisect = bisectCommand(group, command.marginPercent);
    if (bisect) log(`to find the commit (${group.profile} · ${group.model}): ${bisect}`);
  }
  log(`wrote ${path.join(command.outDir, 'history.md')} and ${page.charts.length} chart(s)`);
  return { regressions: page.regressions };
}
