/** What both builtin drivers share as command-line programs: exit codes, progress lines, a request limit. */
import { parseArgs, usage, UsageError, type OptionTable, type ParsedArgs } from './args.js';

export interface Driver {
  readonly program: string;
  readonly summary: string;
  readonly options: OptionTable;
  /** Resolves to the process exit code. */
  main(args: ParsedArgs): Promise<number>;
}

/**
 * Exit 2 on bad arguments (as argparse does), 1 on any other failure. The exit code is set rather than
 * forced with process.exit so that everything written to piped stdout/stderr reaches the pipeline.
 */
export async function runDriver(driver: Driver): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage(driver.program, driver.summary, driver.options));
    return;
  }
  try {
    process.exitCode = await driver.main(parseArgs(argv, driver.options));
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(
        `usage: ${driver.program} [options] (see --help)\n${driver.program}: error: ${error.message}\n`,
      );
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`${driver.program}: error: ${describeError(error)}\n`);
    process.exitCode = 1;
  }
}

/** fetch() reports a refused connection as "fetch failed" and puts the reason in `cause`; show both. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? ` (${describeError(error.cause)})` : '';
  return `${error.message}${cause}`;
}

/** The pipeline turns the latest of these stderr lines into Temporal heartbeat details. */
export function reportProgress(phase: string, done: number, total: number): void {
  process.stderr.write(`progress: ${phase} ${done}/${total}\n`);
}

/** FIFO like asyncio.Semaphore, so requests start in the order they were queued. */
export class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`semaphore limit must be >= 1, got ${limit}`);
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active < this.limit) this.active++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      // A waiter inherits the slot, so `active` only drops when nobody is queued.
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
