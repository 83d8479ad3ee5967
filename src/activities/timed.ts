/** What every stage activity shares: its duration and attempt number, in its result or its failure. */
import { activityInfo, ApplicationFailure, CancelledFailure } from '@temporalio/activity';

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
