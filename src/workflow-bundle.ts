/**
 * The workflow bundle the worker loads: made once by `npm run build` (src/build/bundle-workflows.ts), as Temporal
 * advises for production, instead of bundling the workflow code at every worker start (seconds of CPU before the
 * first poll, paid again by each worker that restarts after a fault). WORKFLOW_BUNDLE names another bundle: the
 * code a worker deployment version ships.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const DEFAULT_WORKFLOW_BUNDLE = fileURLToPath(new URL('../workflow-bundle.js', import.meta.url));

export function workflowBundlePath(env: NodeJS.ProcessEnv = process.env): string {
  const given = env.WORKFLOW_BUNDLE;
  const bundle = given ? path.resolve(given) : DEFAULT_WORKFLOW_BUNDLE;
  if (!existsSync(bundle)) {
    throw new Error(
      given
        ? `WORKFLOW_BUNDLE=${JSON.stringify(given)}: no such file (a bundle made by npm run build)`
        : `no workflow bundle at ${bundle}: run npm run build (or set WORKFLOW_BUNDLE)`,
    );
  }
  return bundle;
}
