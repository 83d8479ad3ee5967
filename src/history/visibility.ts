/**
 * Reads past runs from Temporal visibility through their `LmcacheMp…` search attributes. The query builder
 * and the record mapping are pure; `listRuns` is the one call to the server.
 */
import { Connection, WorkflowClient, type WorkflowExecutionInfo } from '@temporalio/client';
import { connectionSettings, explainConnectionFailure } from '../connection.js';
import { WORKFLOW_TYPE } from '../constants.js';
import { inProgress, SA } from '../workflows/search-attributes.js';
import type { KeyFigures } from './figures.js';
import type { RunRecord } from './trends.js';

export interface RunFilter {
  profile?: string;
  model?: string;
  verdict?: string;
  /** Leave this workflow out (a run comparing itself with the ones before it). */
  excludeWorkflowId?: string;
}

/** Values go between single quotes in the query: refuse what could end the quote rather than escape it. */
function quoted(field: string, value: string): string {
  if (/['"\\\n]/.test(value))
    throw new Error(`${field}: quotes, backslashes and newlines are not allowed (${JSON.stringify(value)})`);
  return `'${value}'`;
}

export function runsQuery(filter: RunFilter): string {
  const terms = [`WorkflowType = ${quoted('workflow type', WORKFLOW_TYPE)}`];
  if (filter.profile) terms.push(`${SA.profile.name} = ${quoted('profile', filter.profile)}`);
  if (filter.model) terms.push(`${SA.model.name} = ${quoted('model', filter.model)}`);
  if (filter.verdict) terms.push(`${SA.verdict.name} = ${quoted('verdict', filter.verdict)}`);
  if (filter.excludeWorkflowId) terms.push(`WorkflowId != ${quoted('workflow id', filter.excludeWorkflowId)}`);
  return terms.join(' AND ');
}

/**
 * The run's own verdict; a run that never set one, or was terminated or timed out while it still said
 * `running` or `held`, is known by its Temporal status instead (`terminated`, `timed_out`…).
 */
export function verdictOf(verdict: string | undefined, status: string): string {
  if (verdict === undefined || (inProgress(verdict) && status !== 'RUNNING')) return status.toLowerCase();
  return verdict;
}

/** A listed execution as a run record; runs that never set the attributes show their Temporal status. */
export function recordOf(execution: WorkflowExecutionInfo): RunRecord {
  const attributes = execution.typedSearchAttributes;
  const figures: KeyFigures = {
    queryTtft: attributes.get(SA.queryTtft) ?? null,
    queryRoundTime: attributes.get(SA.queryRoundTime) ?? null,
    throughputRatio: attributes.get(SA.throughputRatio) ?? null,
  };
  return {
    workflowId: execution.workflowId,
    runId: execution.runId,
    startTime: execution.startTime.toISOString(),
    status: execution.status.name,
    profile: attributes.get(SA.profile) ?? 'unknown',
    model: attributes.get(SA.model) ?? 'unknown',
    buildId: attributes.get(SA.buildId) ?? execution.workflowId,
    ...(attributes.get(SA.commit) ? { commit: attributes.get(SA.commit) } : {}),
    verdict: verdictOf(attributes.get(SA.verdict), execution.status.name),
    failedStage: attributes.get(SA.failedStage),
    failedChecks: attributes.get(SA.failedChecks) ?? [],
    figures,
  };
}

/** The newest `last` runs matching the filter, oldest first. */
export async function listRuns(client: WorkflowClient, filter: RunFilter, last: number): Promise<RunRecord[]> {
  const runs: RunRecord[] = [];
  for await (const execution of client.list({ query: runsQuery(filter) })) runs.push(recordOf(execution));
  runs.sort((a, b) => a.startTime.localeCompare(b.startTime));
  return runs.slice(-last);
}

/** Opens a client from the usual environment variables (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS…). */
export async function withVisibilityClient<T>(
  env: NodeJS.ProcessEnv,
  use: (client: WorkflowClient) => Promise<T>,
  options: { namespace?: string; connectTimeout?: string } = {},
): Promise<T> {
  const settings = connectionSettings(env);
  const connection = await Connection.connect({
    address: settings.address,
    tls: settings.tls,
    apiKey: settings.apiKey,
    metadata: settings.metadata,
    connectTimeout: options.connectTimeout,
  }).catch((error: unknown) => {
    throw explainConnectionFailure(error, settings);
  });
  try {
    return await use(new WorkflowClient({ connection, namespace: options.namespace ?? settings.namespace }));
  } finally {
    await connection.close();
  }
}
