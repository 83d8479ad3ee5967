/**
 * Determinism guard: histories recorded from real sim runs (`temporal workflow show --output json`) must
 * replay against the current workflow code. A change that alters the commands a recorded run issued fails
 * here before it can break runs in flight. Record new ones with scripts/bench-sim.sh (.run/history-*.json).
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../helpers/temporal.js';

const HISTORIES = fileURLToPath(new URL('../../../test/fixtures/histories/', import.meta.url));

describe('recorded histories replay', { timeout: 120_000 }, async () => {
  const files = (await readdir(HISTORIES)).filter((file) => file.endsWith('.json'));
  it('has recorded histories to replay', () => assert.ok(files.length >= 2, files.join(', ')));
  for (const file of files) {
    it(file, async () => {
      const history = JSON.parse(await readFile(`${HISTORIES}${file}`, 'utf8'));
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, file);
    });
  }
});
