/**
 * SIM_NOISE_PERCENT: a node's interference, modelled as a factor on each batch's modelled GPU time. Drawn per
 * batch from a seeded generator (SIM_NOISE_SEED, recorded in the report); each server draws its own stream. The
 * interference goes on while the server is idle, as a neighbour's load does: a batch keeps exp(−Δt / τ) of the
 * last one's deviation, Δt the wall time since that batch and τ SIM_NOISE_SECONDS (an Ornstein–Uhlenbeck process
 * sampled at the batches). At 0 % the factor is exactly 1.
 */
import { normalDraw, seededRandom } from './seeded-random.js';

/** A factor never below this: even a very noisy batch takes some time. */
const MIN_FACTOR = 0.2;

export class GpuNoise {
  private readonly random: () => number;
  private deviation = 0;
  private lastDrawSeconds: number;

  constructor(
    private readonly percent: number,
    seed: number,
    /** Which server this is, so the baseline and the LMCache server on one seed draw different streams. */
    stream: string,
    /** τ: how long the interference lasts (the correlation time of the deviation). */
    private readonly correlationSeconds: number,
    /** Wall-clock seconds; a test passes its own clock. */
    private readonly nowSeconds: () => number = () => performance.now() / 1000,
  ) {
    let mixed = seed >>> 0;
    for (let i = 0; i < stream.length; i++) mixed = Math.imul(mixed ^ stream.charCodeAt(i), 16777619) >>> 0;
    this.random = seededRandom(mixed);
    // The first batch starts from the process's steady state, not from no interference.
    this.deviation = normalDraw(this.random);
    this.lastDrawSeconds = nowSeconds();
  }

  /** The factor for a batch starting now: 1 plus percent/100 standard deviations of the correlated draw. */
  nextFactor(): number {
    if (this.percent === 0) return 1;
    const now = this.nowSeconds();
    const rho = Math.exp(-Math.max(0, now - this.lastDrawSeconds) / this.correlationSeconds);
    this.lastDrawSeconds = now;
    this.deviation = rho * this.deviation + Math.sqrt(1 - rho * rho) * normalDraw(this.random);
    return Math.max(MIN_FACTOR, 1 + (this.percent / 100) * this.deviation);
  }
}
