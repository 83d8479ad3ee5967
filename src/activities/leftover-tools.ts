/**
 * A tool that a lost attempt left running. When a worker dies alone (`kill -9` of its pid, not of its process group or
 * cgroup), the benchmark tool it had started goes on sending requests to the servers, and a retried attempt on the
 * restarted worker would measure beside it. So each run of a tool records its pid, with the process's start time, next
 * to its log, and the next run of the same tool ends the recorded process first if it is still that process.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

interface RecordedTool {
  pid: number;
  startTime: string;
}

const GONE_WITHIN_MS = 5000;

/** The process's start time in clock ticks since boot (/proc/<pid>/stat, field 22); undefined once it is gone. */
async function startTimeOf(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

export async function recordTool(pidFile: string, pid: number): Promise<void> {
  const startTime = await startTimeOf(pid);
  if (startTime === undefined) return;
  await writeFile(pidFile, JSON.stringify({ pid, startTime } satisfies RecordedTool));
}

export async function forgetTool(pidFile: string): Promise<void> {
  await rm(pidFile, { force: true });
}

/**
 * Ends the process `pidFile` records if it still runs (the same pid and start time, so never a process that merely
 * got the pid again), with its process group when it leads one. Resolves to its pid, or undefined when none ran.
 */
export async function endLeftoverTool(pidFile: string): Promise<number | undefined> {
  let recorded: RecordedTool;
  try {
    recorded = JSON.parse(await readFile(pidFile, 'utf8')) as RecordedTool;
  } catch {
    return undefined;
  }
  await forgetTool(pidFile);
  if ((await startTimeOf(recorded.pid)) !== recorded.startTime) return undefined;
  for (const target of [-recorded.pid, recorded.pid]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch (error) {
      // ESRCH: no process group of that id (the tool led none), or already gone.
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }
  for (let waited = 0; waited < GONE_WITHIN_MS; waited += 50) {
    if ((await startTimeOf(recorded.pid)) !== recorded.startTime) break;
    await sleep(50);
  }
  return recorded.pid;
}
