/** The run's current details in the Temporal UI: what it is doing, and a table of the stages so far. Pure. */
import { FailureType } from '../failures.js';
import type { StageReport } from './types.js';

/**
 * A benchmark whose checks failed says how many beside its status, and a stage with a detail (a build that
 * skipped) says it, so the UI shows it at a glance.
 */
function statusCell(stage: StageReport): string {
  if (stage.errorType === FailureType.BenchmarkCheckFailed) return `${stage.status}: ${stage.error}`;
  return stage.detail ? `${stage.status}: ${stage.detail}` : stage.status;
}

export function renderProgress(current: string, stages: StageReport[]): string {
  return [
    `**${current}**`,
    '',
    '| stage | status | seconds |',
    '|---|---|---|',
    ...stages.map((s) => `| ${s.name} | ${statusCell(s)} | ${(s.durationMs / 1000).toFixed(1)} |`),
  ].join('\n');
}
