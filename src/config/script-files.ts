/**
 * The checks on script stages that need the file system of the node that runs them: the script exists,
 * is an executable file, and (symbolic links followed) lies inside the LMCache checkout. The client runs
 * them before it sends a run, and the workflow's first activity runs them again on the worker's node.
 */
import { constants } from 'node:fs';
import { access, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { resolveNodePath } from '../node-paths.js';
import type { Config } from './schema.js';

/** Where a script stage's file is on this node: relative paths are relative to the checkout. */
export function scriptFile(config: Pick<Config, 'lmcacheRepoDir'>, scriptPath: string): string {
  return path.resolve(resolveNodePath(config.lmcacheRepoDir), scriptPath);
}

/** One problem per bad script, each naming its field (`scripts.<index>`) like the schema's messages. */
export async function scriptFileProblems(config: Pick<Config, 'lmcacheRepoDir' | 'scripts'>): Promise<string[]> {
  const repo = resolveNodePath(config.lmcacheRepoDir);
  const realRepo = await realpath(repo).catch(() => undefined);
  const problems: string[] = [];
  for (const [index, script] of config.scripts.entries()) {
    const problem = realRepo
      ? await problemOf(realRepo, scriptFile(config, script))
      : `lmcacheRepoDir (${repo}) does not exist on this node`;
    if (problem) problems.push(`scripts.${index}: ${problem} (got ${JSON.stringify(script)})`);
  }
  return problems;
}

async function problemOf(realRepo: string, file: string): Promise<string | undefined> {
  let real: string;
  try {
    real = await realpath(file);
  } catch {
    return `${file} does not exist on this node (paths are relative to lmcacheRepoDir, ${realRepo})`;
  }
  if (!real.startsWith(`${realRepo}/`)) return `${file} is outside lmcacheRepoDir (${realRepo})`;
  if (!(await stat(real)).isFile()) return `${file} is not a file`;
  try {
    await access(real, constants.X_OK);
  } catch {
    return `${file} is not executable (chmod +x it)`;
  }
  return undefined;
}
