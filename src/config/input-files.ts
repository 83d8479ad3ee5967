/**
 * The checks on a run's input that need the file system of the node that runs it: the LMCache checkout holds
 * what the gpu profile builds and runs from it; a model given as a path is a directory; each script stage
 * exists, is an executable file, and (symbolic links followed) lies inside the checkout. The client runs them
 * before it sends a run, and the workflow's first activity runs them again on the worker's node.
 */
import { constants } from 'node:fs';
import { access, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { LONG_DOC_QA_SCRIPT, usesUpstreamLongDocQa } from '../commands/tools.js';
import { resolveNodePath } from '../node-paths.js';
import { isModelPath, type Config } from './schema.js';

/** Every problem of the run's input on this node, each naming its field like the schema's messages. */
export async function inputFileProblems(config: Config): Promise<string[]> {
  return [
    ...(await checkoutProblems(config)),
    ...(await modelPathProblems(config)),
    ...(await scriptFileProblems(config)),
  ];
}

/** The files of the LMCache checkout a gpu run uses: the Dockerfile it builds, the long-doc QA script it runs. */
export function checkoutFilesNeeded(config: Config): string[] {
  if (config.profile !== 'gpu') return [];
  return [
    ...(config.stages.includes('build') ? [config.dockerfile] : []),
    ...(config.stages.includes('long_doc_qa') && usesUpstreamLongDocQa(config) ? [LONG_DOC_QA_SCRIPT] : []),
  ];
}

async function checkoutProblems(config: Config): Promise<string[]> {
  const repo = resolveNodePath(config.lmcacheRepoDir);
  const missing: string[] = [];
  for (const file of checkoutFilesNeeded(config)) {
    if (!(await isA(path.join(repo, file), 'isFile'))) missing.push(file);
  }
  if (missing.length === 0) return [];
  return [
    `lmcacheRepoDir: ${repo} (LMCACHE_REPO_DIR) has no ${missing.join(' and ')} on this node: is it an LMCache checkout? (got ${JSON.stringify(config.lmcacheRepoDir)})`,
  ];
}

async function modelPathProblems(config: Config): Promise<string[]> {
  if (!isModelPath(config.model)) return [];
  return (await isA(config.model, 'isDirectory'))
    ? []
    : [`model: ${config.model} (MODEL) is not a directory on this node (got ${JSON.stringify(config.model)})`];
}

/** Whether `file` exists on this node as a file or a directory, as `kind` asks. */
async function isA(file: string, kind: 'isFile' | 'isDirectory'): Promise<boolean> {
  return stat(file).then(
    (found) => found[kind](),
    () => false,
  );
}

/** Where a script stage's file is on this node: relative paths are relative to the checkout. */
export function scriptFile(config: Pick<Config, 'lmcacheRepoDir'>, scriptPath: string): string {
  return path.resolve(resolveNodePath(config.lmcacheRepoDir), scriptPath);
}

/** One problem per bad script, each naming its field (`scripts.<index>`). */
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
