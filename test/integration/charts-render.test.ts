/**
 * history.md and report.md as a CI page shows them: Markdown rendered to HTML and loaded in headless Chromium,
 * where every chart they reference must load (a broken image has no width).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { reportFiles } from '../../src/activities/report.js';
import { writeHistoryPage } from '../../src/client/history.js';
import { renderHistory } from '../../src/history/render.js';
import { analyseRuns } from '../../src/history/trends.js';
import { compareWithHistory } from '../../src/report/history-section.js';
import { writeFiles } from '../../src/util/files.js';
import type { RunReport } from '../../src/report/types.js';
import { imagesOfRenderedMarkdown } from '../helpers/chromium.js';
import { runRecord } from '../helpers/runs.js';

const passing = (i: number, ttft: number) =>
  runRecord(i, 'passed', { queryTtft: ttft, queryRoundTime: ttft * 5, throughputRatio: 1.01 });

describe('charts load in headless Chromium', { timeout: 180_000 }, () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'charts-render-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('history.md: one chart per figure, failed runs and a run without figures included', async () => {
    const runs = [
      passing(1, 0.02),
      passing(2, 0.021),
      runRecord(3, 'failed', {}, { failedStage: 'health' }),
      runRecord(
        4,
        'failed',
        { queryTtft: 0.09, queryRoundTime: 0.2 },
        { failedStage: 'long_doc_qa', failedChecks: ['long_doc_qa.query_ttft_per_prompt'] },
      ),
    ];
    const page = renderHistory(analyseRuns(runs, 10, 2), {
      marginPercent: 10,
      greyZonePercent: 2,
      filters: '(test)',
      generatedAt: 'now',
    });
    const file = await writeHistoryPage(path.join(dir, 'history'), page);
    const images = await imagesOfRenderedMarkdown(file);
    assert.equal(images.length, 3, JSON.stringify(images));
    for (const image of images) assert.ok(image.naturalWidth > 0, `${image.src} did not load`);
  });

  it('report.md: the comparison charts it refers to load from the results directory', async () => {
    const report: RunReport = {
      workflowId: 'wf',
      runId: 'run',
      buildId: 'build-9',
      profile: 'sim',
      model: 'sim/greedy-echo',
      passed: true,
      resultsDir: path.join(dir, 'results'),
      stages: [{ name: 'long_doc_qa', status: 'passed', durationMs: 1000 }],
      checks: [],
      figures: { queryTtft: 0.02, queryRoundTime: 0.1, throughputRatio: 1 },
    };
    const history = compareWithHistory(report, [passing(1, 0.02), passing(2, 0.022)], 10);
    assert.ok(history.available);
    await writeFiles(report.resultsDir, reportFiles(report, history));
    const images = await imagesOfRenderedMarkdown(path.join(report.resultsDir, 'report.md'));
    assert.equal(images.length, 3);
    for (const image of images) assert.ok(image.naturalWidth > 0, `${image.src} did not load`);
  });

  it('sees a broken image as broken', async () => {
    const file = path.join(dir, 'broken.md');
    await writeFile(file, '# page\n\n![missing](charts/missing.svg)\n');
    const images = await imagesOfRenderedMarkdown(file);
    assert.deepEqual(
      images.map((image) => [image.src, image.naturalWidth]),
      [['charts/missing.svg', 0]],
    );
  });
});
