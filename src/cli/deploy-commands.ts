import { pathToFileURL } from 'node:url';
import {
  DiscordAPIError,
  HTTPError,
  REST,
  RESTJSONErrorCodes,
  Routes,
  type APIApplication,
} from 'discord.js';
import { config as loadDotenv } from 'dotenv';
import { commands } from '../../commands';
import { ConfigError, loadConfig } from '../config';
import { registerCommands } from '../discord/register-commands';

interface Output {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const USAGE = 'usage: npm run deploy-commands [-- --guild SERVER_ID]';

/** Discord gives up on a request after this long; a CLI should not hang for minutes. */
const REQUEST_TIMEOUT_MS = 15_000;

/** Why deploying stopped; its message is the whole `error:` line. */
export class DeployCommandsError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DeployCommandsError';
  }
}

/**
 * `npm run deploy-commands [-- --guild ID]`: registers Herald's slash commands in one server
 * (instant; `--guild`, else DEV_GUILD_ID) or globally. Resolves to the process exit code; on
 * failure prints one `error:` line.
 */
export async function runDeployCommands(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  output: Output,
): Promise<number> {
  try {
    const guildArgument = parseArguments(argv);
    const config = loadConfig(env, { requireToken: true });
    const guildId = guildArgument ?? config.devGuildId;
    const rest = new REST({ api: config.discordApiBase, retries: 1, timeout: REQUEST_TIMEOUT_MS }).setToken(
      config.discordToken ?? '',
    );
    const application = await discordCall(config.discordApiBase, guildId, () =>
      rest.get(Routes.currentApplication()),
    );
    const applicationId = (application as Pick<APIApplication, 'id'>).id;
    const definitions = commands.map((command) => command.data);
    await discordCall(config.discordApiBase, guildId, () =>
      registerCommands(rest, definitions, { applicationId, guildId }),
    );
    const names = definitions.map((definition) => `/${definition.name}`).join(' and ');
    output.stdout(
      guildId
        ? `Registered ${names} in server ${guildId}; they can be used there now.`
        : `Registered ${names} globally; Discord may take up to an hour to show them in every server.`,
    );
    return 0;
  } catch (error) {
    output.stderr(`error: ${describe(error)}`);
    return 1;
  }
}

function parseArguments(argv: readonly string[]): string | null {
  let guildId: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    let value: string | undefined;
    if (arg === '--guild') value = argv[++i];
    else if (arg.startsWith('--guild=')) value = arg.slice('--guild='.length);
    else throw new DeployCommandsError(`unknown argument ${arg}; ${USAGE}`);
    if (!value || !/^\d{15,21}$/.test(value)) {
      throw new DeployCommandsError(
        `--guild needs a server id (right-click the server with Developer Mode on → Copy Server ID), got "${value ?? ''}"; ${USAGE}`,
      );
    }
    guildId = value;
  }
  return guildId;
}

/** Runs one Discord request, turning what REST throws into a sentence an operator can act on. */
async function discordCall<T>(apiBase: string, guildId: string | null, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof DiscordAPIError) {
      if (error.status === 401) {
        throw new DeployCommandsError(
          'Discord refused the token (401 Unauthorized). Check DISCORD_TOKEN: Developer Portal → your application → Bot → Reset Token.',
          { cause: error },
        );
      }
      if (guildId && (error.code === RESTJSONErrorCodes.MissingAccess || error.status === 403)) {
        throw new DeployCommandsError(
          `Discord refused to register commands in server ${guildId} (${error.status} Missing Access). Invite Herald to that server with the applications.commands scope, or check the id.`,
          { cause: error },
        );
      }
      throw new DeployCommandsError(`Discord answered ${error.status}: ${error.message}`, { cause: error });
    }
    if (error instanceof HTTPError) {
      throw new DeployCommandsError(`Discord answered ${error.status}: ${error.message}`, { cause: error });
    }
    const reason = systemCode(error) ?? (error instanceof Error ? error.message : String(error));
    throw new DeployCommandsError(
      `could not reach Discord at ${apiBase} (${reason}). Check the network, or DISCORD_API_BASE.`,
      { cause: error },
    );
  }
}

function systemCode(error: unknown): string | null {
  for (let current: unknown = error; current instanceof Error; current = current.cause) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string') return code;
    if (current.name === 'AbortError' || current.name === 'TimeoutError') return 'timed out';
  }
  return null;
}

function describe(error: unknown): string {
  if (error instanceof ConfigError) return error.problems.join('; ');
  if (error instanceof DeployCommandsError) return error.message;
  return error instanceof Error ? error.message : String(error);
}

/** `npm run deploy-commands`: loads .env, registers, and exits 0 or 1. */
async function main(): Promise<void> {
  loadDotenv({ quiet: true });
  process.exitCode = await runDeployCommands(process.argv.slice(2), process.env, {
    stdout: (text) => process.stdout.write(`${text}\n`),
    stderr: (text) => process.stderr.write(`${text}\n`),
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main();
}
