/**
 * The leak search of the end-to-end tests finds a secret wherever a history can hold one: planted in a payload
 * and in the details of a failure's cause, it is invisible to a search of the CLI's raw JSON (base64) and found
 * once the history is decoded.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { defaultPayloadConverter } from '@temporalio/common';
import { payloadToJSON } from '@temporalio/common/lib/proto-utils.js';
import { decodedHistoryText, textsHolding, textsOfFiles } from '../helpers/decoded-history.js';

const TOKEN = `hf_planted_${process.pid}`;
/** Payloads as the CLI prints them: metadata and data in base64. */
const payload = (value: unknown) => payloadToJSON(defaultPayloadConverter.toPayload(value));
const payloads = (...values: unknown[]) => ({ payloads: values.map(payload) });

/** A history as `temporal workflow show -o json` prints it: a workflow start holding nothing secret, then `event`. */
function cliHistory(event: Record<string, unknown>): unknown {
  return {
    events: [
      {
        eventId: '1',
        eventType: 'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED',
        workflowExecutionStartedEventAttributes: {
          workflowType: { name: 'lmcacheMpTest' },
          input: payloads({ profile: 'sim' }),
          memo: { fields: { note: payload('nothing secret') } },
        },
      },
      { eventId: '2', ...event },
    ],
  };
}

describe('the decoded history search', () => {
  it('finds a token planted in an activity result, which the raw JSON hides in base64', () => {
    const history = cliHistory({
      eventType: 'EVENT_TYPE_ACTIVITY_TASK_COMPLETED',
      activityTaskCompletedEventAttributes: { result: payloads({ env: [`HF_TOKEN=${TOKEN}`] }) },
    });
    assert.ok(!JSON.stringify(history).includes(TOKEN), 'the raw JSON does not show it');
    assert.deepEqual(textsHolding(TOKEN, { history: decodedHistoryText(history) }), ['history']);
  });

  it("finds a token planted in the details of a failure's cause", () => {
    const history = cliHistory({
      eventType: 'EVENT_TYPE_ACTIVITY_TASK_FAILED',
      activityTaskFailedEventAttributes: {
        failure: {
          message: 'stage lm_eval failed',
          applicationFailureInfo: { type: 'StageFailed' },
          cause: {
            message: 'container exited',
            applicationFailureInfo: { type: 'ContainerExited', details: payloads({ logTail: `token ${TOKEN}` }) },
          },
        },
      },
    });
    assert.ok(!JSON.stringify(history).includes(TOKEN));
    assert.match(decodedHistoryText(history), new RegExp(`"logTail": "token ${TOKEN}"`));
  });

  it('finds nothing where nothing was planted, and names each text that holds the token', () => {
    const history = cliHistory({
      eventType: 'EVENT_TYPE_ACTIVITY_TASK_COMPLETED',
      activityTaskCompletedEventAttributes: { result: payloads({ passed: true }) },
    });
    const text = decodedHistoryText(history);
    assert.match(text, /"profile": "sim"/, 'the input is decoded');
    assert.match(text, /"nothing secret"/, 'the memo is decoded');
    assert.deepEqual(textsHolding(TOKEN, { history: text, log: `a line\n${TOKEN}\n`, other: '' }), ['log']);
  });

  it('searches every file under a directory, a saved history decoded', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'decoded-history-'));
    try {
      const history = cliHistory({
        eventType: 'EVENT_TYPE_ACTIVITY_TASK_COMPLETED',
        activityTaskCompletedEventAttributes: { result: payloads(TOKEN) },
      });
      await mkdir(path.join(dir, 'histories'));
      await writeFile(path.join(dir, 'histories', 'run1.json'), JSON.stringify(history));
      await mkdir(path.join(dir, 'logs', 'deep'), { recursive: true });
      await writeFile(path.join(dir, 'logs', 'deep', 'worker.log'), `HF_TOKEN=${TOKEN}`);
      await writeFile(path.join(dir, 'clean.txt'), 'nothing');
      const texts = await textsOfFiles(dir);
      assert.equal(Object.keys(texts).length, 3);
      assert.deepEqual(textsHolding(TOKEN, texts).sort(), [
        path.join(dir, 'histories', 'run1.json'),
        path.join(dir, 'logs', 'deep', 'worker.log'),
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
