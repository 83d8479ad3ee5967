/**
 * The one dockerode client of the project, for the activities, the janitor and the tests alike. Nothing in
 * src/docker/ knows about Temporal: callers turn its errors into stage failures.
 */
import Docker from 'dockerode';

let client: Docker | undefined;

/** dockerode honours DOCKER_HOST and friends, and defaults to the local socket. */
export function docker(): Docker {
  client ??= new Docker();
  return client;
}

function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number }).statusCode;
}

/** dockerode reports HTTP statuses on its errors; 404 means "no such object". */
export function isNotFound(error: unknown): boolean {
  return statusOf(error) === 404;
}

/** 409 "removal of container … is already in progress": another remover got there first. */
export function isRemovalInProgress(error: unknown): boolean {
  return (
    statusOf(error) === 409 && /removal of container .* already in progress/i.test(String((error as Error).message))
  );
}

/** 304: the container was already stopped. */
export function isNotModified(error: unknown): boolean {
  return statusOf(error) === 304;
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
