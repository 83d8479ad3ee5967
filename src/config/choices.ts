/** The closed sets of values some knobs take. Pure: imported by the workflow bundle. */
export const PROFILES = ['gpu', 'sim'] as const;
export type Profile = (typeof PROFILES)[number];

/** Stages a run may select. Cleanup is not listed: it always runs. */
export const STAGES = ['build', 'launch', 'health', 'lm_eval', 'vllm_bench', 'long_doc_qa'] as const;
export type StageName = (typeof STAGES)[number];

/** Names a script stage may not take: the built-in stages and the results directory's own entries. */
export const RESERVED_STAGE_NAMES = [...STAGES, 'select_gpus', 'cleanup', 'container_logs'];

/**
 * The LMCache MP server's entry point (`python -m lmcache.v1.multiprocess.<module>`): upstream's suite ran `server`,
 * its newest version `http_server`, which adds an HTTP frontend (health, clear, /metrics) on its own port.
 */
export const LMCACHE_SERVER_MODULES = ['server', 'http_server'] as const;
export type LmcacheServerModule = (typeof LMCACHE_SERVER_MODULES)[number];
export const BENCHMARK_DRIVERS = ['upstream', 'builtin'] as const;
export const REPEAT_MODES = ['tile', 'random', 'interleave'] as const;
/** What a run does when a stage after launch fails or a check fails: clean up and fail, or keep the servers. */
export const ON_FAILURE_MODES = ['cleanup', 'hold'] as const;
