import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeDiscord, type FakeDiscord, type FakeDiscordOptions } from './fake-discord/index';
import { startFeedServer, type FeedServer } from './feed-server';
import { testEnvironment } from './herald-harness';
import type { GrowingFeed } from './synthetic-feed';

/** The repository root: where `npm start` runs and `src/index.ts` lives. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * How the bot is launched. `node` is one Node process running `src/index.ts` through tsx's loader,
 * so a signal reaches the bot itself, as under systemd or Docker. `npm-start` is exactly what a
 * newcomer types: npm → sh → tsx → node, four processes in one process group.
 */
export type LaunchMode = 'node' | 'npm-start';

/** One JSON log line the bot wrote to stdout (pino writes JSON when stdout is not a terminal). */
export interface LogRecord {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** How a child process ended. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** How to start a bot process (`HeraldProcesses.spawn`). */
export interface SpawnHeraldOptions {
  /** The bot's configuration variables; nothing else of the test runner's environment is passed on. */
  env: Record<string, string>;
  mode?: LaunchMode;
  /** Default timeout of the waits, in ms. */
  waitTimeoutMs?: number;
}

/** A wait on a child process failed because the process ended first. */
export class HeraldProcessExitedError extends Error {
  constructor(
    readonly what: string,
    readonly exit: ProcessExit,
    output: string,
    options?: ErrorOptions,
  ) {
    super(`Herald exited (code ${exit.code}, signal ${exit.signal}) before ${what}.\n${output}`, options);
    this.name = 'HeraldProcessExitedError';
  }
}

/** A wait on a child process timed out. */
export class HeraldProcessTimeoutError extends Error {
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
    output: string,
    options?: ErrorOptions,
  ) {
    super(`Timed out after ${timeoutMs} ms waiting for ${what}.\n${output}`, options);
    this.name = 'HeraldProcessTimeoutError';
  }
}

/** Variables a child needs to find node and npm; the bot's own settings are never inherited. */
const PASSED_THROUGH = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'SYSTEMROOT'];

const DEFAULT_WAIT_MS = 20_000;

/** The real bot running as a child process, with its output captured and its logs parsed. */
export class HeraldProcess {
  readonly child: ChildProcess;
  readonly mode: LaunchMode;
  /** Settles once the process ended and every process of its group let go of stdout and stderr. */
  readonly closed: Promise<ProcessExit>;
  #stdout = '';
  #stderr = '';
  #pending = '';
  readonly #logs: LogRecord[] = [];
  readonly #waiters = new Set<() => void>();
  readonly #waitTimeoutMs: number;
  #exit: ProcessExit | null = null;

