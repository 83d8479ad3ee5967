/**
 * Build step of `npm run build`: bundles the workflow code into dist/workflow-bundle.js (see
 * ../workflow-bundle.ts) and records its build id beside it (see ../versioning.ts); an argument names another
 * output file.
 */
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { buildIdFileOf, gitBuildId } from '../versioning.js';
import { DEFAULT_WORKFLOW_BUNDLE } from '../workflow-bundle.js';

const workflowsPath = fileURLToPath(new URL('../workflows/index.js', import.meta.url));
const output = process.argv[2] ?? DEFAULT_WORKFLOW_BUNDLE;
// Warnings only: the bundler's progress lines would fill every build's output.
const { code } = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
const buildId = await gitBuildId(fileURLToPath(new URL('../../..', import.meta.url)));
await writeFile(output, code);
// Outside a git checkout (a release tarball) the worker takes WORKER_BUILD_ID instead.
await rm(buildIdFileOf(output), { force: true });
if (buildId) await writeFile(buildIdFileOf(output), `${buildId}\n`);
console.log(`workflow bundle: ${output} (${Math.round(code.length / 1024)} KiB), build id ${buildId ?? 'none'}`);
