/** A tool a lost attempt left running is ended before the next run of the same tool, and nothing else is. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { endLeftoverTool, recordTool } from '../../src/activities/leftover-tools.js';
import { runLogged, type ProcessOutcome } from '../../src/activities/run-tool.js';

/** A stand-in for a benchmark tool whose worker died: a process of its own group that would run for minutes. */
function orphanedTool(): ChildProcess {
  return spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
}

const alive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;
/** Whether the process has exited within `ms`, by the signal it got. */
const endedBy = (child: ChildProcess, ms = 2000) =>
  new Promise<NodeJS.Signals | null | 'running'>((resolve) => {
    if (!alive(child)) return resolve(child.signalCode);
    const timer = setTimeout(() => resolve('running'), ms);
    child.once('exit', (_code, signal) => {
      clearTimeout(timer);
      resolve(signal);
    });
  });

describe('tools left running by a lost attempt', () => {
  let dir: string;
  const children: ChildProcess[] = [];
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'leftover-'));
  });
  after(async () => {
    for (const child of children) if (alive(child)) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('ends the recorded tool that still runs, and forgets it', async () => {
    const tool = orphanedTool();
    children.push(tool);
    const pidFile = path.join(dir, 'first.log.pid');
    await recordTool(pidFile, tool.pid!);
    assert.equal(await endLeftoverTool(pidFile), tool.pid);
    assert.equal(await endedBy(tool), 'SIGKILL');
    assert.equal(existsSync(pidFile), false);
  });

  it('leaves alone a process that only has the recorded pid now', async () => {
    const other = orphanedTool();
    children.push(other);
    const pidFile = path.join(dir, 'reused.log.pid');
    await recordTool(pidFile, other.pid!);
    const recorded = JSON.parse(await readFile(pidFile, 'utf8')) as { pid: number; startTime: string };
    await writeFile(pidFile, JSON.stringify({ ...recorded, startTime: String(Number(recorded.startTime) - 1) }));
    assert.equal(await endLeftoverTool(pidFile), undefined);
    assert.equal(await endedBy(other, 300), 'running');
  });

  it('ends a leftover before the tool runs again, and records no pid once the run is over', async () => {
    const leftover = orphanedTool();
    children.push(leftover);
    const logFile = path.join(dir, 'lm_eval', 'first_run.log');
    await mkdir(path.dirname(logFile), { recursive: true });
    await recordTool(`${logFile}.pid`, leftover.pid!);
    const secondAttempt = () => runLogged({ file: 'echo', args: ['second attempt'] }, { label: 'lm_eval', logFile });
    const outcome = (await new MockActivityEnvironment().run(secondAttempt)) as ProcessOutcome;
    assert.equal(outcome.exitCode, 0);
    assert.equal(await endedBy(leftover), 'SIGKILL');
    assert.equal(existsSync(`${logFile}.pid`), false);
    assert.match(await readFile(logFile, 'utf8'), /second attempt/);
  });
});
