/** What every stage activity shares: its duration in the result or the failure, project paths, heartbeats. */
import { activityInfo, ApplicationFailure, CancelledFailure } from '@temporalio/activity';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** This project's root: dist/src/activities/ is three levels below it. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Resolves a path knob on the worker's node: `~` is the home directory, relative means relative to the project. */
export function resolveNodePath(value: string): string {
  if (value === '~' || value.startsWith('~/')) return path.join(homedir(), value.slice(1));
  return path.resolve(PROJECT_ROOT, value);
}

export interface Timed {
  durationMs: number;
  /** Which attempt this was: above 1 when the stage was retried. */
  attempt: number;
}

/**
 * Wraps a stage activity so that its duration and attempt number reach the workflow whatever happens: in
 * the result, or in the failure's details. Workflows must not read clocks, so stages time themselves.
 */
export function timed<A extends unknown[], R extends object>(fn: (...args: A) => Promise<R>) {
  return async (...args: A): Promise<R & Timed> => {
    const started = performance.now();
    try {
      const result = await fn(...args);
      return { ...result, durationMs: Math.round(performance.now() - started), attempt: activityInfo().attempt };
    } catch (error) {
      if (error instanceof CancelledFailure) throw error;
      const durationMs = Math.round(performance.now() - started);
      const err = error as Error;
      const failure = error instanceof ApplicationFailure ? error : undefined;
      throw ApplicationFailure.create({
        type: failure?.type ?? err.name ?? 'Error',
        message: err.message,
        nonRetryable: failure?.nonRetryable ?? false,
        details: [
          { ...((failure?.details?.[0] as object | undefined) ?? {}), durationMs, attempt: activityInfo().attempt },
        ],
      });
    }
  };
}
