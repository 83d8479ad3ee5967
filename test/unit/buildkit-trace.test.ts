/** BuildKit's progress as the Docker engine streams it, decoded: a recorded trace of a build whose RUN step fails. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { BuildkitProgress, decodeTrace } from '../../src/docker/buildkit-trace.js';

// Recorded from this machine's engine (Docker 20.10, API version '2' build) for a Dockerfile whose only
// RUN step prints "step output line" and exits 3.
const EVENTS = readFileSync(new URL('../../../test/fixtures/buildkit/failed-run-step.jsonl', import.meta.url), 'utf8')
  .trim()
  .split('\n')
  .map((line) => JSON.parse(line) as { id?: string; aux?: string; error?: string });

describe('BuildKit trace decoding', () => {
  it('decodes a trace message into vertexes with names', () => {
    const first = EVENTS.find((event) => event.id === 'moby.buildkit.trace')!;
    const status = decodeTrace(first.aux!);
    assert.ok(status.vertexes.length > 0);
    assert.match(status.vertexes[0].name, /^\[internal\]/);
  });

  it("turns a build's trace into numbered plain-progress lines with the step's own output and its error", () => {
    const progress = new BuildkitProgress();
    for (const event of EVENTS) if (event.id === 'moby.buildkit.trace') progress.add(event.aux!);
    const run = progress.lines.find((line) => /RUN \["\/usr\/bin\/node"/.test(line));
    assert.ok(run, progress.lines.join('\n'));
    const number = /^#(\d+) /.exec(run)![1];
    assert.ok(progress.lines.includes(`#${number} step output line`), progress.lines.join('\n'));
    assert.ok(
      progress.lines.some((line) => line.startsWith(`#${number} ERROR: `) && /exit code: 3/.test(line)),
      progress.lines.join('\n'),
    );
    const steps = progress.stepStates();
    assert.ok(steps.some((step) => /RUN/.test(step.name) && /exit code: 3/.test(step.error)));
    assert.match(progress.currentStep(), /^#\d+ /);
    assert.ok(
      EVENTS.some((event) => event.error),
      'the engine also reports the error as a plain event',
    );
  });
});
