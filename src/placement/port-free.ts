/** Whether a port on this node is free: the servers run with host networking, so nothing else may listen on it. */
import { createServer } from 'node:net';

/** Why the port cannot be listened on (EADDRINUSE: something holds it), or undefined when it is free. */
export function portListenError(port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', resolve);
    server.listen(port, '0.0.0.0', () => server.close(() => resolve(undefined)));
  });
}

export async function portFree(port: number): Promise<boolean> {
  return (await portListenError(port)) === undefined;
}
