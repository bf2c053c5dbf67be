import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDeployCommands } from '../../src/cli/deploy-commands';
import { startFakeDiscord, type FakeDiscord, type GuildInfo } from '../support/fake-discord/index';

const ROOT = path.resolve(import.meta.dirname, '../..');

let discord: FakeDiscord;
let guild: GuildInfo;

beforeAll(async () => {
  discord = await startFakeDiscord();
  guild = discord.addGuild({ name: 'Readers' });
});
afterAll(async () => {
  await discord.close();
});

function environment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { DISCORD_TOKEN: discord.token, DISCORD_API_BASE: discord.apiBase, LOG_LEVEL: 'error', ...extra };
}

async function deploy(argv: string[], env: NodeJS.ProcessEnv) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await runDeployCommands(argv, env, {
    stdout: (text) => stdout.push(text),
    stderr: (text) => stderr.push(text),
  });
  return { code, stdout: stdout.join('\n'), stderr: stderr.join('\n') };
}

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('npm run deploy-commands', () => {
  it('registers /feed and /posts in the server given with --guild, usable at once', async () => {
    const result = await deploy(['--guild', guild.id], environment());
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toContain(guild.id);
    expect(
      discord
        .commands(guild.id)
        .map((command) => command.name)
        .sort(),
    ).toEqual(['feed', 'posts']);
    const member = discord.addMember(guild.id, { username: 'reader' });
    const channel = discord.addChannel(guild.id, { name: 'general' });
    // Registered for real: Discord lets a member invoke it.
    expect(() =>
      discord.invokeCommand({
        guildId: guild.id,
        channelId: channel.id,
        member,
        name: 'posts',
        subcommand: 'recent',
      }),
    ).not.toThrow();
  });

  it('registers globally without --guild, or in DEV_GUILD_ID when that is set', async () => {
    const global = await deploy([], environment());
    expect(global.code).toBe(0);
    expect(global.stdout).toMatch(/globally/);
    expect(
      discord
        .commands()
        .map((command) => command.name)
        .sort(),
    ).toEqual(['feed', 'posts']);

    const dev = discord.addGuild({ name: 'Dev' });
    const viaEnv = await deploy(['--guild=' + dev.id], environment());
    expect(viaEnv.code).toBe(0);
    const other = discord.addGuild({ name: 'Dev 2' });
    const fromDevGuild = await deploy([], environment({ DEV_GUILD_ID: other.id }));
    expect(fromDevGuild.code).toBe(0);
    expect(fromDevGuild.stdout).toContain(other.id);
    expect(
      discord
        .commands(other.id)
        .map((command) => command.name)
        .sort(),
    ).toEqual(['feed', 'posts']);
  });

  it.each([
    ['no token', [], { DISCORD_TOKEN: '' }, /DISCORD_TOKEN is missing/],
    ['a token Discord refuses', [], { DISCORD_TOKEN: 'not.a.token' }, /refused the token \(401/],
    ['a malformed server id', ['--guild', 'my-server'], {}, /--guild needs a server id/],
    ['an unknown argument', ['--global'], {}, /unknown argument --global/],
    ['a server Herald is not in', ['--guild', '123456789012345678'], {}, /Missing Access.*Invite Herald/],
  ])('fails with exit 1 and one error line for %s', async (_what, argv, extra, pattern) => {
    const result = await deploy(argv, environment(extra));
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^error: /);
    expect(result.stderr).toMatch(pattern);
  });

  it('fails with one error line when Discord cannot be reached', async () => {
    const port = await closedPort();
    const result = await deploy([], environment({ DISCORD_API_BASE: `http://127.0.0.1:${port}/api` }));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^error: could not reach Discord at http:\/\/127\.0\.0\.1:\d+\/api \(ECONNREFUSED\)/,
    );
    expect(result.stderr.split('\n')).toHaveLength(1);
  });

  it('runs as a command: exit 0 on success, exit 1 with one error line and no stack trace on failure', async () => {
    const target = discord.addGuild({ name: 'Spawned' });
    const run = (argv: string[], env: NodeJS.ProcessEnv) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/deploy-commands.ts', ...argv], {
          cwd: ROOT,
          env: { PATH: process.env['PATH'], ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        child.on('error', reject);
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
      });

    const [ok, failed] = await Promise.all([
      run(['--guild', target.id], environment()),
      run([], environment({ DISCORD_TOKEN: 'wrong.token.here' })),
    ]);

    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(target.id);
    expect(
      discord
        .commands(target.id)
        .map((command) => command.name)
        .sort(),
    ).toEqual(['feed', 'posts']);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toBe('');
    expect(failed.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(failed.stderr).toMatch(/^error: Discord refused the token/);
  });
});
