/**
 * SIM_NOISE_PERCENT: a node's interference, modelled as a factor on each batch's modelled GPU time. Drawn per
 * batch from a seeded generator (SIM_NOISE_SEED, recorded in the report) and correlated from batch to batch
 * (NOISE_BATCH_CORRELATION); each server draws its own stream. At 0 % the factor is exactly 1.
 */
import { NOISE_BATCH_CORRELATION } from './cost-model.js';
import { normalDraw, seededRandom } from './seeded-random.js';

/** A factor never below this: even a very noisy batch takes some time. */
const MIN_FACTOR = 0.2;

export class GpuNoise {
  private readonly random: () => number;
  private deviation = 0;

  constructor(
    private readonly percent: number,
    seed: number,
    /** Which server this is, so the baseline and the LMCache server on one seed draw different streams. */
    stream: string,
  ) {
    let mixed = seed >>> 0;
    for (let i = 0; i < stream.length; i++) mixed = Math.imul(mixed ^ stream.charCodeAt(i), 16777619) >>> 0;
    this.random = seededRandom(mixed);
    // The first batch starts from the process's steady state, not from no interference.
    this.deviation = normalDraw(this.random);
  }

  /** The factor for the next batch: 1 plus percent/100 standard deviations of the correlated draw. */
  nextFactor(): number {
    if (this.percent === 0) return 1;
    const rho = NOISE_BATCH_CORRELATION;
    this.deviation = rho * this.deviation + Math.sqrt(1 - rho * rho) * normalDraw(this.random);
    return Math.max(MIN_FACTOR, 1 + (this.percent / 100) * this.deviation);
  }
}
