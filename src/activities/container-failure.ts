/**
 * Failing a stage because of its containers, with their log tails in the message (the Temporal UI shows it) and
 * in the failure's details as evidence (`cli.js follow` prints it from anywhere). Each container's whole log is
 * saved first: cleanup removes the container, and with it the engine's copy.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { OwnedContainer } from '../docker/containers.js';
import { LOG_TAIL_LINES, logTail } from '../docker/logs.js';
import { EVIDENCE_LINES, type FailureEvidence } from '../failures.js';

/** The directory a stage keeps a dead container's whole log in, when the stage has none of its own. */
export function containerLogDir(resultsDir: string): string {
  return path.join(resultsDir, 'container_logs');
}

/**
 * Fails the stage with `summary` followed by the last lines of each container's log; each whole log is saved
 * as `<saveDir>/<container>.full.log`.
 */
export async function failWithLogTails(
  type: string,
  summary: string,
  containers: Array<Pick<OwnedContainer, 'id' | 'name' | 'state'>>,
  saveDir: string,
): Promise<never> {
  await mkdir(saveDir, { recursive: true });
  const logs = await Promise.all(
    containers.map(async (container) => {
      const text = await logTail(container.id, 'all');
      const file = path.join(saveDir, `${container.name}.full.log`);
      await writeFile(file, text);
      return { container, lines: text.replace(/\n$/, '').split('\n'), file };
    }),
  );
  const tails = logs.map(
    ({ container, lines }) =>
      `--- ${container.name} (${container.state}) last ${LOG_TAIL_LINES} log lines ---\n${lines.slice(-LOG_TAIL_LINES).join('\n')}`,
  );
  const evidence: FailureEvidence[] = logs.map(({ container, lines, file }) => ({
    title: `container ${container.name} (${container.state})`,
    lines: lines.slice(-EVIDENCE_LINES),
    file,
  }));
  throw ApplicationFailure.create({ type, message: `${summary}\n${tails.join('\n')}`, details: [{ evidence }] });
}
