/**
 * From a group's newest run that regressed or failed, the bisect that would find its commit: between the last
 * passing run's commit and the newest one's, on the figure that regressed (past the margin `history` uses) or
 * the first check that failed. Only runs made at a commit (LMCACHE_REF) can be bisected. Pure.
 */
import { predicateCli, type Predicate } from '../bisect/predicate.js';
import { formatNumber } from '../verification/format.js';
import type { RunGroup } from './trends.js';

export function bisectCommand(group: RunGroup, marginPercent: number): string | undefined {
  const latest = group.latest;
  if (!latest?.run.commit) return undefined;
  const lastPassing = [...group.runs]
    .reverse()
    .find(
      (run) => run !== latest.run && run.verdict === 'passed' && run.commit && run.startTime < latest.run.startTime,
    );
  if (!lastPassing?.commit || lastPassing.commit === latest.run.commit) return undefined;
  const regressed = latest.comparisons.find((comparison) => comparison.regression && comparison.median !== null);
  let predicate: Predicate | undefined;
  if (regressed) {
    const lower = regressed.figure.better === 'lower';
    const limit = Number(formatNumber(regressed.median! * (1 + ((lower ? 1 : -1) * marginPercent) / 100)));
    predicate = { figure: regressed.figure.id, op: lower ? '>' : '<', limit };
  } else if (latest.run.failedChecks.length > 0) {
    predicate = { check: latest.run.failedChecks[0]! };
  }
  if (!predicate) return undefined;
  return `scripts/bisect.sh ${lastPassing.commit} ${latest.run.commit} ${predicateCli(predicate)}`;
}
