/**
 * Docker's event stream, narrowed to one run's containers dying: a stage that runs a tool against the servers
 * learns of a server's death the moment the engine reports it, rather than when the tool gives up.
 */
import { LABEL_ROLE, LABEL_WORKFLOW_ID } from '../commands/containers.js';
import { docker } from './client.js';

export interface ContainerDeath {
  name: string;
  role: string | undefined;
  exitCode: string | undefined;
}

/** Calls `onDeath` for each of the run's containers that stops; resolves to the function that stops watching. */
export async function watchContainerDeaths(
  workflowId: string,
  onDeath: (death: ContainerDeath) => void,
): Promise<() => void> {
  const stream = (await docker().getEvents({
    filters: { type: ['container'], event: ['die'], label: [`${LABEL_WORKFLOW_ID}=${workflowId}`] },
  })) as NodeJS.ReadableStream & { destroy?: () => void };
  let buffered = '';
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines.filter((l) => l.trim() !== '')) {
      const attributes = (JSON.parse(line) as { Actor?: { Attributes?: Record<string, string> } }).Actor?.Attributes;
      onDeath({ name: attributes?.name ?? '?', role: attributes?.[LABEL_ROLE], exitCode: attributes?.exitCode });
    }
  });
  // The stream ends with the engine connection; a watch that cannot continue must not fail the stage.
  stream.on('error', () => {});
  return () => stream.destroy?.();
}
