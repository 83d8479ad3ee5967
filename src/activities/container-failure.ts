/** Failing a stage because of its containers, with their log tails in the message so the cause is in the UI. */
import { ApplicationFailure } from '@temporalio/activity';
import type { OwnedContainer } from '../docker/containers.js';
import { describeWithLogTails } from '../docker/logs.js';

/** Fails the stage with `summary` followed by the last 50 log lines of each container. */
export async function failWithLogTails(
  type: string,
  summary: string,
  containers: Array<Pick<OwnedContainer, 'id' | 'name' | 'state'>>,
): Promise<never> {
  throw ApplicationFailure.create({ type, message: `${summary}\n${await describeWithLogTails(containers)}` });
}
