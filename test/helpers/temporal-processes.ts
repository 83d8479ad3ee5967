/** A real Temporal dev server started from the `temporal` CLI, and real worker processes. */
import { execa, type ResultPromise } from 'execa';
import { cliTypeName, SEARCH_ATTRIBUTE_KEYS } from '../../src/workflows/search-attributes.js';
import { freePort } from './ports.js';
import { PROJECT_ROOT, temporalBinary } from './temporal.js';

/** Everything a process printed so far, for a test that searches a log. */
function collectOutput(process: ResultPromise, into: { text: string }): void {
  process.all?.on('data', (chunk: Buffer) => (into.text += chunk.toString()));
}

export class DevServer {
  private readonly output = { text: '' };

  private constructor(
    readonly address: string,
    private process: ResultPromise,
    private readonly args: string[],
  ) {
    collectOutput(process, this.output);
  }

  /**
   * `dbFile`: keep the server's state in that SQLite file, so that a restarted server carries on. `logLevel`: what
   * the server logs (default error), for a test that searches its log.
   */
  static async start(options: { dbFile?: string; logLevel?: 'info' | 'error' } = {}): Promise<DevServer> {
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    // A new database has no search attributes, so the start flags register the runs' ones.
    const searchAttributes = SEARCH_ATTRIBUTE_KEYS.flatMap((key) => [
      '--search-attribute',
      `${key.name}=${cliTypeName(key)}`,
    ]);
    const args = [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      '--headless',
      '--log-level',
      options.logLevel ?? 'error',
      ...(options.dbFile ? ['--db-filename', options.dbFile] : []),
      ...searchAttributes,
    ];
    const server = new DevServer(address, execa(temporalBinary(), args, { reject: false, all: true }), args);
    await server.waitUntilServing();
    return server;
  }

  /** Waits up to 3 minutes (a loaded machine makes a new database slow); a server that exits says why. */
  private async waitUntilServing(): Promise<void> {
    let exited = false;
    void this.process.then(() => (exited = true));
    const deadline = Date.now() + 180_000;
    while (Date.now() < deadline && !exited) {
      const health = await execa(temporalBinary(), ['operator', 'cluster', 'health', '--address', this.address], {
        reject: false,
      });
      if (health.exitCode === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    this.process.kill('SIGKILL');
    const { all } = await this.process;
    throw new Error(`Temporal dev server did not start on ${this.address}:\n${String(all ?? '').slice(-2000)}`);
  }

  /** Abrupt loss and return of the server: SIGKILL, then the same command on the same port and database. */
  async killAndRestart(): Promise<void> {
    this.process.kill('SIGKILL');
    await this.process;
    this.process = execa(temporalBinary(), this.args, { reject: false, all: true });
    collectOutput(this.process, this.output);
    await this.waitUntilServing();
  }

  /** What the server has logged, across restarts. */
  log(): string {
    return this.output.text;
  }

  /** Runs the temporal CLI against this server. */
  cli(args: string[]) {
    return execa(temporalBinary(), [...args, '--address', this.address], { reject: false, all: true });
  }

  async stop(): Promise<void> {
    this.process.kill('SIGTERM');
    await this.process;
  }
}

/** A worker process in its own process group, so killing it takes its tools down too, like a lost node. */
export class WorkerProcess {
  private readonly output = { text: '' };

  private constructor(private readonly process: ResultPromise) {
    collectOutput(process, this.output);
  }

  /** What the worker has logged. */
  log(): string {
    return this.output.text;
  }

  /** `env`: the Temporal connection variables the worker gets (TEMPORAL_ADDRESS, TEMPORAL_TLS_*, …) and its node's. */
  static start(taskQueue: string, env: Record<string, string>): WorkerProcess {
    return new WorkerProcess(
      execa('node', ['dist/src/worker.js'], {
        cwd: PROJECT_ROOT,
        env: { ...env, TASK_QUEUE: taskQueue },
        detached: true,
        reject: false,
        all: true,
      }),
    );
  }

  async waitUntilPolling(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.process.all?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('worker polling')) resolve();
      });
      this.process.then((result) => reject(new Error(`worker exited: ${result.all}`)));
    });
  }

  /** Graceful stop (SIGTERM), as an operator would. */
  async stop(): Promise<void> {
    this.process.kill('SIGTERM');
    await this.process;
  }

  /** Abrupt loss: SIGKILL to the whole process group. */
  async kill(): Promise<void> {
    process.kill(-this.process.pid!, 'SIGKILL');
    await this.process;
  }
}
