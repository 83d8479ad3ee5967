/** Log lines for `docker logs`: timestamp, level, which program, message. */
export type Logger = (message: string, level?: 'INFO' | 'WARNING' | 'ERROR') => void;

export function createLogger(component: string): Logger {
  return (message, level = 'INFO') => {
    process.stdout.write(`${new Date().toISOString()} ${level} [${component}] ${message}\n`);
  };
}

/** Stops the program on SIGTERM or SIGINT (`docker stop`) after `close` ran, with exit code 0. */
export function exitOnSignals(log: Logger, close: () => void): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      log(`received ${signal}, shutting down`);
      close();
      process.exit(0);
    });
  }
}
