import { randomBytes } from 'node:crypto';
import type {
  APIAllowedMentions,
  APIApplicationCommand,
  APIApplicationCommandOption,
  APIApplicationCommandOptionChoice,
  APIMessage,
} from 'discord-api-types/v10';
import {
  ApplicationCommandOptionType,
  ApplicationCommandType,
  InteractionContextType,
  InteractionType,
  MessageFlags,
  PermissionFlagsBits,
} from 'discord-api-types/v10';
import { CommandRefusedError, FakeDiscordUsageError, InteractionNotAcknowledgedError } from './errors';
import type { ChangeNotifier, WaitOptions } from './notifier';
import { DEFAULT_WAIT_MS } from './notifier';
import { hasAll } from './permissions';
import type { MessageRecord, World } from './world';

/** A value for a command option: ids for user, channel, role and mentionable options. */
export type OptionValue = string | number | boolean;

/** A slash command invocation, as a member would type it. */
export interface InvokeCommandInput {
  guildId: string;
  channelId: string;
  /** The invoking member: a user id, or anything with the user's `id` (e.g. what `addMember` returns). */
  member: string | { readonly id: string };
  /** The command's name, e.g. `'feed'`. */
  name: string;
  subcommandGroup?: string;
  subcommand?: string;
  /** Option values by name. */
  options?: Readonly<Record<string, OptionValue>>;
  /** The member's client locale (default `en-US`). */
  locale?: string;
}

/** An autocomplete request: the member is typing into option `focused`; its partial text is `options[focused]`. */
export interface AutocompleteInput extends InvokeCommandInput {
  focused: string;
}

/** A message as stored by the fake: Discord's message object plus the `allowed_mentions` the bot sent. */
export type PostedMessage = APIMessage & { allowed_mentions: APIAllowedMentions | null };

/** How the bot first answered an interaction. */
export type Acknowledgement = 'reply' | 'deferred-reply' | 'autocomplete' | 'modal';

/** What the bot did with an interaction, as Discord recorded it. */
export interface InteractionResponse {
  id: string;
  token: string;
  kind: 'command' | 'autocomplete';
  /** Whether a gateway session received the interaction at all. */
  delivered: boolean;
  acknowledgement: Acknowledgement | null;
  /** Set once the initial-response deadline passed without an acknowledgement. */
  expired: boolean;
  ephemeral: boolean | null;
  /** The original response message after any edits; while deferred it carries the Loading flag. */
  reply: PostedMessage | null;
  /** How many times the original response was edited. */
  edits: number;
  replyDeleted: boolean;
  followUps: PostedMessage[];
  /** Autocomplete choices offered. */
  choices: APIApplicationCommandOptionChoice[] | null;
  /** The modal shown, if any. */
  modal: unknown;
  /** Error codes returned for refused responses (10062 too late, 40060 already acknowledged). */
  refusals: number[];
}

/** Internal mutable state of one interaction. */
export interface InteractionRecord {
  id: string;
  token: string;
  kind: 'command' | 'autocomplete';
  guildId: string;
  channelId: string;
  userId: string;
  createdAt: number;
  delivered: boolean;
  acknowledgement: Acknowledgement | null;
  ephemeral: boolean | null;
  replyId: string | null;
  edits: number;
  replyDeleted: boolean;
  followUpIds: string[];
  choices: APIApplicationCommandOptionChoice[] | null;
  modal: unknown;
  refusals: number[];
  /** Messages of this interaction (reply and follow-ups), ephemeral ones included. */
  messages: Map<string, MessageRecord>;
}

/** Timing rules for interactions. */
export interface InteractionTiming {
  /** Time for the initial response (Discord: 3 s). */
  deadlineMs: number;
  /** Lifetime of the interaction token for edits and follow-ups (Discord: 15 min). */
  tokenLifetimeMs: number;
}

/** A handle on an invoked interaction: wait for and read what the bot answered. */
export class InteractionHandle {
  constructor(
    readonly record: InteractionRecord,
    private readonly registry: InteractionRegistry,
  ) {}

  /** The interaction id. */
  get id(): string {
    return this.record.id;
  }

  /** The current state of the response. */
  get response(): InteractionResponse {
    return this.registry.snapshot(this.record);
  }

  /** Resolves at the first acknowledgement; rejects with InteractionNotAcknowledgedError after the deadline. */
  acknowledged(options: WaitOptions = {}): Promise<InteractionResponse> {
    return this.waitFor((r) => r.acknowledgement !== null, { what: 'an acknowledgement', ...options });
  }

