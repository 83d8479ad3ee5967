/**
 * Runs one benchmark tool or test script through execa (argument array, never a shell), keeps its whole output
 * in a log file of the results directory, and turns its latest output lines into heartbeat details. For a
 * benchmark tool it explains a failure: a server container that stopped is named (not retried), even when the
 * tool itself exited 0; otherwise the tool's failure is retried.
 */
import { ApplicationFailure, cancellationSignal, Context, heartbeat, log } from '@temporalio/activity';
import { execa } from 'execa';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { setTimeout as setTimeoutPromise } from 'node:timers/promises';
import path from 'node:path';
import type { Command, ToolPaths } from '../commands/tools.js';
import type { Config } from '../config/schema.js';
import { EVIDENCE_LINES, FailureType, type FailureEvidence } from '../failures.js';
import { containersOf } from '../docker/containers.js';
import { watchContainerDeaths, type ContainerDeath } from '../docker/events.js';
import { failWithLogTails } from './container-failure.js';
import { beatingWhile } from './keep-alive.js';
import { endLeftoverTool, forgetTool, recordTool } from './leftover-tools.js';
import { PROJECT_ROOT, resolveNodePath } from '../node-paths.js';
import { Throttled, type ProgressParser, type ToolProgress } from '../verification/tool-progress.js';

const HEARTBEAT_LINES = 5;
/** A tool's progress in the heartbeat changes at most this often per stage: a CI log gets a line, not a flood. */
const PROGRESS_INTERVAL_MS = 10_000;
/** Per stage, not per tool run: lm_eval's two runs (or a bench's baseline and LMCache runs) share one limit. */
const stageProgress = new WeakMap<Context, Throttled<ToolProgress>>();

function progressOfStage(): Throttled<ToolProgress> {
  const context = Context.current();
  let throttled = stageProgress.get(context);
  if (!throttled) stageProgress.set(context, (throttled = new Throttled(PROGRESS_INTERVAL_MS)));
  return throttled;
}
const GROUP_KILL_GRACE_MS = 5000;

export function toolPaths(config: Config): ToolPaths {
  return {
    venvBin: path.join(resolveNodePath(config.venvDir), 'bin'),
    projectRoot: PROJECT_ROOT.replace(/\/$/, ''),
    nodeBin: process.execPath,
    lmcacheRepoDir: resolveNodePath(config.lmcacheRepoDir),
  };
}

/**
 * Fails with a named, non-retried error when any server container of this run is no longer running. `died`
 * names containers the engine reported dead: its container list still says "running" for a moment after the
 * event (it is updated once the engine has cleaned up after the process).
 */
export async function assertServersRunning(
  workflowId: string,
  saveDir: string,
  died: ContainerDeath[] = [],
): Promise<void> {
  const stopped = (await containersOf(workflowId))
    .map((c) => (died.some((d) => d.name === c.name) ? { ...c, state: c.state === 'running' ? 'exited' : c.state } : c))
    .filter((container) => container.state !== 'running');
  if (stopped.length === 0) return;
  await failWithLogTails(
    FailureType.ContainerExited,
    `container ${stopped.map((c) => `${c.name} (${c.role})`).join(', ')} is no longer running`,
    stopped,
    saveDir,
  );
}

export interface ToolRun {
  stdout: string;
  logFile: string;
}

/** How a process ended, with its latest output lines. */
export interface ProcessOutcome extends ToolRun {
  exitCode?: number;
  signal?: string;
  /** Killed because it ran longer than `timeoutMs`. */
  timedOut: boolean;
  tail: string[];
}

export interface RunOptions {
  /** Names the run in heartbeats ("lm_eval first_run"). */
  label: string;
  logFile: string;
  cwd?: string;
  /**
   * Run in a process group of its own, and end the whole group (SIGTERM, then SIGKILL after a grace time) on
   * cancellation, on timeout and when the process exits, so nothing it started outlives the stage.
   */
  processGroup?: boolean;
  timeoutMs?: number;
  /**
   * The run whose server containers the tool talks to: when one of them dies the tool is stopped at once and
   * the stage fails naming it (Docker's event stream), instead of waiting for the tool's own retries to give up.
   */
  serversOf?: string;
  /** Reads how far the tool has got from its output lines, for the heartbeat's `toolProgress`. */
  progress?: ProgressParser;
}

/**
 * Runs `command` through execa, writing stdout and stderr to the log file and heartbeating the latest lines.
 * Throws the cancellation when the activity is cancelled; otherwise reports how the process ended.
 */
