/** What a container printed: its log tail, read through the Docker API. */
import { docker } from './client.js';

/** How many lines of a container's log a person gets: the reference's cleanup printed the last 50. */
export const LOG_TAIL_LINES = 50;

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

/** The last `lines` lines a container printed (or all of them), stdout and stderr interleaved. */
export async function logTail(containerId: string, lines: number | 'all' = LOG_TAIL_LINES): Promise<string> {
  const raw = await docker()
    .getContainer(containerId)
    .logs({ stdout: true, stderr: true, follow: false, ...(lines === 'all' ? {} : { tail: lines }) });
  return demuxDockerLogs(Buffer.isBuffer(raw) ? raw : Buffer.from(raw as unknown as string));
}