  /**
   * Resolves once the member can see an answer: a reply, the first edit of a deferred reply,
   * autocomplete choices or a modal. Rejects if the deadline passes without acknowledgement.
   */
  answered(options: WaitOptions = {}): Promise<InteractionResponse> {
    return this.waitFor(
      (r) =>
        r.choices !== null ||
        r.modal !== null ||
        (r.reply !== null && ((r.reply.flags ?? 0) & MessageFlags.Loading) === 0) ||
        (r.acknowledgement === 'deferred-reply' && r.replyDeleted),
      { what: 'a visible answer', ...options },
    );
  }

  /** Resolves once the bot has sent `count` follow-ups. */
  followUps(count: number, options: WaitOptions = {}): Promise<InteractionResponse> {
    return this.waitFor((r) => r.followUps.length >= count, { what: `${count} follow-up(s)`, ...options });
  }

  /** Resolves once `predicate` holds; rejects early if the interaction expired unacknowledged. */
  waitFor(
    predicate: (response: InteractionResponse) => boolean,
    options: WaitOptions = {},
  ): Promise<InteractionResponse> {
    return this.registry.waitFor(this.record, predicate, options);
  }
}

/** Keeps interactions by id and token, and builds their payloads. */
export class InteractionRegistry {
  readonly #byId = new Map<string, InteractionRecord>();
  readonly #byToken = new Map<string, InteractionRecord>();
  readonly #timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly world: World,
    private readonly notifier: ChangeNotifier,
    readonly timing: InteractionTiming,
  ) {}

  /** Finds an interaction by id and token (the callback route). */
  byIdAndToken(id: string, token: string): InteractionRecord | undefined {
    const record = this.#byId.get(id);
    return record?.token === token ? record : undefined;
  }

  /** Finds an interaction by token (webhook routes). */
  byToken(token: string): InteractionRecord | undefined {
    return this.#byToken.get(token);
  }

  /** Whether the initial-response window is over without an acknowledgement. */
  isExpired(record: InteractionRecord, now = Date.now()): boolean {
    return record.acknowledgement === null && now > record.createdAt + this.timing.deadlineMs;
  }

  /** Whether the token still works for edits and follow-ups. */
  tokenAlive(record: InteractionRecord, now = Date.now()): boolean {
    return now <= record.createdAt + this.timing.tokenLifetimeMs;
  }

  /**
   * Builds an interaction the way Discord would for this member, or refuses it like Discord's
   * client does. The payload is returned for dispatch; the handle follows the response.
   */
  create(
    kind: 'command' | 'autocomplete',
    input: InvokeCommandInput | AutocompleteInput,
  ): {
    payload: Record<string, unknown>;
    handle: InteractionHandle;
  } {
    const world = this.world;
    const guild = world.guilds.get(input.guildId);
    if (!guild) throw new FakeDiscordUsageError(`no guild ${input.guildId}`);
    const channel = world.channels.get(input.channelId);
    if (channel?.guildId !== guild.id)
      throw new FakeDiscordUsageError(`no channel ${input.channelId} in guild ${guild.id}`);
    const userId = typeof input.member === 'string' ? input.member : input.member.id;
    const member = world.member(guild.id, userId);
    if (!member) throw new FakeDiscordUsageError(`user ${userId} is not a member of guild ${guild.id}`);

    const command =
      world
        .commandsIn(guild.id)
        .find((c) => c.name === input.name && c.type === ApplicationCommandType.ChatInput) ??
      world
        .commandsIn(null)
        .find((c) => c.name === input.name && c.type === ApplicationCommandType.ChatInput);
    if (!command) {
      throw new CommandRefusedError(
        'not-registered',
        `no slash command /${input.name} is registered for guild ${guild.id}`,
      );
    }
    if (command.contexts && !command.contexts.includes(InteractionContextType.Guild)) {
      throw new CommandRefusedError(
        'context-not-allowed',
        `/${command.name} cannot be used in servers (contexts: ${command.contexts.join(',')})`,
      );
    }
    const memberPermissions = world.permissionsIn(channel.id, userId);
    if (
      !hasAll(memberPermissions, PermissionFlagsBits.UseApplicationCommands | PermissionFlagsBits.ViewChannel)
    ) {
      throw new CommandRefusedError(
        'cannot-use-application-commands',
        `user ${userId} cannot use application commands in ${channel.id}`,
      );
    }
    if (command.default_member_permissions !== null) {
      const required = BigInt(command.default_member_permissions);
      const isAdmin = hasAll(memberPermissions, PermissionFlagsBits.Administrator);
      // "0" means administrators only; otherwise every listed bit is needed.
      if (!isAdmin && (required === 0n || !hasAll(memberPermissions, required))) {
        throw new CommandRefusedError(
          'missing-permissions',
          `user ${userId} lacks the default member permissions (${command.default_member_permissions}) of /${command.name}`,
        );
      }
    }

    const focused = kind === 'autocomplete' ? (input as AutocompleteInput).focused : undefined;
    const { options, resolved } = this.buildOptions(command, input, focused, userId);

    const id = world.nextId();
    const token = `aW50ZXJhY3Rpb246${id}:${randomBytes(32).toString('base64url')}`;
    const data: Record<string, unknown> = {
      id: command.id,
      name: command.name,
      type: ApplicationCommandType.ChatInput,
      options,
    };
    if (command.guild_id) data.guild_id = command.guild_id;
    if (Object.keys(resolved).length > 0) data.resolved = resolved;

    const apiMember = world.apiMember(member);
    const payload: Record<string, unknown> = {
      id,
      application_id: world.bot.id,
      type:
        kind === 'command'
          ? InteractionType.ApplicationCommand
          : InteractionType.ApplicationCommandAutocomplete,
      token,
      version: 1,
      guild_id: guild.id,
      guild: { id: guild.id, locale: 'en-US', features: [] },
      channel_id: channel.id,
      channel: world.apiChannel(channel),
      member: { ...apiMember, permissions: memberPermissions.toString() },
      app_permissions: world.permissionsIn(channel.id, world.bot.id).toString(),
      locale: input.locale ?? 'en-US',
      guild_locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: { '0': guild.id },
      context: InteractionContextType.Guild,
      attachment_size_limit: 10 * 1024 * 1024,
      data,
    };

    const record: InteractionRecord = {
      id,
      token,
      kind,
      guildId: guild.id,
      channelId: channel.id,
      userId,
      createdAt: Date.now(),
      delivered: false,
      acknowledgement: null,
      ephemeral: null,
      replyId: null,
      edits: 0,
      replyDeleted: false,
      followUpIds: [],
      choices: null,
      modal: null,
      refusals: [],
      messages: new Map(),
    };
    this.#byId.set(id, record);
    this.#byToken.set(token, record);
    // Wake waiters when the deadline passes so they can fail fast with a clear error.
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.notifier.notify();
    }, this.timing.deadlineMs + 1);
    timer.unref();
    this.#timers.add(timer);
    return { payload, handle: new InteractionHandle(record, this) };
  }

  /** A copy of the public view of an interaction's state. */
  snapshot(record: InteractionRecord): InteractionResponse {
    const messageOf = (id: string | null): PostedMessage | null => {
      const stored = id ? record.messages.get(id) : undefined;
      return stored ? toPosted(stored) : null;
    };
    return {
      id: record.id,
      token: record.token,
      kind: record.kind,
      delivered: record.delivered,
      acknowledgement: record.acknowledgement,
      expired: this.isExpired(record),
      ephemeral: record.ephemeral,
      reply: record.replyDeleted ? null : messageOf(record.replyId),
      edits: record.edits,
      replyDeleted: record.replyDeleted,
      followUps: record.followUpIds.flatMap((id) => messageOf(id) ?? []),
      choices: record.choices ? structuredClone(record.choices) : null,
      modal: structuredClone(record.modal),
      refusals: [...record.refusals],
    };
  }

  /** Waits for a condition on an interaction's response. */
  waitFor(
    record: InteractionRecord,
    predicate: (response: InteractionResponse) => boolean,
    options: WaitOptions = {},
  ): Promise<InteractionResponse> {
    return this.notifier.waitFor(
      () => {
        const snapshot = this.snapshot(record);
        if (predicate(snapshot)) return snapshot;
        if (snapshot.expired) throw new InteractionNotAcknowledgedError(record.id, this.timing.deadlineMs);
        return undefined;
      },
      {
        timeoutMs: options.timeoutMs ?? DEFAULT_WAIT_MS,
        what: `${options.what ?? 'a response'} to interaction ${record.id}`,
      },
    );
  }

  /** Cancels the deadline timers. */
  close(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  private buildOptions(
    command: APIApplicationCommand,
    input: InvokeCommandInput,
    focused: string | undefined,
    userId: string,
  ): { options: Record<string, unknown>[]; resolved: Record<string, Record<string, unknown>> } {
    const resolved: Record<string, Record<string, unknown>> = {};
    const top = command.options ?? [];
    const hasSubcommands = top.some(
      (o) =>
        o.type === ApplicationCommandOptionType.Subcommand ||
        o.type === ApplicationCommandOptionType.SubcommandGroup,
    );
    const wrap: ((leaf: Record<string, unknown>[]) => Record<string, unknown>[])[] = [];
    let leafDefinitions: readonly APIApplicationCommandOption[] = top;
    let path = `/${command.name}`;
    if (hasSubcommands) {
      let container: readonly APIApplicationCommandOption[] = top;
      if (input.subcommandGroup !== undefined) {
        const group = top.find(
          (o) => o.type === ApplicationCommandOptionType.SubcommandGroup && o.name === input.subcommandGroup,
        );
        if (group?.type !== ApplicationCommandOptionType.SubcommandGroup) {
          throw new FakeDiscordUsageError(`${path} has no subcommand group "${input.subcommandGroup}"`);
        }
        container = group.options ?? [];
        path += ` ${group.name}`;
        wrap.push((leaf) => [
          { type: ApplicationCommandOptionType.SubcommandGroup, name: group.name, options: leaf },
        ]);
      }
      const sub = container.find(
        (o) => o.type === ApplicationCommandOptionType.Subcommand && o.name === input.subcommand,
      );
      if (sub?.type !== ApplicationCommandOptionType.Subcommand) {
        const names = container
          .filter((o) => o.type === ApplicationCommandOptionType.Subcommand)
          .map((o) => o.name);
        throw new FakeDiscordUsageError(
          `${path} needs a subcommand, one of: ${names.join(', ')} (got ${String(input.subcommand)})`,
        );
      }
      path += ` ${sub.name}`;
      leafDefinitions = sub.options ?? [];
      wrap.push((leaf) => [{ type: ApplicationCommandOptionType.Subcommand, name: sub.name, options: leaf }]);
    } else if (input.subcommand !== undefined || input.subcommandGroup !== undefined) {
      throw new FakeDiscordUsageError(`${path} has no subcommands`);
    }

    const given = input.options ?? {};
    const leaf: Record<string, unknown>[] = [];
    for (const definition of leafDefinitions) {
      const raw = given[definition.name];
      const isFocused = definition.name === focused;
      if (isFocused) {
        if (!('autocomplete' in definition) || definition.autocomplete !== true) {
          throw new FakeDiscordUsageError(`${path} option "${definition.name}" does not have autocomplete`);
        }
        // Discord sends the focused option's partial text as typed, whatever the option's type.
        leaf.push({
          type: definition.type,
          name: definition.name,
          value: raw === undefined ? '' : String(raw),
          focused: true,
        });
        continue;
      }
      if (raw === undefined) {
        if ('required' in definition && definition.required === true && focused === undefined) {
          throw new FakeDiscordUsageError(`${path} needs option "${definition.name}"`);
        }
        continue;
      }
      leaf.push({
        type: definition.type,
        name: definition.name,
        value: this.convertOption(path, definition, raw, input, userId, resolved),
      });
    }
    for (const name of Object.keys(given)) {
      if (!leafDefinitions.some((d) => d.name === name)) {
        throw new FakeDiscordUsageError(
          `${path} has no option "${name}" (has: ${leafDefinitions.map((d) => d.name).join(', ')})`,
        );
      }
    }
    if (focused !== undefined && !leafDefinitions.some((d) => d.name === focused)) {
      throw new FakeDiscordUsageError(`${path} has no option "${focused}" to focus`);
    }
    let options = leaf;
    for (const w of wrap.reverse()) options = w(options);
    return { options, resolved };
  }

  private convertOption(
    path: string,
    definition: APIApplicationCommandOption,
    raw: OptionValue,
    input: InvokeCommandInput,
    userId: string,
    resolved: Record<string, Record<string, unknown>>,
  ): OptionValue {
    const world = this.world;
    const where = `${path} option "${definition.name}"`;
    const choices =
      'choices' in definition
        ? (definition.choices as APIApplicationCommandOptionChoice[] | undefined)
        : undefined;
    const checkChoices = () => {
      if (choices && choices.length > 0 && !choices.some((c) => c.value === raw)) {
        throw new FakeDiscordUsageError(
          `${where} must be one of its choices: ${choices.map((c) => JSON.stringify(c.value)).join(', ')}`,
        );
      }
    };
    switch (definition.type) {
      case ApplicationCommandOptionType.String: {
        if (typeof raw !== 'string') throw new FakeDiscordUsageError(`${where} takes a string`);
        if (definition.min_length !== undefined && raw.length < definition.min_length)
          throw new FakeDiscordUsageError(`${where} is too short`);
        if (definition.max_length !== undefined && raw.length > definition.max_length)
          throw new FakeDiscordUsageError(`${where} is too long`);
        checkChoices();
        return raw;
      }
      case ApplicationCommandOptionType.Integer:
      case ApplicationCommandOptionType.Number: {
        const integer = definition.type === ApplicationCommandOptionType.Integer;
        if (typeof raw !== 'number' || (integer ? !Number.isSafeInteger(raw) : !Number.isFinite(raw))) {
          throw new FakeDiscordUsageError(`${where} takes ${integer ? 'an integer' : 'a number'}`);
        }
        if (definition.min_value !== undefined && raw < definition.min_value)
          throw new FakeDiscordUsageError(`${where} is below ${definition.min_value}`);
        if (definition.max_value !== undefined && raw > definition.max_value)
          throw new FakeDiscordUsageError(`${where} is above ${definition.max_value}`);
        checkChoices();
        return raw;
      }
      case ApplicationCommandOptionType.Boolean:
        if (typeof raw !== 'boolean') throw new FakeDiscordUsageError(`${where} takes a boolean`);
        return raw;
      case ApplicationCommandOptionType.Channel: {
        const channel = typeof raw === 'string' ? world.channels.get(raw) : undefined;
        if (channel?.guildId !== input.guildId)
          throw new FakeDiscordUsageError(`${where} must be a channel id of guild ${input.guildId}`);
        if (
          definition.channel_types &&
          !definition.channel_types.some((t) => Number(t) === Number(channel.type))
        ) {
          throw new FakeDiscordUsageError(
            `${where} accepts channel types ${definition.channel_types.join(', ')}, not ${channel.type}`,
          );
        }
        const api = world.apiChannel(channel) as unknown as Record<string, unknown>;
        (resolved.channels ??= {})[channel.id] = {
          ...api,
          // The invoking member's rights in that channel, as Discord sends them.
          permissions: world.permissionsIn(channel.id, userId).toString(),
        };
        return channel.id;
      }
      case ApplicationCommandOptionType.Role:
        return this.resolveRole(where, raw, input.guildId, resolved);
      case ApplicationCommandOptionType.User:
        return this.resolveUser(where, raw, input.guildId, resolved);
      case ApplicationCommandOptionType.Mentionable: {
        if (typeof raw === 'string' && world.roles.get(raw)?.guildId === input.guildId)
          return this.resolveRole(where, raw, input.guildId, resolved);
        return this.resolveUser(where, raw, input.guildId, resolved);
      }
      default:
        throw new FakeDiscordUsageError(
          `${where}: option type ${definition.type} is not modelled by the fake`,
        );
    }
  }

  private resolveRole(
    where: string,
    raw: OptionValue,
    guildId: string,
    resolved: Record<string, Record<string, unknown>>,
  ): string {
    const role = typeof raw === 'string' ? this.world.roles.get(raw) : undefined;
    if (role?.guildId !== guildId)
      throw new FakeDiscordUsageError(`${where} must be a role id of guild ${guildId}`);
    (resolved.roles ??= {})[role.id] = this.world.apiRole(role);
    return role.id;
  }

  private resolveUser(
    where: string,
    raw: OptionValue,
    guildId: string,
    resolved: Record<string, Record<string, unknown>>,
  ): string {
    const user = typeof raw === 'string' ? this.world.users.get(raw) : undefined;
    if (!user) throw new FakeDiscordUsageError(`${where} must be a known user id`);
    (resolved.users ??= {})[user.id] = this.world.apiUser(user.id);
    const member = this.world.member(guildId, user.id);
    if (member) {
      // Resolved members come without their user, which sits in `resolved.users`.
      const partial: Record<string, unknown> = { ...this.world.apiMember(member) };
      delete partial.user;
      (resolved.members ??= {})[user.id] = {
        ...partial,
        permissions: this.world.basePermissionsOf(guildId, user.id).toString(),
      };
    }
    return user.id;
  }
}

/** The public copy of a stored message. */
export function toPosted(record: MessageRecord): PostedMessage {
  return { ...structuredClone(record.message), allowed_mentions: structuredClone(record.allowedMentions) };
}