export async function runLogged(command: Command, options: RunOptions): Promise<ProcessOutcome> {
  await mkdir(path.dirname(options.logFile), { recursive: true });
  const pidFile = `${options.logFile}.pid`;
  const leftover = await endLeftoverTool(pidFile);
  if (leftover !== undefined)
    log.warn('ended the tool a lost attempt had left running', { run: options.label, pid: leftover });
  const logStream = createWriteStream(options.logFile);
  logStream.write(`$ ${[command.file, ...command.args].map((arg) => JSON.stringify(arg)).join(' ')}\n`);
  log.info('tool started', { run: options.label, file: command.file, logFile: options.logFile });
  const cancelled = cancellationSignal();
  const serverDied = new AbortController();
  const deaths: ContainerDeath[] = [];
  const stopWatching = options.serversOf
    ? await watchContainerDeaths(options.serversOf, (dead) => {
        deaths.push(dead);
        serverDied.abort();
      })
    : () => {};
  const stop = AbortSignal.any([cancelled, serverDied.signal]);
  const subprocess = execa(command.file, command.args, {
    env: command.env,
    reject: false,
    all: true,
    cwd: options.cwd ?? PROJECT_ROOT,
    maxBuffer: 256 * 1024 * 1024,
    ...(options.processGroup ? { detached: true } : { cancelSignal: stop }),
  });
  // Not awaited here: the output listener below must be attached before the first chunk can arrive.
  const recorded = subprocess.pid !== undefined ? recordTool(pidFile, subprocess.pid) : Promise.resolve();
  const tail: string[] = [];
  const progress = progressOfStage();
  const report = () => {
    const toolProgress = progress.current(Date.now());
    heartbeat({
      run: options.label,
      progress: tail[tail.length - 1]?.slice(0, 300) ?? 'starting',
      lastLines: tail.slice(-HEARTBEAT_LINES),
      ...(toolProgress ? { toolProgress } : {}),
    });
  };
  subprocess.all?.on('data', (chunk: Buffer) => {
    logStream.write(chunk);
    // Progress bars redraw with carriage returns: the last segment is the current state.
    const lines = chunk
      .toString('utf8')
      .split(/[\r\n]+/)
      .filter((line) => line.trim() !== '');
    if (lines.length === 0) return;
    tail.push(...lines);
    for (const line of options.progress ? lines : []) {
      const read = options.progress!(line);
      if (read) progress.offer({ ...read, text: `${options.label}: ${read.text}` });
    }
    tail.splice(0, Math.max(0, tail.length - EVIDENCE_LINES));
    report();
  });
  let timedOut = false;
  let groupEnded: Promise<void> | undefined;
  let timeout: NodeJS.Timeout | undefined;
  if (options.processGroup && subprocess.pid !== undefined) {
    const pid = subprocess.pid;
    const endGroup = () => {
      groupEnded ??= endProcessGroup(pid);
    };
    stop.addEventListener('abort', endGroup, { once: true });
    subprocess.once('exit', endGroup);
    if (options.timeoutMs !== undefined) {
      timeout = setTimeout(() => {
        timedOut = true;
        endGroup();
      }, options.timeoutMs);
    }
  }
  const result = await beatingWhile(
    subprocess.finally(() => {
      clearTimeout(timeout);
      stopWatching();
    }),
    report,
  );
  await groupEnded;
  await recorded;
  await forgetTool(pidFile);
  await new Promise((resolve) => logStream.end(resolve));
  const { exitCode, signal, durationMs } = result;
  log.info('tool finished', { run: options.label, exitCode, signal, durationMs, timedOut });
  if (cancelled.aborted) throw cancelled.reason ?? new Error(`${options.label} cancelled`);
  if (deaths.length > 0 && options.serversOf) {
    log.warn('server died while the tool ran', { run: options.label, containers: deaths });
    await assertServersRunning(options.serversOf, path.dirname(options.logFile), deaths);
  }
  return {
    stdout: String(result.stdout ?? ''),
    logFile: options.logFile,
    exitCode: result.exitCode,
    signal: result.signal,
    timedOut,
    tail,
  };
}

/** SIGTERM to the whole group, SIGKILL to what is left after the grace time; resolves when none is left. */
async function endProcessGroup(pid: number): Promise<void> {
  const signalGroup = (signal: NodeJS.Signals | 0): boolean => {
    try {
      process.kill(-pid, signal);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
      throw error;
    }
  };
  const goneWithin = async (ms: number) => {
    for (let waited = 0; waited < ms; waited += 100) {
      if (!signalGroup(0)) return true;
      await setTimeoutPromise(100);
    }
    return !signalGroup(0);
  };
  if (!signalGroup('SIGTERM') || (await goneWithin(GROUP_KILL_GRACE_MS))) return;
  signalGroup('SIGKILL');
  await goneWithin(GROUP_KILL_GRACE_MS);
}

/**
 * Runs a benchmark tool (see runLogged). Non-zero exit: ContainerExited if a server died, else ToolFailed
 * (retried).
 */
export async function runTool(command: Command, options: RunOptions & { workflowId: string }): Promise<ToolRun> {
  if (!existsSync(command.file)) {
    throw ApplicationFailure.create({
      type: FailureType.ToolMissing,
      message:
        `${command.file} is not installed on this worker's node; ` +
        'run scripts/setup.sh (or set VENV_DIR / BENCHMARK_DRIVER)',
    });
  }
  const result = await runLogged(command, { ...options, serversOf: options.workflowId });
  // A server that died mid-run explains any failure, and makes a "successful" run's numbers meaningless.
  await assertServersRunning(options.workflowId, path.dirname(options.logFile));
  if (result.exitCode !== 0) {
    const evidence: FailureEvidence = { title: options.label, lines: result.tail, file: options.logFile };
    throw ApplicationFailure.create({
      type: FailureType.ToolFailed,
      message:
        `${options.label} exited with ${result.exitCode ?? result.signal}; full output in ${options.logFile}\n` +
        `--- last lines ---\n${result.tail.join('\n')}`,
      details: [{ evidence: [evidence] }],
    });
  }
  return { stdout: result.stdout, logFile: options.logFile };
}
