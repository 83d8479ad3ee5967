/**
 * Runs one benchmark tool through execa (argument array, never a shell), keeps its whole output in a log
 * file of the results directory, turns its latest output line into heartbeat details, and explains a failure:
 * a server container that stopped is named (not retried), even when the tool itself exited 0; otherwise
 * the tool's failure is retried.
 */
import { ApplicationFailure, cancellationSignal, heartbeat, log } from '@temporalio/activity';
import { execa } from 'execa';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Command, ToolPaths } from '../commands/tools.js';
import type { Config } from '../config/schema.js';
import { FailureType } from '../failures.js';
import { containersOf } from '../docker/containers.js';
import { failWithLogTails } from './container-failure.js';
import { PROJECT_ROOT, resolveNodePath } from './stage.js';

const OUTPUT_TAIL_LINES = 30;
const HEARTBEAT_INTERVAL_MS = 5000;

export function toolPaths(config: Config): ToolPaths {
  return {
    venvBin: path.join(resolveNodePath(config.venvDir), 'bin'),
    projectRoot: PROJECT_ROOT.replace(/\/$/, ''),
    nodeBin: process.execPath,
    lmcacheRepoDir: resolveNodePath(config.lmcacheRepoDir),
  };
}

/** Fails with a named, non-retried error when any server container of this run is no longer running. */
export async function assertServersRunning(workflowId: string): Promise<void> {
  const stopped = (await containersOf(workflowId)).filter((container) => container.state !== 'running');
  if (stopped.length === 0) return;
  await failWithLogTails(
    FailureType.ContainerExited,
    `container ${stopped.map((c) => `${c.name} (${c.role})`).join(', ')} is no longer running`,
    stopped,
  );
}

export interface ToolRun {
  stdout: string;
  logFile: string;
}

/**
 * Runs `command`, writing stdout and stderr to `logFile`. `label` names the run in heartbeats
 * ("lm_eval first_run"). Non-zero exit: ContainerExited if a server died, else ToolFailed (retried).
 */
export async function runTool(
  command: Command,
  options: { label: string; logFile: string; workflowId: string; cwd?: string },
): Promise<ToolRun> {
  if (!existsSync(command.file)) {
    throw ApplicationFailure.create({
      type: FailureType.ToolMissing,
      message: `${command.file} is not installed on this worker's node; run scripts/setup.sh (or set VENV_DIR / BENCHMARK_DRIVER)`,
    });
  }
  await mkdir(path.dirname(options.logFile), { recursive: true });
  const logStream = createWriteStream(options.logFile);
  logStream.write(`$ ${[command.file, ...command.args].map((arg) => JSON.stringify(arg)).join(' ')}\n`);
  log.info('tool started', { run: options.label, file: command.file, logFile: options.logFile });
  const subprocess = execa(command.file, command.args, {
    env: command.env,
    cancelSignal: cancellationSignal(),
    reject: false,
    all: true,
    cwd: options.cwd ?? PROJECT_ROOT,
    maxBuffer: 256 * 1024 * 1024,
  });
  const tail: string[] = [];
  const report = () => heartbeat({ run: options.label, progress: tail[tail.length - 1]?.slice(0, 300) ?? 'starting' });
  subprocess.all?.on('data', (chunk: Buffer) => {
    logStream.write(chunk);
    // Progress bars redraw with carriage returns: the last segment is the current state.
    const lines = chunk.toString('utf8').split(/[\r\n]+/).filter((line) => line.trim() !== '');
    if (lines.length === 0) return;
    tail.push(...lines);
    tail.splice(0, Math.max(0, tail.length - OUTPUT_TAIL_LINES));
    report();
  });
  // A tool may stay quiet for minutes (model warm-up); the heartbeat says the worker is alive meanwhile.
  const keepAlive = setInterval(report, HEARTBEAT_INTERVAL_MS);
  const result = await subprocess.finally(() => clearInterval(keepAlive));
  await new Promise((resolve) => logStream.end(resolve));
  const { exitCode, signal, durationMs } = result;
  log.info('tool finished', { run: options.label, exitCode, signal, durationMs });
  if (result.isCanceled) throw cancellationSignal().reason ?? new Error(`${options.label} cancelled`);
  // A server that died mid-run explains any failure, and makes a "successful" run's numbers meaningless.
  await assertServersRunning(options.workflowId);
  if (result.exitCode !== 0) {
    throw ApplicationFailure.create({
      type: FailureType.ToolFailed,
      message: `${options.label} exited with ${result.exitCode ?? result.signal}; full output in ${options.logFile}\n--- last lines ---\n${tail.join('\n')}`,
    });
  }
  return { stdout: String(result.stdout ?? ''), logFile: options.logFile };
}
