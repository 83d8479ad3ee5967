/**
 * Who holds a TCP port on this node, as far as it can tell: the listening socket's inode from /proc/net/tcp,
 * the process whose file descriptors include it, and that process's container (from its cgroup) if any.
 * Processes of other users cannot be read: then only the port is named.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import { docker } from '../docker/client.js';

const LISTEN = '0A';

async function listeningInodes(port: number): Promise<Set<string>> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== LISTEN) continue;
      if (Number.parseInt(fields[1].split(':').pop()!, 16) === port) inodes.add(fields[9]);
    }
  }
  return inodes;
}

async function processOf(inodes: Set<string>): Promise<number | undefined> {
  const targets = new Set([...inodes].map((inode) => `socket:[${inode}]`));
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fds = await readdir(`/proc/${entry}/fd`).catch(() => []);
    for (const fd of fds) {
      const link = await readlink(`/proc/${entry}/fd/${fd}`).catch(() => '');
      if (targets.has(link)) return Number(entry);
    }
  }
  return undefined;
}

async function containerOf(pid: number): Promise<string | undefined> {
  const cgroup = await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '');
  const id = /docker[-/]([0-9a-f]{64})/.exec(cgroup)?.[1];
  if (!id) return undefined;
  const info = await docker()
    .getContainer(id)
    .inspect()
    .catch(() => undefined);
  return info?.Name.replace(/^\//, '') ?? id.slice(0, 12);
}

/** "container NAME (pid N)", "process N (cmdline)", or undefined when the holder cannot be seen. */
export async function describePortHolder(port: number): Promise<string | undefined> {
  const pid = await processOf(await listeningInodes(port));
  if (pid === undefined) return undefined;
  const container = await containerOf(pid);
  if (container) return `container ${container} (pid ${pid})`;
  const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ').trim();
  return `process ${pid}${cmdline ? ` (${cmdline.slice(0, 200)})` : ''}`;
}