  constructor(options: SpawnHeraldOptions) {
    this.mode = options.mode ?? 'node';
    this.#waitTimeoutMs = options.waitTimeoutMs ?? DEFAULT_WAIT_MS;
    const env: Record<string, string> = {};
    for (const name of PASSED_THROUGH) {
      const value = process.env[name];
      if (value !== undefined) env[name] = value;
    }
    Object.assign(env, options.env);
    const [command, args] =
      this.mode === 'npm-start'
        ? ['npm', ['start']]
        : [process.execPath, ['--import', 'tsx', path.join('src', 'index.ts')]];
    // Its own process group, so cleanup (and a terminal-style Ctrl+C) reaches npm's grandchildren too.
    this.child = spawn(command, args, {
      cwd: REPO_ROOT,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => this.#onStdout(chunk));
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stderr += chunk;
      this.#notify();
    });
    this.closed = new Promise((resolve) => {
      this.child.once('error', (error) => {
        this.#stderr += `spawn failed: ${error.message}\n`;
        this.#exit = { code: null, signal: null };
        this.#notify();
        resolve(this.#exit);
      });
      this.child.once('close', (code, signal) => {
        this.#exit = { code, signal };
        this.#notify();
        resolve(this.#exit);
      });
    });
  }

  /** The process id (of npm, in `npm-start` mode). */
  get pid(): number {
    return this.child.pid ?? -1;
  }

  get stdout(): string {
    return this.#stdout;
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** The JSON log lines written so far, oldest first. */
  get logs(): readonly LogRecord[] {
    return this.#logs;
  }

  /** How the process ended, or null while it runs. */
  get exit(): ProcessExit | null {
    return this.#exit;
  }

  /** Resolves with the first log line whose message is `msg` (or that `match` accepts). */
  waitForLog(match: string | ((record: LogRecord) => boolean), timeoutMs?: number): Promise<LogRecord> {
    const accepts = typeof match === 'string' ? (record: LogRecord) => record.msg === match : match;
    return this.waitFor(
      () => this.#logs.find(accepts),
      typeof match === 'string' ? `the log line "${match}"` : 'a matching log line',
      timeoutMs,
    );
  }

  /** Resolves once the bot logged in, registered its commands and started polling. */
  ready(timeoutMs?: number): Promise<LogRecord> {
    return this.waitForLog('polling started', timeoutMs);
  }

  /**
   * Resolves with the first defined `probe()` result, re-checked on every output and at exit;
   * rejects when the process ends first or the timeout passes.
   */
  waitFor<T>(probe: () => T | undefined, what: string, timeoutMs = this.#waitTimeoutMs): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      const check = () => {
        let value: T | undefined;
        try {
          value = probe();
        } catch (error) {
          finish();
          reject(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        if (value !== undefined) {
          finish();
          resolve(value);
        } else if (this.#exit) {
          finish();
          reject(new HeraldProcessExitedError(what, this.#exit, this.describeOutput()));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new HeraldProcessTimeoutError(what, timeoutMs, this.describeOutput()));
      }, timeoutMs);
      this.#waiters.add(check);
      check();
    });
  }

  /**
   * Sends `signal` to the bot's process (`process`: what systemd or `docker stop` do) or to its
   * whole process group (`group`: what Ctrl+C in a terminal does).
   */
  signal(signal: NodeJS.Signals, target: 'process' | 'group' = 'process'): void {
    if (this.#exit && target === 'process') return;
    try {
      if (target === 'group') process.kill(-this.pid, signal);
      else this.child.kill(signal);
    } catch (error) {
      // ESRCH: everything in the group already ended.
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  }

  /** Sends `signal` and waits until the process and its group have ended, at most `timeoutMs`. */
  stop(
    signal: NodeJS.Signals,
    target: 'process' | 'group' = 'process',
    timeoutMs?: number,
  ): Promise<ProcessExit> {
    this.signal(signal, target);
    return this.waitForExit(timeoutMs);
  }

  /** Waits until the process and every process of its group that holds its output have ended. */
  waitForExit(timeoutMs?: number): Promise<ProcessExit> {
    return this.waitFor(() => this.#exit ?? undefined, 'the process to exit', timeoutMs);
  }

  /** SIGKILLs the whole process group and waits for its output to close; safe to call repeatedly. */
  async kill(): Promise<ProcessExit> {
    this.signal('SIGKILL', 'group');
    return this.closed;
  }

  /** The output so far, for failure messages. */
  describeOutput(): string {
    const tail = (text: string) => (text.length > 4000 ? `…${text.slice(-4000)}` : text);
    return `--- stdout ---\n${tail(this.#stdout)}\n--- stderr ---\n${tail(this.#stderr)}`;
  }

  #onStdout(chunk: string): void {
    this.#stdout += chunk;
    const lines = (this.#pending + chunk).split('\n');
    this.#pending = lines.pop() ?? '';
    for (const line of lines) {
      const record = parseLogLine(line);
      if (record) this.#logs.push(record);
    }
    this.#notify();
  }

  #notify(): void {
    for (const check of [...this.#waiters]) check();
  }
}

function parseLogLine(line: string): LogRecord | null {
  if (!line.startsWith('{')) return null;
  try {
    const value: unknown = JSON.parse(line);
    if (typeof value === 'object' && value !== null && 'msg' in value && 'level' in value) {
      return value as LogRecord;
    }
  } catch {
    // npm's banner and anything else that is not a log line
  }
  return null;
}

/** Keeps every process a test started, so `afterEach` can kill them all even when the test failed. */
export class HeraldProcesses {
  readonly #all: HeraldProcess[] = [];

  /** Starts the bot as a child process (see `LaunchMode`). */
  spawn(options: SpawnHeraldOptions): HeraldProcess {
    const child = new HeraldProcess(options);
    this.#all.push(child);
    return child;
  }

  /** SIGKILLs every process group started through this pool and waits for them. */
  async killAll(): Promise<void> {
    const all = this.#all.splice(0);
    await Promise.all(all.map((child) => child.kill()));
  }
}

/** Everything around a child-process bot: the local Discord, a feed server and a data folder. */
export interface ProcessWorld {
  discord: FakeDiscord;
  feeds: FeedServer;
  /** A fresh temporary folder for the SQLite file. */
  dataDir: string;
  guild: ReturnType<FakeDiscord['addGuild']>;
  channel: ReturnType<FakeDiscord['addChannel']>;
  /** A member with Manage Server, who may run `/feed`. */
  admin: ReturnType<FakeDiscord['addMember']>;
  /** The bot's environment: the test defaults (1 s polling, private feeds allowed), info logs, and `extra`. */
  env(extra?: Record<string, string>): Record<string, string>;
  close(): Promise<void>;
}

/** Starts the local Discord (one server, one channel, one admin) and a feed server; no bot yet. */
export async function startProcessWorld(
  options: { discord?: FakeDiscordOptions } = {},
): Promise<ProcessWorld> {
  const discord = await startFakeDiscord(options.discord);
  const feeds = await startFeedServer();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'herald-process-'));
  const guild = discord.addGuild({ name: 'Readers' });
  const channel = discord.addChannel(guild.id, { name: 'news' });
  const admin = discord.addMember(guild.id, { username: 'admin', permissions: ['ManageGuild'] });
  return {
    discord,
    feeds,
    dataDir,
    guild,
    channel,
    admin,
    env: (extra = {}) => testEnvironment(discord, dataDir, { LOG_LEVEL: 'info', ...extra }),
    async close() {
      await discord.close();
      await feeds.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Serves a growing feed (all its items) at `path`. Each response differs by a comment, so every
 * check parses the feed and diffs it against the stored seen keys instead of stopping at an
 * unchanged body hash: what keeps an item from being posted twice is then the stored state.
 */
export function serveGrowingFeed(feeds: FeedServer, feed: GrowingFeed, path = '/feed.xml'): string {
  let served = 0;
  feeds.route(path, (_req, res) => {
    served++;
    res.writeHead(200, { 'Content-Type': 'application/rss+xml' });
    res.end(feed.xml(1000).replace('?>', `?>\n<!-- response ${served} -->`));
  });
  return feeds.url(path);
}

/**
 * Resolves once `count` checks of `path` have completed since `before` requests: the scheduler
 * never checks a feed twice at once, so the request after the last of them proves it finished.
 */
export async function waitForChecks(
  feeds: FeedServer,
  path: string,
  count: number,
  options: { before?: number; timeoutMs?: number } = {},
): Promise<void> {
  const before = options.before ?? feeds.requestsTo(path).length;
  const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_MS;
  const deadline = Date.now() + timeoutMs;
  // The feed server has no change events; its request count is cheap to re-read.
  while (feeds.requestsTo(path).length - before < count + 1) {
    if (Date.now() > deadline) {
      throw new HeraldProcessTimeoutError(`${count} completed check(s) of ${path}`, timeoutMs, '');
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
