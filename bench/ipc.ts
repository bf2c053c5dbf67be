/**
 * Request/response calls between the bench orchestrator and its child processes over the IPC
 * channel of `child_process.fork`. Each part of the bench runs in its own process so CPU time and
 * peak RSS are measured for that part alone.
 */
import { fork } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface CallMessage {
  kind: 'call';
  id: number;
  method: string;
  params: unknown;
}

interface ReplyMessage {
  kind: 'reply';
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

/** A call to a child failed there, or the child died before answering. */
export class BenchProcessError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'BenchProcessError';
  }
}

/** A running child process that answers calls. */
export interface BenchProcess {
  readonly name: string;
  readonly pid: number;
  call<T>(method: string, params?: unknown): Promise<T>;
  /** Asks the child to exit and waits for it; kills it when it does not exit in time. */
  close(): Promise<void>;
}

/** How to start a child. */
export interface SpawnOptions {
  /** Extra Node flags, e.g. `--cpu-prof`. */
  nodeFlags?: readonly string[];
  /** Environment variables added to this process's own. */
  env?: Readonly<Record<string, string>>;
}

/**
 * Forks `script` (relative to this file) and waits until it accepts calls: a .ts file under tsx,
 * a bundled .mjs with plain node, as `npm start` runs Herald.
 */
export async function spawnBenchProcess(
  name: string,
  script: string,
  options: SpawnOptions = {},
): Promise<BenchProcess> {
  const path = fileURLToPath(new URL(script, import.meta.url));
  const loader = path.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child = fork(path, [], {
    execArgv: [...loader, ...(options.nodeFlags ?? [])],
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      for (const { reject } of pending.values()) {
        reject(new BenchProcessError(`${name} exited (${signal ?? code}) before answering`));
      }
      pending.clear();
      resolve();
    });
  });
  child.on('message', (message: ReplyMessage) => {
    if (message.kind !== 'reply') return;
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.ok) waiter.resolve(message.result);
    else waiter.reject(new BenchProcessError(`${name}: ${message.error ?? 'failed'}`));
  });

  const handle: BenchProcess = {
    name,
    pid: child.pid ?? -1,
    call<T>(method: string, params?: unknown): Promise<T> {
      if (exited) return Promise.reject(new BenchProcessError(`${name} is not running`));
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
        const message: CallMessage = { kind: 'call', id, method, params };
        child.send(message);
      });
    },
    async close() {
      if (exited) return;
      child.send({ kind: 'exit' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exit;
      clearTimeout(timer);
    },
  };
  await handle.call('ping');
  return handle;
}

/** Handlers a child offers; each takes the call's params and returns JSON-friendly data. */
export type Handlers = Record<string, (params: never) => unknown>;

/**
 * Answers calls from the parent until it says exit (or disconnects); `onExit` releases what the
 * child holds. Errors are sent back with their message and cause chain.
 */
export function serveCalls(handlers: Handlers, onExit: () => Promise<void> = async () => {}): void {
  const send = (message: ReplyMessage) => process.send?.(message);
  let closing = false;
  const shutdown = () => {
    if (closing) return;
    closing = true;
    onExit()
      .catch((error: unknown) => console.error(error))
      .finally(() => process.exit(0));
  };
  process.on('disconnect', shutdown);
  process.on('message', (message: CallMessage | { kind: 'exit' }) => {
    if (message.kind === 'exit') {
      shutdown();
      return;
    }
    if (message.kind !== 'call') return;
    const handler = message.method === 'ping' ? () => 'pong' : handlers[message.method];
    if (!handler) {
      send({ kind: 'reply', id: message.id, ok: false, error: `unknown method ${message.method}` });
      return;
    }
    Promise.resolve()
      .then(() => (handler as (params: unknown) => unknown)(message.params))
      .then(
        (result) => send({ kind: 'reply', id: message.id, ok: true, result }),
        (error: unknown) => send({ kind: 'reply', id: message.id, ok: false, error: describe(error) }),
      );
  });
}

function describe(error: unknown): string {
  const parts: string[] = [];
  for (let current = error, depth = 0; current !== undefined && depth < 5; depth++) {
    parts.push(current instanceof Error ? (current.stack ?? current.message) : JSON.stringify(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join('\ncaused by: ');
}

/** CPU seconds (user + system) this process has used. */
export function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/**
 * CPU seconds of this process's main thread and of all its other threads (V8's GC and compiler
 * helpers, libuv's pool running SQLite), from /proc; null where /proc is missing.
 */
export function cpuSecondsByThread(): { main: number; others: number } | null {
  try {
    const ticksPerSecond = 100;
    let main = 0;
    let others = 0;
    for (const tid of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      // Fields after the command name: state is field 3, utime 14 and stime 15 (1-based).
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const seconds = (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
      if (Number(tid) === process.pid) main += seconds;
      else others += seconds;
    }
    return { main, others };
  } catch {
    return null;
  }
}

/** This process's peak resident set size so far, in MB. */
export function peakRssMb(): number {
  // maxRSS is in kilobytes.
  return process.resourceUsage().maxRSS / 1024;
}
