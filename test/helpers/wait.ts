/** Waiting in tests: poll a condition until a deadline, never a fixed sleep that is too short on a loaded machine. */
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Resolves to the first value `look` gives that is neither undefined nor false, polling every `everyMs`; throws
 * naming `what` once `withinMs` have passed. `look` may throw to stop the wait (say, the run ended first).
 */
export async function waitFor<T>(
  what: string,
  look: () => Promise<T | undefined | false> | T | undefined | false,
  { withinMs, everyMs = 250 }: { withinMs: number; everyMs?: number },
): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const value = await look();
    if (value !== undefined && value !== false) return value;
    if (Date.now() >= deadline) throw new Error(`${what}: not within ${withinMs / 1000} s`);
    await sleep(everyMs);
  }
}
