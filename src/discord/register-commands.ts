import { createHash } from 'node:crypto';
import { Routes, type REST, type RESTPostAPIChatInputApplicationCommandsJSONBody } from 'discord.js';

/** Where commands are registered: one server (instant) or everywhere (global). */
export interface CommandScope {
  applicationId: string;
  guildId: string | null;
}

/** A hash of the definitions and where they go; registration is skipped when it is unchanged. */
export function commandsHash(
  definitions: readonly RESTPostAPIChatInputApplicationCommandsJSONBody[],
  scope: CommandScope,
): string {
  return createHash('sha256').update(JSON.stringify({ definitions, scope })).digest('base64url');
}

/** Overwrites the application's commands (globally, or in one server) with `definitions`. */
export async function registerCommands(
  rest: REST,
  definitions: readonly RESTPostAPIChatInputApplicationCommandsJSONBody[],
  scope: CommandScope,
): Promise<void> {
  const route = scope.guildId
    ? Routes.applicationGuildCommands(scope.applicationId, scope.guildId)
    : Routes.applicationCommands(scope.applicationId);
  await rest.put(route, { body: definitions });
}

/** The store's small key-value corner where the last registration's hash is kept. */
export interface RegistrationMemory {
  get<T>(name: string): Promise<T | undefined>;
  set(name: string, value: unknown): Promise<void>;
}

const HASH_KEY = 'commandsHash';

/** Registers the commands when their definitions (or scope) changed since the last registration. */
export async function registerCommandsIfChanged(
  rest: REST,
  definitions: readonly RESTPostAPIChatInputApplicationCommandsJSONBody[],
  scope: CommandScope,
  memory: RegistrationMemory,
): Promise<boolean> {
  const hash = commandsHash(definitions, scope);
  if ((await memory.get<string>(HASH_KEY)) === hash) return false;
  await registerCommands(rest, definitions, scope);
  await memory.set(HASH_KEY, hash);
  return true;
}

/** The invite link: bot + applications.commands, with View Channel, Send Messages, Embed Links and Send Messages in Threads. */
export function inviteUrl(applicationId: string): string {
  // 1024 View Channel + 2048 Send Messages + 16384 Embed Links + 274877906944 Send Messages in Threads
  const permissions = (1024n + 2048n + 16384n + 274877906944n).toString();
  return `https://discord.com/oauth2/authorize?client_id=${applicationId}&scope=bot%20applications.commands&permissions=${permissions}`;
}
