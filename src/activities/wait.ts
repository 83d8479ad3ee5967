/**
 * The one way a stage waits for something (servers healthy, a port open, GPUs free): look, and either
 * stop with a value or heartbeat what is still awaited and sleep, until a deadline. The sleep ends early
 * when the activity is cancelled, so a cancelled wait stops within one heartbeat.
 */
import { heartbeat, sleep } from '@temporalio/activity';

/** One look: `done` ends the wait with `value`; otherwise `waitingFor` is what is still awaited. */
export type Look<T, W> = { done: true; value: T } | { done: false; waitingFor: W };

export interface WaitOptions<T, W> {
  timeoutMs: number;
  intervalMs: number;
  /** Throwing from here ends the wait with that error (a container that stopped, say). */
  look: () => Promise<Look<T, W>>;
  /** Called once the deadline has passed; `waitingFor` is from the last look. It must throw. */
  onTimeout: (waitingFor: W) => Promise<never> | never;
}

export async function waitUntil<T, W>(options: WaitOptions<T, W>): Promise<T> {
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  for (;;) {
    const result = await options.look();
    if (result.done) return result.value;
    if (Date.now() >= deadline) return options.onTimeout(result.waitingFor);
    heartbeat({ waitedSeconds: Math.round((Date.now() - started) / 1000), waitingFor: result.waitingFor });
    await sleep(options.intervalMs);
  }
}
