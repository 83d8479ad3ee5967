/**
 * CPython's `random` module generator (MT19937 seeded through init_by_array), so that a seed given to a
 * builtin driver orders things exactly as the upstream Python tool would with the same seed:
 * long_doc_qa.py's `random.seed(shuffle_seed); random.shuffle(prompts)` gives the same query order here.
 */
const N = 624;
const M = 397;

export class PyRandom {
  private readonly mt = new Uint32Array(N);
  private index = N;

  /** Like `random.seed(n)` for an integer n (CPython seeds with the 32-bit words of |n|). */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
    let rest = Math.abs(seed);
    const key: number[] = [];
    do {
      key.push(rest % 0x1_0000_0000);
      rest = Math.floor(rest / 0x1_0000_0000);
    } while (rest > 0);
    this.initByArray(key);
  }

  private initGenrand(s: number): void {
    const mt = this.mt;
    mt[0] = s >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.index = N;
  }

  private initByArray(key: readonly number[]): void {
    const mt = this.mt;
    this.initGenrand(19650218);
    let i = 1;
    let j = 0;
    for (let k = Math.max(N, key.length); k > 0; k--) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      mt[i] = ((mt[i]! ^ Math.imul(prev, 1664525)) + key[j]! + j) >>> 0;
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1]!;
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      mt[i] = ((mt[i]! ^ Math.imul(prev, 1566083941)) - i) >>> 0;
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1]!;
        i = 1;
      }
    }
    mt[0] = 0x8000_0000;
  }

  private twist(): void {
    const mt = this.mt;
    for (let kk = 0; kk < N; kk++) {
      const y = (mt[kk]! & 0x8000_0000) | (mt[(kk + 1) % N]! & 0x7fff_ffff);
      mt[kk] = mt[(kk + M) % N]! ^ (y >>> 1) ^ (y & 1 ? 0x9908_b0df : 0);
    }
    this.index = 0;
  }

  /** One 32-bit output, as `random.getrandbits(32)`. */
  uint32(): number {
    if (this.index >= N) this.twist();
    let y = this.mt[this.index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c_5680;
    y ^= (y << 15) & 0xefc6_0000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** `random.random()`: 53 random bits in [0, 1). */
  random(): number {
    const a = this.uint32() >>> 5;
    const b = this.uint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** `random._randbelow(n)` for 1 <= n < 2**32: rejection sampling on bit_length(n) bits. */
  below(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 0xffff_ffff) throw new RangeError(`below(${n})`);
    const shift = 32 - n.toString(2).length;
    let r = this.uint32() >>> shift;
    while (r >= n) r = this.uint32() >>> shift;
    return r;
  }

  /** `random.shuffle(items)`, in place. */
  shuffle<T>(items: T[]): void {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
  }
}
