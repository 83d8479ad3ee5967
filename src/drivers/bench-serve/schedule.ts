/** When each request is sent. */
import { PyRandom } from '../py-random.js';

/**
 * vllm's arrival schedule with burstiness 1: exponential gaps, rescaled so the last request arrives at
 * exactly num_prompts / rate seconds; an infinite rate sends everything at once.
 */
export function arrivalOffsetsMs(seed: number, count: number, rate: number): number[] {
  if (rate === Number.POSITIVE_INFINITY) return new Array<number>(count).fill(0);
  const rng = new PyRandom(seed);
  const cumulative: number[] = [];
  let total = 0;
  for (let i = 0; i < count; i++) {
    total += -Math.log(1 - rng.random()) / rate;
    cumulative.push(total);
  }
  const scale = total > 0 ? count / rate / total : 0;
  return cumulative.map((t) => t * scale * 1000);
}
