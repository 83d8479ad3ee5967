/**
 * Named failure types of the pipeline. Activities throw ApplicationFailure with these types; the workflow
 * tells a failed check from a broken stage by them. Pure: imported by the workflow bundle.
 */
export const FailureType = {
  /** The input broke the schema: nothing started. */
  InvalidConfig: 'InvalidConfig',
  BuildFailed: 'BuildFailed',
  NoGpusAvailable: 'NoGpusAvailable',
  /** A container with our name belongs to another run. */
  ContainerNameConflict: 'ContainerNameConflict',
  /** A server container stopped while the pipeline needed it; the message names it and carries its log tail. */
  ContainerExited: 'ContainerExited',
  ServersNotHealthy: 'ServersNotHealthy',
  /** A server's port is held by something that is not this run's container: launching would not help. */
  PortInUse: 'PortInUse',
  /** A benchmark tool is not installed on the worker's node. */
  ToolMissing: 'ToolMissing',
  /** A benchmark tool exited non-zero while the servers were up: retried. */
  ToolFailed: 'ToolFailed',
  /** A tool's output could not be read as the suite expects. */
  OutputParseError: 'OutputParseError',
  /**
   * A benchmark ran and one of its checks failed: the error type of its stage in the report. Never thrown by
   * an activity (checks come back as data); the workflow fails the run with ChecksFailed after cleanup.
   */
  BenchmarkCheckFailed: 'BenchmarkCheckFailed',
  /** The workflow's own failure after cleanup: at least one check failed. Details carry the report. */
  ChecksFailed: 'ChecksFailed',
  /** The workflow's own failure after cleanup: a stage could not complete. Details carry the report. */
  StageFailed: 'StageFailed',
  /** The run's node stopped picking up its stages: its worker is gone. The message names the node. */
  NodeLost: 'NodeLost',
  /** A bisect that could not name a first bad commit: an end did not behave, probes kept breaking, MAX_PROBES. */
  BisectInconclusive: 'BisectInconclusive',
  /** A bisect's ends cannot be bisected: a ref names no commit, or good is not an ancestor of bad. */
  InvalidBisectRange: 'InvalidBisectRange',
} as const;
export type FailureTypeName = (typeof FailureType)[keyof typeof FailureType];

/** Failures that mean "the same call would fail again": never retried. */
export const NON_RETRYABLE_TYPES: FailureTypeName[] = [
  FailureType.InvalidConfig,
  FailureType.BuildFailed,
  FailureType.NoGpusAvailable,
  FailureType.ContainerNameConflict,
  FailureType.ContainerExited,
  FailureType.ServersNotHealthy,
  FailureType.PortInUse,
  FailureType.ToolMissing,
  FailureType.OutputParseError,
  FailureType.InvalidBisectRange,
];

/** How many lines of a failing tool's or dead container's log a failure carries as evidence. */
export const EVIDENCE_LINES = 30;

/**
 * What a failed stage shows as the cause, in its ApplicationFailure's details (`{ evidence: FailureEvidence[] }`):
 * the last lines of a log, and where the whole log is on the worker's node.
 */
export interface FailureEvidence {
  /** Whose log: "vllm bench serve lmcache", "container lmcache-mp-…-vllm (exited)". */
  title: string;
  lines: string[];
  file: string;
}
