/** The orchestration overhead scripts/bench-sim.sh prints, on recorded histories of real sim runs. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { orchestrationOverheadMs } from '../../src/client/timings.js';

function events(name: string) {
  const url = new URL(`../../../test/fixtures/histories/${name}.json`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')).events;
}

describe('orchestration overhead', () => {
  it("is the run's time outside its activities, a small part of its wall time", () => {
    const history = events('sim-pass');
    const wall = Date.parse(history.at(-1).eventTime) - Date.parse(history[0].eventTime);
    const overhead = orchestrationOverheadMs(history);
    assert.ok(overhead > 0 && overhead < wall / 10, `${overhead} ms of ${wall} ms`);
  });

  it('does not count the wait for a worker to pick the run up', () => {
    // Recorded with the run started while its worker was still starting: its first workflow task began 14 s late.
    const history = events('follow-sim-pass');
    const pickedUp = history.find((event: { eventType: string }) => event.eventType.endsWith('WORKFLOW_TASK_STARTED'));
    assert.ok(Date.parse(pickedUp.eventTime) - Date.parse(history[0].eventTime) > 10_000);
    assert.ok(orchestrationOverheadMs(history) < 10_000);
  });
});
