/** Writes the run's report where people and CI look for it: report.json, report.md and junit.xml. */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderJUnit, renderMarkdown } from '../report/render.js';
import type { RunReport } from '../report/types.js';

export async function writeReport(report: RunReport): Promise<{ files: string[] }> {
  await mkdir(report.resultsDir, { recursive: true });
  const files = {
    'report.json': `${JSON.stringify(report, null, 2)}\n`,
    'report.md': renderMarkdown(report),
    'junit.xml': renderJUnit(report),
  };
  const written: string[] = [];
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(report.resultsDir, name);
    await writeFile(file, content);
    written.push(file);
  }
  return { files: written };
}
