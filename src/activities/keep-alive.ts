/**
 * A long step that may print nothing for minutes (a BuildKit compile, pip fetching torch, a model warming up)
 * still heartbeats: stages keep their heartbeat timeouts short so that a lost worker is noticed soon, and
 * cancellation reaches an activity with its heartbeats.
 */
export const KEEP_ALIVE_INTERVAL_MS = 5000;

/** Calls `beat` every `intervalMs` until `work` settles; resolves or rejects as `work` does. */
export async function beatingWhile<T>(
  work: Promise<T>,
  beat: () => void,
  intervalMs = KEEP_ALIVE_INTERVAL_MS,
): Promise<T> {
  const ticker = setInterval(beat, intervalMs);
  try {
    return await work;
  } finally {
    clearInterval(ticker);
  }
}
