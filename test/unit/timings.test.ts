/** The orchestration overhead scripts/bench-sim.sh prints, on recorded histories of real sim runs. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  activityHandoffsMs,
  orchestrationOverheadMs,
  renderOrchestrationComparison,
} from '../../src/client/timings.js';
import type { RunReport } from '../../src/report/types.js';

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

describe('hand-over per activity', () => {
  it('names every started activity in order, each hand-over a part of the overhead', () => {
    const history = events('sim-placed-pass');
    const handoffs = activityHandoffsMs(history);
    assert.deepEqual(
      handoffs.slice(0, 3).map((h) => h.activity),
      ['claimNode', 'buildImage', 'leaseResources'],
    );
    assert.ok(handoffs.every((h) => h.ms >= 0));
    const sum = handoffs.reduce((total, h) => total + h.ms, 0);
    assert.ok(sum <= orchestrationOverheadMs(history), `${sum} ms of hand-overs`);
  });

  it('puts two runs side by side with their ratio', () => {
    const run = (label: string) => ({ label, events: events('sim-placed-pass'), report: {} as RunReport });
    const table = renderOrchestrationComparison(run('dev-server'), run('cluster')).split('\n');
    assert.match(table[0]!, /dev-server\s+cluster\s+ratio/);
    assert.match(
      table.find((line) => line.startsWith('hand-over buildImage'))!,
      /1\.00x$/,
    );
    assert.match(table.at(-1)!, /^orchestration overhead\s+\d+\s+\d+\s+1\.00x$/);
  });
});
