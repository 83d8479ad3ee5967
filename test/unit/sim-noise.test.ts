import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveConfig } from '../../src/config/schema.js';
import { inputFromEnv } from '../../src/config/env.js';
import { describeDefect, parseDefect, parseNoisePercent, parseNoiseSeed } from '../../src/sim/defects.js';
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

describe('SIM_NOISE_PERCENT', () => {
  it('changes nothing at 0 %', () => {
    const noise = new GpuNoise(0, 42, 'lmcache');
    for (let i = 0; i < 20; i++) assert.equal(noise.nextFactor(), 1);
  });

  it('is reproducible from its seed, and each server draws its own stream', () => {
    const draws = (seed: number, stream: string) => {
      const noise = new GpuNoise(3, seed, stream);
      return Array.from({ length: 10 }, () => noise.nextFactor());
    };
    assert.deepEqual(draws(7, 'lmcache'), draws(7, 'lmcache'));
    assert.notDeepEqual(draws(7, 'lmcache'), draws(7, 'baseline'));
    assert.notDeepEqual(draws(7, 'lmcache'), draws(8, 'lmcache'));
  });

  it('spreads the factor by about the percent, one standard deviation, correlated from batch to batch', () => {
    const noise = new GpuNoise(3, 1, 'baseline');
    const factors = Array.from({ length: 20_000 }, () => noise.nextFactor());
    const mean = factors.reduce((a, b) => a + b, 0) / factors.length;
    const sd = Math.sqrt(factors.reduce((a, b) => a + (b - mean) ** 2, 0) / factors.length);
    assert.ok(Math.abs(mean - 1) < 0.005, `mean ${mean}`);
    assert.ok(Math.abs(sd - 0.03) < 0.004, `sd ${sd}`);
    const lagged = factors.slice(1).reduce((a, b, i) => a + (b - mean) * (factors[i] - mean), 0);
    assert.ok(lagged / (factors.length - 1) / sd ** 2 > 0.6, 'neighbouring batches move together');
  });

  it('is validated where it is read, and reaches the sim containers with the run seed', () => {
    assert.equal(parseNoisePercent(''), 0);
    assert.throws(() => parseNoisePercent('-1'), /SIM_NOISE_PERCENT="-1" must be a percent from 0 to 50/);
    assert.throws(() => parseNoiseSeed('1.5'), /SIM_NOISE_SEED="1.5"/);
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
        ...inputFromEnv({ SIM_NOISE_PERCENT: '3', RANDOM_SEED: '99', GREY_ZONE_PERCENT: '3', MAX_REPEATS: '0' }),
      },
      { workflowId: 'w' },
    );
    assert.deepEqual(simNoiseEnv(config), { SIM_NOISE_PERCENT: '3', SIM_NOISE_SEED: '99' });
    assert.deepEqual([config.greyZonePercent, config.maxRepeats], [3, 0]);
  });
});
