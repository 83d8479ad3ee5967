/**
 * The bisect's range over the candidate commits, indexed 0..n-1 oldest first: index n-1 is the `bad` end (known
 * bad), index -1 the `good` end (known good). Each round probes k commits inside the range and keeps the part
 * where good turns bad. Pure: the workflow bundle imports it.
 */

/** The first bad commit is in (lastGood, firstBad]: `firstBad - lastGood` candidates are left. */
export interface RangeState {
  lastGood: number;
  firstBad: number;
}

/** A probe's decided outcome at a candidate's index (infrastructure failures never reach the range). */
export interface ProbeResult {
  index: number;
  bad: boolean;
}

export interface Narrowed {
  state: RangeState;
  /**
   * Results that contradict "good, then bad from one commit on": a good at or above a bad (the bad end
   * included), or a bad at or below the last good. The range is kept as the bad results say; the report names
   * these commits so a person can look at them.
   */
  nonMonotonic: ProbeResult[];
}

export function initialRange(candidates: number): RangeState {
  if (!Number.isInteger(candidates) || candidates < 1) {
    throw new RangeError(`a bisect needs at least one candidate commit, got ${candidates}`);
  }
  return { lastGood: -1, firstBad: candidates - 1 };
}

/** How many candidates may still be the first bad one (the known first bad included). */
export function candidatesLeft(state: RangeState): number {
  return state.firstBad - state.lastGood;
}

export function isDone(state: RangeState): boolean {
  return candidatesLeft(state) <= 1;
}

/**
 * Up to k indices strictly inside the range, splitting its candidates into parts whose sizes differ by at most
 * one, so whichever part holds the culprit, the next range is at most ⌈left ÷ (k+1)⌉. Fewer when fewer
 * candidates are unprobed; none when done.
 */
export function probePoints(state: RangeState, k: number): number[] {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`probes per round must be a whole number ≥ 1, got ${k}`);
  const left = candidatesLeft(state);
  const probes = Math.min(k, left - 1);
  const points: number[] = [];
  // floor(j·left/(probes+1)) for consecutive j differ by ⌊left/(probes+1)⌋ or one more, and by at least 1.
  for (let j = 1; j <= probes; j++) points.push(state.lastGood + Math.floor((j * left) / (probes + 1)));
  return points;
}

/** The range after a round, assuming good turns bad once: the smallest bad is the first bad, the largest good below it the last good. */
export function narrow(state: RangeState, results: ProbeResult[]): Narrowed {
  const firstBad = Math.min(
    state.firstBad,
    ...results.filter((r) => r.bad && r.index > state.lastGood).map((r) => r.index),
  );
  const lastGood = Math.max(state.lastGood, ...results.filter((r) => !r.bad && r.index < firstBad).map((r) => r.index));
  const nonMonotonic = results.filter((r) => (r.bad ? r.index <= state.lastGood : r.index >= firstBad));
  return { state: { lastGood, firstBad }, nonMonotonic };
}

/** Rounds a k-way bisect of n candidates needs at most: ⌈log_(k+1) n⌉, counted in integers to stay exact. */
export function roundsBound(n: number, k: number): number {
  let rounds = 0;
  for (let reach = 1; reach < n; reach *= k + 1) rounds++;
  return rounds;
}
