/**
 * Script stages: test scripts in the LMCache checkout that run as stages of their own, the way the reference
 * suite's authors add a test (`run-my-test.sh`). How a script's path becomes a stage name, and the checks on
 * a path that need no file system. Pure: imported by the workflow bundle.
 */

/** A script stage: the name it shows under in the UI and the report, and its path inside the checkout. */
export interface ScriptStage {
  name: string;
  path: string;
}

/**
 * Plain path characters only: the path reaches an argument array, never a shell, but a name that needs
 * quoting in the reference's orchestrator is refused all the same.
 */
export const SCRIPT_PATH_PATTERN = /^[A-Za-z0-9_./+-]+$/;

/**
 * The stage name of a script, as the reference names its results subdirectory: the file name without its
 * extension and without a leading `run-`, with every run of other characters as `_`, in lower case.
 * `run-my-test.sh` → `my_test`. Empty when nothing is left (`run-.sh`).
 */
export function scriptStageName(scriptPath: string): string {
  const fileName = scriptPath.slice(scriptPath.lastIndexOf('/') + 1);
  const withoutExtension = fileName.replace(/(.)\.[^.]*$/, '$1');
  return withoutExtension
    .replace(/^run[-_]/i, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

export function scriptStagesOf(config: { scripts: string[] }): ScriptStage[] {
  return config.scripts.map((path) => ({ name: scriptStageName(path), path }));
}

/** An absolute script path is allowed only inside an absolute checkout path (relative ones are checked on the node). */
export function isOutsideCheckout(scriptPath: string, lmcacheRepoDir: string): boolean {
  if (!scriptPath.startsWith('/') || !lmcacheRepoDir.startsWith('/')) return false;
  const repo = lmcacheRepoDir.replace(/\/+$/, '');
  return !scriptPath.startsWith(`${repo}/`);
}
