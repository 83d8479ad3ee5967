import type { Server } from 'node:net';
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

/** Listens, or logs why not and exits 1 (a port already taken must stop the container, not hang it). */
export function listenOrExit(
  server: Server,
  host: string,
  port: number,
  log: Logger,
  onListening: (port: number) => void,
): void {
  server.on('error', (error) => {
    log(`cannot listen on ${host}:${port}: ${error.message}`, 'ERROR');
    process.exit(1);
  });
  server.listen(port, host, () => {
    const address = server.address();
    onListening(typeof address === 'object' && address ? address.port : port);
  });
}
