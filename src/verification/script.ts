/** The check of a script stage: like the reference orchestrator, exit 0 passes and anything else fails. */
import type { Check } from '../report/types.js';

const DETAIL_LINES = 3;
const DETAIL_LINE_CHARS = 200;

export interface ScriptEnd {
  exitCode?: number;
  signal?: string;
  timedOut: boolean;
  /** The script's latest output lines, oldest first. */
  tail: string[];
  logFile: string;
  timeoutMinutes: number;
}

/** `<stage>.exit_code`: the exit code (or the signal that ended the script) against the limit 0. */
export function exitCodeCheck(stage: string, end: ScriptEnd): Check {
  const passed = !end.timedOut && end.exitCode === 0;
  const lastLines = end.tail
    .slice(-DETAIL_LINES)
    .map((line) => JSON.stringify(line.trim().slice(0, DETAIL_LINE_CHARS)))
    .join(' ');
  const how = end.timedOut
    ? `killed after SCRIPT_TIMEOUT_MINUTES=${end.timeoutMinutes}`
    : end.exitCode !== undefined
      ? `exited with ${end.exitCode}`
      : `ended by ${end.signal ?? 'an unknown cause'}`;
  return {
    name: `${stage}.exit_code`,
    passed,
    value: end.exitCode ?? end.signal ?? null,
    limit: 0,
    detail: `${how}; last lines: ${lastLines || '(no output)'}; full output in ${end.logFile}`,
  };
}
