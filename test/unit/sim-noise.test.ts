import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveConfig } from '../../src/config/schema.js';
import { inputFromEnv } from '../../src/config/env.js';
import {
  describeDefect,
  parseDefect,
  parseNoisePercent,
  parseNoiseSeconds,
  parseNoiseSeed,
} from '../../src/sim/defects.js';
import { GpuNoise } from '../../src/sim/noise.js';
import { simNoiseEnv } from '../../src/commands/containers.js';

describe('defect strengths', () => {
  it('reads slow-store:<percent> and slow-load:<ms>, and keeps the plain forms as they were', () => {
    assert.deepEqual(parseDefect('slow-store:8'), { kind: 'slow-store', percent: 8 });
    assert.deepEqual(parseDefect('slow-load:12.5'), { kind: 'slow-load', ms: 12.5 });
    assert.deepEqual(parseDefect('slow-store'), { kind: 'slow-store' });
    assert.deepEqual(parseDefect('slow-load'), { kind: 'slow-load' });
    for (const text of ['slow-store:8', 'slow-load:12.5', 'slow-store', 'crash-after:3']) {
      assert.equal(describeDefect(parseDefect(text)), text);
    }
  });

  it('refuses strengths that make no sense, naming the allowed forms', () => {
    for (const text of ['slow-store:0', 'slow-store:100', 'slow-load:0', 'slow-load:-1', 'slow-store:x']) {
      assert.throws(() => parseDefect(text), /slow-store:PERCENT \(0 < PERCENT < 100\)/, text);
    }
    assert.throws(
      () => resolveConfig({ profile: 'sim', simDefect: 'slow-store:100' }, { workflowId: 'w' }),
      /simDefect: must be one of .*\(got "slow-store:100"\)/,
    );
  });
});

/** A clock that moves `step` seconds at every reading: batches that far apart. */
function steppingClock(step: number): () => number {
  let now = 0;
  return () => (now += step);
}

/** Correlation of neighbouring values. */
function lagOneCorrelation(values: readonly number[]): number {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
  const lagged = values.slice(1).reduce((a, b, i) => a + (b - mean) * (values[i] - mean), 0);
  return lagged / (values.length - 1) / variance;
}

describe('SIM_NOISE_PERCENT', () => {
  it('changes nothing at 0 %', () => {
    const noise = new GpuNoise(0, 42, 'lmcache', 1);
    for (let i = 0; i < 20; i++) assert.equal(noise.nextFactor(), 1);
  });

  it('is reproducible from its seed, and each server draws its own stream', () => {
    const draws = (seed: number, stream: string) => {
      const noise = new GpuNoise(3, seed, stream, 1, steppingClock(0.2));
      return Array.from({ length: 10 }, () => noise.nextFactor());
    };
    assert.deepEqual(draws(7, 'lmcache'), draws(7, 'lmcache'));
    assert.notDeepEqual(draws(7, 'lmcache'), draws(7, 'baseline'));
    assert.notDeepEqual(draws(7, 'lmcache'), draws(8, 'lmcache'));
  });

  it('spreads the factor by about the percent, one standard deviation, correlated between close batches', () => {
    const noise = new GpuNoise(3, 1, 'baseline', 1, steppingClock(0.2));
    const factors = Array.from({ length: 20_000 }, () => noise.nextFactor());
    const mean = factors.reduce((a, b) => a + b, 0) / factors.length;
    const sd = Math.sqrt(factors.reduce((a, b) => a + (b - mean) ** 2, 0) / factors.length);
    assert.ok(Math.abs(mean - 1) < 0.005, `mean ${mean}`);
    assert.ok(Math.abs(sd - 0.03) < 0.004, `sd ${sd}`);
    // 0.2 s apart with τ = 1 s: exp(−0.2) ≈ 0.82 of the deviation carries over.
    const correlation = lagOneCorrelation(factors);
    assert.ok(Math.abs(correlation - Math.exp(-0.2)) < 0.03, `correlation ${correlation}`);
  });

  it('goes on while the server is idle: batches far apart in time are nearly independent', () => {
    const apart = (seconds: number) => {
      const noise = new GpuNoise(3, 5, 'lmcache', 1, steppingClock(seconds));
      return lagOneCorrelation(Array.from({ length: 20_000 }, () => noise.nextFactor()));
    };
    assert.ok(Math.abs(apart(5)) < 0.05, `5 s apart: ${apart(5)}`);
    assert.ok(apart(0.05) > 0.9, `50 ms apart: ${apart(0.05)}`);
  });

  it('is validated where it is read, and reaches the sim containers with the run seed', () => {
    assert.equal(parseNoisePercent(''), 0);
    assert.throws(() => parseNoisePercent('-1'), /SIM_NOISE_PERCENT="-1" must be a percent from 0 to 50/);
    assert.throws(() => parseNoiseSeed('1.5'), /SIM_NOISE_SEED="1.5"/);
    assert.equal(parseNoiseSeconds(undefined), 1);
    assert.throws(() => parseNoiseSeconds('0'), /SIM_NOISE_SECONDS="0" must be a number of seconds from 0.01 to 3600/);
    assert.throws(
      () => inputFromEnv({ SIM_NOISE_PERCENT: 'lots' }),
      /SIM_NOISE_PERCENT: expected a number, got "lots"/,
    );
    assert.throws(
      () => resolveConfig({ profile: 'sim', simNoisePercent: 60 }, { workflowId: 'w' }),
      /simNoisePercent: .*\(got 60\)/,
    );
    const config = resolveConfig(
      {
        profile: 'sim',
        ...inputFromEnv({
          SIM_NOISE_PERCENT: '3',
          SIM_NOISE_SECONDS: '30',
          RANDOM_SEED: '99',
          GREY_ZONE_PERCENT: '5',
          MAX_REPEATS: '0',
        }),
      },
      { workflowId: 'w' },
    );
    assert.deepEqual(simNoiseEnv(config), { SIM_NOISE_PERCENT: '3', SIM_NOISE_SECONDS: '30', SIM_NOISE_SEED: '99' });
    assert.deepEqual([config.greyZonePercent, config.maxRepeats], [5, 0]);
  });
});
