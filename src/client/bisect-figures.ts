/**
 * `cli.js bisect-figures BISECT_JSON WALL_SECONDS CULPRIT_SHA` (scripts/bisect-sim.sh): one JSON line from a finished
 * bisect's bisect.json and its probes' report.json files — commits, whether it named the planted culprit, probes,
 * rounds, wall time, one probe's median time, and builds skipped because the node had the commit's image.
 */
import { readFile } from 'node:fs/promises';
import type { BisectResult } from '../bisect/report.js';
import { resolveConfig } from '../config/schema.js';
import { median } from '../history/trends.js';
import type { RunReport } from '../report/types.js';

export async function bisectFigures(bisectJson: string, wallSeconds: number, culprit: string) {
  const result = JSON.parse(await readFile(bisectJson, 'utf8')) as BisectResult;
  const runs = result.probes.flatMap((probe) => [probe.workflowId, ...(probe.repeats ?? []).map((r) => r.workflowId)]);
  const reports = await Promise.all(
    runs.map(async (workflowId) => {
      // A probe's results directory comes from its workflow id, as every run's does.
      const { resultsDir } = resolveConfig({ profile: 'sim' }, { workflowId });
      return JSON.parse(await readFile(`${resultsDir}/report.json`, 'utf8')) as RunReport;
    }),
  );
  const probeSeconds = reports.map((report) => report.stages.reduce((sum, stage) => sum + stage.durationMs, 0) / 1000);
  const skipped = reports.filter((report) => report.stages.some((stage) => stage.name === 'build' && stage.detail));
  return {
    commits: (result.candidates ?? 0) + 1,
    culpritFound: result.firstBad?.sha === culprit,
    probes: runs.length,
    rounds: result.rounds,
    parallelProbes: result.parallelProbes,
    wallSeconds,
    oneProbeSeconds: probeSeconds.length > 0 ? Number(median(probeSeconds).toFixed(1)) : null,
    buildsSkipped: skipped.length,
  };
}
