/**
 * The activities the worker registers, one per stage, each timed (see ./timed.ts), and the check of the files
 * a run's input names on the node, which is no stage. The workflow refers to them by these names through
 * `proxyActivities<PipelineActivities>`.
 */
import { writeBisectReport } from './bisect-report.js';
import { buildImage } from './build.js';
import { cleanupContainers } from './cleanup.js';
import { ensureServers } from './ensure-servers.js';
import { countFleetNodes } from './fleet-capacity.js';
import { listCandidateCommits } from './git.js';
import { selectGpus } from './gpu.js';
import { waitForHealth } from './health.js';
import { launchContainers } from './launch.js';
import { claimNode, leaseResources } from './placement.js';
import { runLmEval } from './lm-eval.js';
import { runLongDocQa } from './long-doc-qa.js';
import { writeReport } from './report.js';
import { checkInputFiles } from './input-files.js';
import { runScriptStage } from './script-stage.js';
import { timed } from './timed.js';
import { runVllmBench } from './vllm-bench.js';

export const activities = {
  buildImage: timed(buildImage),
  claimNode,
  selectGpus: timed(selectGpus),
  leaseResources: timed(leaseResources),
  launchContainers: timed(launchContainers),
  waitForHealth: timed(waitForHealth),
  ensureServers,
  runLmEval: timed(runLmEval),
  runVllmBench: timed(runVllmBench),
  runLongDocQa: timed(runLongDocQa),
  checkInputFiles,
  // Runs started before the check covered more than scripts ask for it by its old name.
  checkScriptFiles: checkInputFiles,
  runScriptStage: timed(runScriptStage),
  cleanupContainers: timed(cleanupContainers),
  writeReport: timed(writeReport),
  // The bisect's own steps (lmcacheMpBisect).
  listCandidateCommits,
  countFleetNodes,
  writeBisectReport,
};

export type PipelineActivities = typeof activities;
