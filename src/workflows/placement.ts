/**
 * The workflow's side of node placement: which task queue a stage goes to once the run has claimed a node, how
 * long it may wait there to be picked up, and how a node whose worker is gone is told apart from other failures.
 * Deterministic: imported by the workflow bundle.
 */
import { ActivityFailure, TimeoutFailure, type ActivityOptions } from '@temporalio/workflow';
import { nodeTaskQueue } from '../placement/placement.js';

/**
 * Before anything is launched a node that does not pick up a stage within this long is given up for another;
 * once its containers run, the run waits longer for a restarted worker to adopt them, then fails naming it.
 */
export const PICKUP_BEFORE_LAUNCH = '30s';
export const PICKUP_AFTER_LAUNCH = '5m';

/** How many nodes a run tries before giving up, when each one's worker vanished before launch. */
export const MAX_NODE_CLAIMS = 3;

export const CLAIM_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '1m',
  retry: { maximumAttempts: 5, initialInterval: '1s' },
  summary: 'claim a node',
};

/** The options that send a stage to `node`'s own task queue. */
export function pinnedTo(sharedQueue: string, node: string, launched: boolean): ActivityOptions {
  return {
    taskQueue: nodeTaskQueue(sharedQueue, node),
    scheduleToStartTimeout: launched ? PICKUP_AFTER_LAUNCH : PICKUP_BEFORE_LAUNCH,
  };
}

/** True when the stage failed because no worker of its node picked it up in time: the node is gone. */
export function nodeLost(error: unknown): boolean {
  return (
    error instanceof ActivityFailure &&
    error.cause instanceof TimeoutFailure &&
    error.cause.timeoutType === 'SCHEDULE_TO_START'
  );
}

export function nodeLostMessage(node: string, stage: string, launched: boolean): string {
  const waited = launched ? PICKUP_AFTER_LAUNCH : PICKUP_BEFORE_LAUNCH;
  return `node ${node} is gone: no worker with NODE_NAME=${node} picked up ${stage} within ${waited}`;
}
