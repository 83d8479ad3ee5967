/** The Docker engine as the activities see it: one dockerode client and the helpers every stage shares. */
import { ApplicationFailure } from '@temporalio/activity';
import Docker from 'dockerode';
import { LABEL_RESULTS_DIR, LABEL_ROLE, LABEL_WORKFLOW_ID, type Role } from '../commands/containers.js';

let client: Docker | undefined;

/** dockerode honours DOCKER_HOST and friends, and defaults to the local socket. */
export function docker(): Docker {
  client ??= new Docker();
  return client;
}

export interface OwnedContainer {
  id: string;
  name: string;
  workflowId: string;
  role: Role | undefined;
  resultsDir: string | undefined;
  state: string;
}

/** Every pipeline container, running or not; only this workflow's when `workflowId` is given. */
export async function containersOf(workflowId?: string): Promise<OwnedContainer[]> {
  const label = workflowId === undefined ? LABEL_WORKFLOW_ID : `${LABEL_WORKFLOW_ID}=${workflowId}`;
  const found = await docker().listContainers({ all: true, filters: { label: [label] } });
  return found.map((info) => ({
    id: info.Id,
    name: (info.Names[0] ?? info.Id).replace(/^\//, ''),
    workflowId: info.Labels[LABEL_WORKFLOW_ID],
    role: info.Labels[LABEL_ROLE] as Role | undefined,
    resultsDir: info.Labels[LABEL_RESULTS_DIR],
    state: info.State,
  }));
}

/**
 * Docker multiplexes stdout and stderr of a container without a TTY into frames with an 8-byte header
 * (stream type, 3 zero bytes, big-endian length). Returns the text of all frames in order.
 */
export function demuxDockerLogs(buffer: Buffer): string {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const streamType = buffer[offset];
    const length = buffer.readUInt32BE(offset + 4);
    if (streamType > 2 || buffer[offset + 1] !== 0 || offset + 8 + length > buffer.length) {
      // Not framed (a TTY container): the rest is plain text.
      parts.push(buffer.subarray(offset));
      return Buffer.concat(parts).toString('utf8');
    }
    parts.push(buffer.subarray(offset + 8, offset + 8 + length));
    offset += 8 + length;
  }
  if (offset < buffer.length) parts.push(buffer.subarray(offset));
  return Buffer.concat(parts).toString('utf8');
}

/** The last `lines` lines a container printed, stdout and stderr interleaved. */
export async function logTail(containerId: string, lines = 50): Promise<string> {
  const raw = await docker().getContainer(containerId).logs({ stdout: true, stderr: true, tail: lines, follow: false });
  return demuxDockerLogs(Buffer.isBuffer(raw) ? raw : Buffer.from(raw as unknown as string));
}

/** Fails the stage with `summary` followed by the last 50 log lines of each container, so the cause is in the UI. */
export async function failWithLogTails(
  type: string,
  summary: string,
  containers: Array<Pick<OwnedContainer, 'id' | 'name' | 'state'>>,
): Promise<never> {
  const tails = await Promise.all(containers.map(async (c) => `--- ${c.name} (${c.state}) last 50 log lines ---\n${await logTail(c.id)}`));
  throw ApplicationFailure.create({ type, message: `${summary}\n${tails.join('\n')}` });
}

/** dockerode reports HTTP statuses on its errors; 404 means "no such object". */
export function isNotFound(error: unknown): boolean {
  return (error as { statusCode?: number }).statusCode === 404;
}

/** Waits for a streamed Docker operation (build, import) to end; each JSON event goes to `onEvent` as it arrives. */
export function followProgress<Event extends { error?: string }>(
  stream: NodeJS.ReadableStream,
  onEvent: (event: Event) => void = () => {},
): Promise<Event[]> {
  return new Promise((resolve, reject) =>
    docker().modem.followProgress(
      stream,
      (error: Error | null, events: Event[]) => (error ? reject(error) : resolve(events)),
      onEvent,
    ),
  );
}
