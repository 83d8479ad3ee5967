import { createServer, type AddressInfo } from 'node:net';

/** A port that was free a moment ago, for a test that must know the port before a server listens. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const NODE_PORT_RANGE_SIZE = 100;
let rangesFrom: Promise<number> | undefined;
let rangesHanded = 0;

/**
 * A node's PORT_RANGE: blocks of one test process never overlap (two nodes must never lease the same port), and the
 * first starts at a port that was free a moment ago; the lease itself skips ports something holds.
 */
export async function nodePortRange(): Promise<string> {
  const block = rangesHanded++;
  rangesFrom ??= freePort().then((port) => Math.min(port, 60000));
  const first = (await rangesFrom) + block * NODE_PORT_RANGE_SIZE;
  if (first + NODE_PORT_RANGE_SIZE > 65536) throw new Error(`no room for port range ${block + 1} above ${first}`);
  return `${first}-${first + NODE_PORT_RANGE_SIZE - 1}`;
}
