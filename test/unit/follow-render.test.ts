/**
 * What `cli.js follow` prints for recorded histories of real sim runs (test/fixtures/histories, recorded with
 * `temporal workflow show --output json`): a passing run, a run failing a check, a run held and retried with an
 * override, a run whose worker was killed during a stage. The live part (describe's heartbeats) is covered by
 * test/e2e/follow.test.ts on real runs.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import {
  exitCodeOf,
  FollowView,
  RunTracker,
  viewKind,
  type HistoryEvent,
  type Note,
  type ViewKind,
} from '../../src/client/follow-render.js';

function notesOf(name: string, edit: (json: { events: Record<string, any>[] }) => void = () => {}): Note[] {
  const json = JSON.parse(
    readFileSync(new URL(`../../../test/fixtures/histories/${name}.json`, import.meta.url), 'utf8'),
  );
  edit(json);
  const tracker = new RunTracker();
  return (historyFromJSON(json).events as HistoryEvent[]).flatMap((event) => tracker.onEvent(event));
}

function render(notes: Note[], kind: ViewKind): string {
  let out = '';
  const view = new FollowView(kind, (text) => (out += text), '127.0.0.1:7233');
  view.show(notes);
  view.close();
  return out;
}

function runEnd(notes: Note[]) {
  const end = notes.find((note) => note.kind === 'run-end');
  assert.ok(end && end.kind === 'run-end');
  return end;
}

const STAGES = ['build', 'select_gpus', 'launch', 'health', 'lm_eval', 'vllm_bench', 'long_doc_qa', 'cleanup'];

describe('follow: a run as its history tells it', () => {
  const passed = notesOf('follow-sim-pass');

  it('prints a start and an end line with times for every stage, in order, and the BuildKit steps', () => {
    const out = render(passed, 'plain');
    let from = 0;
    for (const stage of STAGES) {
      const start = out.indexOf(`${stage} started: `, from);
      assert.ok(start >= from, `${stage} starts after the stage before it:\n${out}`);
      const end = out.indexOf(`${stage} passed in `, start);
      assert.ok(end > start, `${stage} ends:\n${out}`);
      from = end;
    }
    assert.match(out, /^\[\+0:\d\d\] build started: build lmcache-mp-sim:follow \(attempt 1 of 3, node vm\)$/m);
    assert.match(out, /^\[\+\d+:\d\d\] lm_eval passed in \d+\.\d s$/m);
    assert.match(out, /^\[\+\d+:\d\d\] build: #\d+ \[sim \d\/\d\] COPY /m, 'BuildKit step lines');
    assert.match(out, /^\[\+\d+:\d\d\] run completed \(verdict passed\)$/m);
    assert.doesNotMatch(out, /[\x00-\x09\x0b-\x1f]/, 'a pipe gets no control characters');
    assert.equal(exitCodeOf(runEnd(passed)), 0);
  });

  it("says when the build found its commit's image instead of building", () => {
    // The recorded run, its build's result replaced by what a build of a commit with an image returns.
    const skipped = notesOf('follow-sim-pass', (json) => {
      const payload = (data: unknown) => Buffer.from(JSON.stringify(data)).toString('base64');
      const completions = json.events.filter((event) => event.activityTaskCompletedEventAttributes);
      const build = completions.find((event) =>
        Buffer.from(event.activityTaskCompletedEventAttributes.result.payloads[0].data, 'base64')
          .toString()
          .includes('"steps"'),
      )!;
      const result = { image: 'lmcache-mp-sim:4187024ba4df', steps: [], skipped: 'image for 4187024ba4df exists' };
      build.activityTaskCompletedEventAttributes.result.payloads[0].data = payload({ ...result, durationMs: 560 });
    });
    const out = render(skipped, 'plain');
    assert.match(out, /^\[\+0:\d\d\] build: image for 4187024ba4df exists\n\[\+0:\d\d\] build passed in 0\.6 s$/m);
    assert.doesNotMatch(render(passed, 'plain'), /exists/);
  });

  it('gives Buildkite one --- section per stage and GitHub Actions one group per stage', () => {
    const buildkite = render(passed, 'buildkite');
    assert.deepEqual(
      buildkite.split('\n').filter((line) => line.startsWith('--- ')),
      STAGES.map(
        (stage) =>
          `--- ${{ build: ':hammer:', select_gpus: ':desktop_computer:', launch: ':rocket:', health: ':stethoscope:', lm_eval: ':abacus:', vllm_bench: ':racing_car:', long_doc_qa: ':page_facing_up:', cleanup: ':broom:' }[stage]} ${stage}`,
      ),
    );
    assert.doesNotMatch(buildkite, /\^\^\^ \+\+\+/, 'no section is opened when all passed');
    const github = render(passed, 'github').split('\n');
    assert.deepEqual(
      github.filter((line) => line.startsWith('::group::')),
      STAGES.map((stage) => `::group::${stage}`),
    );
    assert.equal(github.filter((line) => line === '::endgroup::').length, STAGES.length);
    assert.ok(!github.some((line) => line.startsWith('::error')));
  });

  // Recorded before checks came back as data: the stage failed as BenchmarkCheckFailed, its message naming the check.
  it('names the failed check, opens its Buildkite section and annotates it on GitHub; the run exits 1', () => {
    const failed = notesOf('sim-slow-store-checks-failed');
    const out = render(failed, 'plain');
    assert.match(out, /^\[\+\d+:\d\d\] vllm_bench FAILED in \d+\.\d s: .*vllm_bench\.throughput failed/m);
    assert.match(render(failed, 'buildkite'), /vllm_bench FAILED[^\n]*\n\^\^\^ \+\+\+\n/);
    assert.match(render(failed, 'github'), /^::error title=vllm_bench::.*vllm_bench\.throughput failed/m);
    assert.equal(exitCodeOf(runEnd(failed)), 1);
  });

  it('sees the hold, the stage run again and the verdict passed with overrides: exit 3', () => {
    const held = notesOf('sim-held-retried');
    assert.ok(held.some((note) => note.kind === 'state' && note.state === 'held'));
    const longDocQaStarts = held.filter((note) => note.kind === 'start' && note.stage === 'long_doc_qa');
    assert.equal(longDocQaStarts.length, 2, 'the first run and the retry');
    const out = render(held, 'plain');
    assert.match(out, /^\[\+\d+:\d\d\] run: retryStage \{"stage":"long_doc_qa","config":\{"maxLmcacheTtft":0\.1\}\}$/m);
    assert.equal(exitCodeOf(runEnd(held)), 3);
  });

  it('shows an automatic retry with the failure that caused it (the worker was killed during lm_eval)', () => {
    const out = render(notesOf('follow-sim-worker-killed'), 'plain');
    const retry = out.search(/^\[\+\d+:\d\d\] lm_eval: attempt 1 failed, retrying: activity Heartbeat timeout$/m);
    const second = out.search(/^\[\+\d+:\d\d\] lm_eval started: .*\(attempt 2 of 3, node \S+\)$/m);
    assert.ok(retry > 0 && second > retry, out);
    assert.match(out, /^\[\+\d+:\d\d\] lm_eval passed in /m);
  });

  it('chooses the view from the CI system, else the terminal', () => {
    assert.equal(viewKind({ BUILDKITE: 'true' }, true), 'buildkite');
    assert.equal(viewKind({ GITHUB_ACTIONS: 'true' }, false), 'github');
    assert.equal(viewKind({}, true), 'terminal');
    assert.equal(viewKind({}, false), 'plain');
  });
});
