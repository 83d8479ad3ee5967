/**
 * Script stages: a test script from the LMCache checkout, run the way the reference orchestrator runs
 * `run-my-test.sh` — with the run's settings in its environment, writing under `$RESULTS_DIR/<stage>/` —
 * while the servers are up. Exit 0 passes its check `<stage>.exit_code`; anything else fails it.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { ENV_VARIABLES } from '../config/env.js';
import { scriptFile, scriptFileProblems } from '../config/input-files.js';
import type { Config } from '../config/schema.js';
import type { ScriptStage } from '../config/scripts.js';
import { placedConfig, type PlacedStageInput } from '../placement/placement.js';
import { exitCodeCheck } from '../verification/script.js';
import { concludeBenchmark, type BenchmarkOutcome } from './benchmark.js';
import { refuseProblems } from './input-files.js';
import { assertServersRunning, runLogged } from './run-tool.js';
import { resolveNodePath } from '../node-paths.js';

/** Knobs that are paths: given to a script resolved, since it runs in the checkout, not in this project. */
const PATH_FIELDS = new Set<keyof Config>(['venvDir', 'lmcacheRepoDir', 'hfCacheDir']);

/**
 * The reference suite's contract: every knob of the run under its environment variable name (RESULTS_DIR,
 * BUILD_ID, VENV_DIR, MODEL, VLLM_PORT, VLLM_BASELINE_PORT, LMCACHE_PORT, …), with this run's values.
 */
export function scriptEnvironment(config: Config): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { env: name, field, kind } of ENV_VARIABLES) {
    const value = kind === 'buildArg' ? config.buildArgs[name] : config[field];
    if (value === undefined) continue;
    if (Array.isArray(value)) env[name] = value.join(',');
    else if (PATH_FIELDS.has(field)) env[name] = resolveNodePath(String(value));
    else env[name] = String(value);
  }
  return env;
}

export async function runScriptStage(input: PlacedStageInput & { stage: ScriptStage }): Promise<BenchmarkOutcome> {
  const { workflowId, stage } = input;
  // The script's VLLM_PORT, VLLM_BASELINE_PORT and LMCACHE_PORT are the ones the run leased.
  const config = placedConfig(input.config, input.placement);
  // Checked again: this node may not be the one that checked them at the start.
  refuseProblems(await scriptFileProblems({ ...config, scripts: [stage.path] }));
  const stageDir = path.join(config.resultsDir, stage.name);
  // A retried attempt starts clean, so an old attempt's files can never stand in for new ones.
  await rm(stageDir, { recursive: true, force: true });
  await mkdir(stageDir, { recursive: true });
  const logFile = path.join(stageDir, `${stage.name}.log`);
  const end = await runLogged(
    { file: scriptFile(config, stage.path), args: [], env: scriptEnvironment(config) },
    {
      label: stage.name,
      logFile,
      cwd: resolveNodePath(config.lmcacheRepoDir),
      processGroup: true,
      timeoutMs: config.scriptTimeoutMinutes * 60_000,
      serversOf: workflowId,
    },
  );
  // A server that died while the script ran explains its failure, and makes its pass meaningless.
  await assertServersRunning(workflowId, stageDir);
  const check = exitCodeCheck(stage.name, { ...end, timeoutMinutes: config.scriptTimeoutMinutes });
  return concludeBenchmark(stage.name, { checks: [check] });
}
