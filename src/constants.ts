/** Names users type: the workflow type and the default task queue. */
export const WORKFLOW_TYPE = 'lmcacheMpTest';
export const DEFAULT_TASK_QUEUE = 'lmcache-mp';
