/**
 * Build step of `npm run build`: bundles the workflow code into dist/workflow-bundle.js (see
 * ../workflow-bundle.ts); an argument names another output file.
 */
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { DEFAULT_WORKFLOW_BUNDLE } from '../workflow-bundle.js';

const workflowsPath = fileURLToPath(new URL('../workflows/index.js', import.meta.url));
const output = process.argv[2] ?? DEFAULT_WORKFLOW_BUNDLE;
// Warnings only: the bundler's progress lines would fill every build's output.
const { code } = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
await writeFile(output, code);
console.log(`workflow bundle: ${output} (${Math.round(code.length / 1024)} KiB)`);
