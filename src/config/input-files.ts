/**
 * The checks on a run's input that need the file system of the node that runs it: the LMCache checkout holds
 * what the gpu profile builds and runs from it; a model given as a path is a directory; each script stage
 * exists, is an executable file, and (symbolic links followed) lies inside the checkout. The client runs them
 * before it sends a run, and the workflow's first activity runs them again on the worker's node. With LMCACHE_REF the
 * checkout must be a git repository in which the ref names a commit whose tree holds the Dockerfile.
 */
import { constants } from 'node:fs';
import { access, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { LONG_DOC_QA_SCRIPT, usesUpstreamLongDocQa } from '../commands/tools.js';
import { commitHasFile, notARepository, resolveCommit, shortSha } from '../git/repo.js';
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
  let commit: string | undefined;
  if (config.lmcacheRef !== '') {
    const resolved = await resolveRef(repo, config.lmcacheRef);
    if ('problem' in resolved) return [resolved.problem];
    commit = resolved.sha;
  }
  // With a ref the build's Dockerfile comes from the ref's commit; what runs later, from the checkout as it is.
  const buildFromCommit = commit !== undefined && config.stages.includes('build');
  const missing: string[] = [];
  for (const file of checkoutFilesNeeded(config)) {
    if (buildFromCommit && file === config.dockerfile) continue;
    if (!(await isA(path.join(repo, file), 'isFile'))) missing.push(file);
  }
  if (buildFromCommit && !(await commitHasFile(repo, commit!, config.dockerfile))) {
    missing.push(`${config.dockerfile} at ${config.lmcacheRef} (LMCACHE_REF, commit ${shortSha(commit!)})`);
  }
  if (missing.length === 0) return [];
  return [
    `lmcacheRepoDir: ${repo} (LMCACHE_REPO_DIR) has no ${missing.join(' and ')} on this node: is it an LMCache checkout? (got ${JSON.stringify(config.lmcacheRepoDir)})`,
  ];
}

/**
 * The commit `ref` names in the repository at LMCACHE_REPO_DIR, or why there is none. `field` names the ref in the
 * problem: LMCACHE_REF's field by default, a bisect's `good` or `bad` end otherwise.
 */
export async function resolveRef(
  repo: string,
  ref: string,
  field: { name: string; env?: string } = { name: 'lmcacheRef', env: 'LMCACHE_REF' },
): Promise<{ sha: string } | { problem: string }> {
  const named = field.env ? `${field.name} (${field.env})` : field.name;
  const notRepo = await notARepository(repo);
  if (notRepo !== undefined) {
    return {
      problem: `lmcacheRepoDir: ${repo} (LMCACHE_REPO_DIR) is not a git repository on this node, so ${named} cannot be resolved in it: ${notRepo} (got ${JSON.stringify(repo)})`,
    };
  }
  const sha = await resolveCommit(repo, ref);
  if (sha === undefined) {
    return {
      problem: `${field.name}: ${ref}${field.env ? ` (${field.env})` : ''} does not resolve to a commit in ${repo} (LMCACHE_REPO_DIR): is it fetched? (got ${JSON.stringify(ref)})`,
    };
  }
  return { sha };
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
