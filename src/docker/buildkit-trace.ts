/**
 * BuildKit's progress, as the Docker engine streams it for a `version: '2'` build: events
 * `{"id":"moby.buildkit.trace","aux":"<base64>"}` whose payload is a `moby.buildkit.v1.StatusResponse`
 * protobuf (vertexes = build steps, statuses = transfer progress, logs = what RUN steps print). This module
 * decodes them and keeps, per step, what a person reads in `docker build --progress=plain`.
 */
import protobuf from 'protobufjs';

// The fields we read of buildkit's api/services/control/control.proto (field numbers as upstream).
const { root } = protobuf.parse(`
  syntax = "proto3";
  package moby.buildkit.v1;
  message Timestamp { int64 seconds = 1; int32 nanos = 2; }
  message Vertex {
    string digest = 1; repeated string inputs = 2; string name = 3; bool cached = 4;
    Timestamp started = 5; Timestamp completed = 6; string error = 7;
  }
  message VertexStatus {
    string ID = 1; string vertex = 2; string name = 3; int64 current = 4; int64 total = 5;
  }
  message VertexLog { string vertex = 1; Timestamp timestamp = 2; int64 stream = 3; bytes msg = 4; }
  message VertexWarning { string vertex = 1; int64 level = 2; bytes short = 3; }
  message StatusResponse {
    repeated Vertex vertexes = 1; repeated VertexStatus statuses = 2; repeated VertexLog logs = 3;
    repeated VertexWarning warnings = 4;
  }
`);
const StatusResponse = root.lookupType('moby.buildkit.v1.StatusResponse');

interface Vertex {
  digest: string;
  name: string;
  cached: boolean;
  started?: object;
  completed?: object;
  error: string;
}
interface VertexLog {
  vertex: string;
  msg: Uint8Array;
}
interface VertexWarning {
  vertex: string;
  short: Uint8Array;
}
interface Status {
  vertexes: Vertex[];
  logs: VertexLog[];
  warnings: VertexWarning[];
}

/** Decodes the base64 `aux` of one `moby.buildkit.trace` event. */
export function decodeTrace(aux: string): Status {
  const message = StatusResponse.decode(Buffer.from(aux, 'base64'));
  return StatusResponse.toObject(message, { defaults: true, arrays: true }) as unknown as Status;
}

export interface StepState {
  name: string;
  cached: boolean;
  done: boolean;
  error: string;
}

/**
 * Accumulates a build's trace into numbered, plain-progress lines (`#3 [deps 1/2] RUN …`, `#3 DONE`,
 * `#3 CACHED`, the step's own output prefixed with its number) and the steps seen so far.
 */
export class BuildkitProgress {
  readonly lines: string[] = [];
  private readonly steps = new Map<string, StepState & { number: number }>();
  private pendingOutput = new Map<string, string>();

  /** Feeds one trace event's payload; returns the lines it added. */
  add(aux: string): string[] {
    const status = decodeTrace(aux);
    const added: string[] = [];
    for (const vertex of status.vertexes) {
      let step = this.steps.get(vertex.digest);
      if (!step) {
        step = { number: this.steps.size + 1, name: vertex.name, cached: false, done: false, error: '' };
        this.steps.set(vertex.digest, step);
        added.push(`#${step.number} ${vertex.name}`);
      }
      if (vertex.cached && !step.cached) {
        step.cached = true;
        added.push(`#${step.number} CACHED`);
      }
      if (vertex.error && !step.error) {
        step.error = vertex.error;
        added.push(`#${step.number} ERROR: ${vertex.error}`);
      } else if (vertex.completed && !step.done) {
        step.done = true;
        added.push(...this.flushOutput(vertex.digest), `#${step.number} DONE`);
      }
    }
    for (const log of status.logs) {
      const text = (this.pendingOutput.get(log.vertex) ?? '') + Buffer.from(log.msg).toString('utf8');
      const complete = text.split('\n');
      this.pendingOutput.set(log.vertex, complete.pop() ?? '');
      added.push(
        ...complete.filter((line) => line.trim() !== '').map((line) => `#${this.numberOf(log.vertex)} ${line}`),
      );
    }
    for (const warning of status.warnings) {
      added.push(`#${this.numberOf(warning.vertex)} WARNING: ${Buffer.from(warning.short).toString('utf8')}`);
    }
    this.lines.push(...added);
    return added;
  }

  /** The steps in the order they appeared. */
  stepStates(): StepState[] {
    return [...this.steps.values()].map(({ name, cached, done, error }) => ({ name, cached, done, error }));
  }

  /** The step a person would call "current": the last one started and not finished, else the last one. */
  currentStep(): string {
    const steps = [...this.steps.values()];
    const running = steps.filter((step) => !step.done && !step.cached && !step.error);
    const current = running[running.length - 1] ?? steps[steps.length - 1];
    return current ? `#${current.number} ${current.name}` : '';
  }

  private flushOutput(digest: string): string[] {
    const rest = this.pendingOutput.get(digest);
    this.pendingOutput.delete(digest);
    return rest && rest.trim() !== '' ? [`#${this.numberOf(digest)} ${rest}`] : [];
  }

  private numberOf(digest: string): number | string {
    return this.steps.get(digest)?.number ?? '?';
  }
}
