/** Paths on the worker's node: this project's root, and path knobs resolved against it. */
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** This project's root: dist/src/ is two levels below it. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Resolves a path knob on the worker's node: `~` is the home directory, relative means relative to the project. */
export function resolveNodePath(value: string): string {
  if (value === '~' || value.startsWith('~/')) return path.join(homedir(), value.slice(1));
  return path.resolve(PROJECT_ROOT, value);
}
