import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs; on a terminal they are pretty-printed so a newcomer can read them, and
 * in production (piped to a file or a collector) they stay one JSON object per line.
 */
export function createLogger(options: { level: string; pretty?: boolean }): Logger {
  const pretty = options.pretty ?? Boolean(process.stdout.isTTY);
  return pino({
    level: options.level,
    base: { app: 'herald' },
    ...(pretty
      ? {
          transport: {
            target: 'pino-pretty',
            options: { colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname,app' },
          },
        }
      : {}),
  });
}

/** A logger that drops everything, for tests and tools that must keep stdout clean. */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}
