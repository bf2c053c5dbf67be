import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIApplicationCommand, APIChannel } from 'discord-api-types/v10';
import { ChannelType, GatewayDispatchEvents, GatewayIntentBits, OverwriteType } from 'discord-api-types/v10';
import { WebSocketServer } from 'ws';
import { FakeDiscordUsageError } from './errors';
import type { GatewayController } from './gateway';
import { FakeGateway } from './gateway';
import type { AutocompleteInput, InteractionHandle, InvokeCommandInput, PostedMessage } from './interactions';
import { InteractionRegistry, toPosted } from './interactions';
import type { WaitOptions } from './notifier';
import { ChangeNotifier } from './notifier';
import type { PermissionInput, PermissionName } from './permissions';
import {
  DEFAULT_BOT_PERMISSIONS,
  DEFAULT_EVERYONE_PERMISSIONS,
  permissionNames,
  toPermissionBits,
} from './permissions';
import type { RateLimitOptions } from './rate-limits';
import { createRateLimiter } from './rate-limits';
import type { FailureInjection, RequestLogEntry, RestStats } from './rest';
import { FakeRest } from './rest';
import { createSnowflakeGenerator } from './snowflake';
import type { ChannelRecord, RoleRecord } from './world';
import { World } from './world';

export { ChannelType, GatewayIntentBits } from 'discord-api-types/v10';
export {
  CommandRefusedError,
  FakeDiscordClosedError,
  FakeDiscordUsageError,
  FakeDiscordWaitTimeoutError,
  InteractionNotAcknowledgedError,
} from './errors';
export type { CommandRefusalReason } from './errors';
export type { GatewayController, GatewayStats } from './gateway';
export type {
  Acknowledgement,
  AutocompleteInput,
  InteractionHandle,
  InteractionResponse,
  InvokeCommandInput,
  OptionValue,
  PostedMessage,
} from './interactions';
export type { WaitOptions } from './notifier';
export type { PermissionInput, PermissionName } from './permissions';
export type { RateLimitOptions, RateLimitWindow } from './rate-limits';
export type { FailureInjection, RequestLogEntry, RestStats } from './rest';
export { MESSAGE_LIMITS } from './message-validation';

/** How to start the fake. Every field is optional. */
export interface FakeDiscordOptions {
  /** The bot token the fake accepts (default: a random, realistic-looking token). */
  token?: string;
  /** The bot's username (default `Herald`). */
  botName?: string;
  /** HELLO's heartbeat interval (Discord: 41,250 ms). Short values make zombie detection fast in tests. */
  heartbeatIntervalMs?: number;
  rateLimits?: RateLimitOptions;
  /** Time for an interaction's initial response (Discord: 3,000 ms). */
  interactionDeadlineMs?: number;
  /** Lifetime of interaction tokens for edits and follow-ups (Discord: 15 min). */
  interactionTokenLifetimeMs?: number;
  /** How long an enforced `nonce` returns the existing message (default 5 min). */
  nonceWindowMs?: number;
  /** Privileged intents enabled for the application (a GatewayIntentBits mask; default none). */
  privilegedIntents?: number;
}

/** Channel types by a friendly name. */
export type ChannelKind = 'text' | 'announcement' | 'forum' | 'category' | 'voice';

/** A permission overwrite for a role or a member. */
export type OverwriteTarget = { roleId: string } | { userId: string };

/** Allowed and denied permissions of an overwrite. */
export interface OverwritePermissions {
  allow?: PermissionInput;
  deny?: PermissionInput;
}

/** A new guild. */
export interface GuildInput {
  name?: string;
  /** The owner's username (the owner becomes a member with every permission). */
  ownerName?: string;
  /** Permissions of the bot's managed role: what the invite link asked for. */
  botPermissions?: PermissionInput;
  /** Permissions of `@everyone`. */
  everyonePermissions?: PermissionInput;
}

/** A created guild's ids. */
export interface GuildInfo {
  id: string;
  name: string;
  ownerId: string;
  /** `@everyone`: same id as the guild. */
  everyoneRoleId: string;
  botRoleId: string;
}

/** A new channel. */
export interface ChannelInput {
  name?: string;
  type?: ChannelKind | ChannelType;
  parentId?: string;
  topic?: string;
  nsfw?: boolean;
  overwrites?: (OverwriteTarget & OverwritePermissions)[];
  /** Forum tags by name. */
  tags?: string[];
}

/** A created channel's ids. */
export interface ChannelInfo {
  id: string;
  guildId: string;
  name: string;
  type: ChannelType;
  parentId: string | null;
}

/** A new role. */
export interface RoleInput {
  name?: string;
  permissions?: PermissionInput;
  mentionable?: boolean;
  color?: number;
}

/** A created role's ids. */
export interface RoleInfo {
  id: string;
  guildId: string;
  name: string;
}

/** A new member. */
export interface MemberInput {
  username?: string;
  roleIds?: string[];
  /** Shorthand: gives the member a new role with these permissions. */
  permissions?: PermissionInput;
  nick?: string;
}

/** A created member: `id` is the user's id, usable as `member` in `invokeCommand`. */
export interface MemberInfo {
  id: string;
  guildId: string;
  username: string;
  roleIds: string[];
}

/** A running fake Discord: REST and gateway on one loopback port, plus the driver API for tests. */
export interface FakeDiscord {
  readonly token: string;
  /** `http://127.0.0.1:PORT/api`, for `new Client({ rest: { api } })` or `new REST({ api })`. */
  readonly apiBase: string;
  /** The gateway URL `GET /gateway/bot` returns. */
  readonly gatewayUrl: string;
  readonly port: number;
  /** The application id, which is also the bot user's id. */
  readonly applicationId: string;
  readonly botUserId: string;
  readonly gateway: GatewayController;
  /** Every request answered so far, oldest first (a copy). */
  readonly requestLog: RequestLogEntry[];
  /** Counters over the answered requests (a copy). */
  readonly stats: RestStats;

  addGuild(input?: GuildInput): GuildInfo;
  /** Removes the bot from a guild (GUILD_DELETE without `unavailable`). */
  removeGuild(guildId: string): void;
  addChannel(guildId: string, input?: ChannelInput): ChannelInfo;
  /** Renames or moves a channel, or changes its topic (CHANNEL_UPDATE). */
  updateChannel(
    channelId: string,
    patch: { name?: string; topic?: string | null; parentId?: string | null; nsfw?: boolean },
  ): void;
  deleteChannel(channelId: string): void;
  addRole(guildId: string, input?: RoleInput): RoleInfo;
  updateRole(
    roleId: string,
    patch: { name?: string; permissions?: PermissionInput; mentionable?: boolean },
  ): void;
  addMember(guildId: string, input?: MemberInput): MemberInfo;
  setMemberRoles(guildId: string, userId: string, roleIds: string[]): void;
  /** Sets (or with `null` removes) the bot's member overwrite in a channel: how a server admin revokes a right there. */
  setBotPermissions(channelId: string, overwrite: OverwritePermissions | null): void;
  /** Sets (or with `null` removes) a role or member overwrite in a channel. */
  setPermissionOverwrite(
    channelId: string,
    target: OverwriteTarget,
    overwrite: OverwritePermissions | null,
  ): void;
  /** The bot's effective permissions in a channel, as Discord computes them. */
  botPermissionsIn(channelId: string): PermissionName[];
  /** The channel object Discord would return, or null. */
  channel(channelId: string): APIChannel | null;

  /** Messages visible in a channel, oldest first (ephemeral replies are not in channels). */
  messages(channelId: string): PostedMessage[];
  /** Any stored message by id, ephemeral ones included. */
  message(messageId: string): PostedMessage | null;
  /** Resolves with the channel's messages once there are at least `count`. */
  waitForMessages(channelId: string, count: number, options?: WaitOptions): Promise<PostedMessage[]>;
  /** Resolves with the first non-undefined `probe()` result, re-checked after every change. */
  waitFor<T>(probe: () => T | undefined, options?: WaitOptions): Promise<T>;
  /** Registered commands: global ones, or those of a guild. */
  commands(guildId?: string): APIApplicationCommand[];

  /** A member runs a slash command; throws CommandRefusedError where Discord would not let them. */
  invokeCommand(input: InvokeCommandInput): InteractionHandle;
  /** A member types into an autocomplete option. */
  autocomplete(input: AutocompleteInput): InteractionHandle;

  injectFailures(spec: FailureInjection): void;
  clearFailures(): void;
  close(): Promise<void>;
}

const CHANNEL_KINDS: Record<ChannelKind, ChannelType> = {
  text: ChannelType.GuildText,
  announcement: ChannelType.GuildAnnouncement,
  forum: ChannelType.GuildForum,
  category: ChannelType.GuildCategory,
  voice: ChannelType.GuildVoice,
};

/** A token shaped like Discord's: base64 user id, timestamp part, HMAC part. */
function makeToken(userId: string): string {
  return `${Buffer.from(userId).toString('base64url')}.${randomBytes(4).toString('base64url')}.${randomBytes(27).toString('base64url')}`;
}

/** Starts a fake Discord on 127.0.0.1 with a free port. Each call is independent; close it when done. */
export async function startFakeDiscord(options: FakeDiscordOptions = {}): Promise<FakeDiscord> {
  const nextId = createSnowflakeGenerator();
  const botId = nextId();
  const token = options.token ?? makeToken(botId);
  const world = new World(nextId, {
    id: botId,
    username: options.botName ?? 'Herald',
    globalName: null,
    bot: true,
  });
  const notifier = new ChangeNotifier();
  let port = 0;
  const urls = () => ({
    api: `http://127.0.0.1:${port}/api`,
    gateway: `ws://127.0.0.1:${port}/gateway`,
    resume: `ws://127.0.0.1:${port}/gateway-resume`,
  });
  const gateway = new FakeGateway({
    token,
    world,
    notifier,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 41_250,
    allowedPrivilegedIntents: options.privilegedIntents ?? 0,
    urls,
  });
  const interactions = new InteractionRegistry(world, notifier, {
    deadlineMs: options.interactionDeadlineMs ?? 3000,
    tokenLifetimeMs: options.interactionTokenLifetimeMs ?? 15 * 60 * 1000,
  });
  const rest = new FakeRest({
    token,
    world,
    gateway,
    interactions,
    limiter: createRateLimiter(options.rateLimits),
    notifier,
    nonceWindowMs: options.nonceWindowMs ?? 5 * 60 * 1000,
    urls,
  });

  const server = createServer((req, res) => {
    if (!req.url?.startsWith('/api/')) {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ message: '404: Not Found', code: 0 }));
      return;
    }
    rest.handle(req, res).catch((error: unknown) => {
      console.error('fake-discord: request failed', error);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    if (!req.url?.startsWith('/gateway')) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => gateway.accept(ws, req));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  port = (server.address() as AddressInfo).port;

  const changed = () => notifier.notify();
  const requireGuild = (guildId: string) => {
    const guild = world.guilds.get(guildId);
    if (!guild) throw new FakeDiscordUsageError(`no guild ${guildId}`);
    return guild;
  };
  const requireChannel = (channelId: string): ChannelRecord => {
    const channel = world.channels.get(channelId);
    if (!channel) throw new FakeDiscordUsageError(`no channel ${channelId}`);
    return channel;
  };
  const overwriteFor = (target: OverwriteTarget, perms: OverwritePermissions) => ({
    id: 'roleId' in target ? target.roleId : target.userId,
    type: 'roleId' in target ? OverwriteType.Role : OverwriteType.Member,
    allow: toPermissionBits(perms.allow ?? 0n),
    deny: toPermissionBits(perms.deny ?? 0n),
  });
  const channelUpdated = (channel: ChannelRecord) => {
    gateway.dispatch(
      channel.thread ? GatewayDispatchEvents.ThreadUpdate : GatewayDispatchEvents.ChannelUpdate,
      world.apiChannel(channel),
      GatewayIntentBits.Guilds,
    );
    changed();
  };
  const newRole = (guildId: string, input: RoleInput & { managed?: boolean; botId?: string }): RoleRecord => {
    const position = world.guildRoles(guildId).length;
    const role: RoleRecord = {
      id: nextId(),
      guildId,
      name: input.name ?? `role-${position}`,
      permissions: toPermissionBits(input.permissions ?? 0n),
      position,
      managed: input.managed ?? false,
      botId: input.botId ?? null,
      color: input.color ?? 0,
      hoist: false,
      mentionable: input.mentionable ?? false,
    };
    world.roles.set(role.id, role);
    return role;
  };
  const setOverwrite = (channelId: string, target: OverwriteTarget, perms: OverwritePermissions | null) => {
    const channel = requireChannel(channelId);
    if (channel.thread)
      throw new FakeDiscordUsageError('threads have no overwrites of their own; change the parent channel');
    const id = 'roleId' in target ? target.roleId : target.userId;
    channel.overwrites = channel.overwrites.filter((o) => o.id !== id);
    if (perms) channel.overwrites.push(overwriteFor(target, perms));
    channelUpdated(channel);
  };

  const discord: FakeDiscord = {
    token,
    apiBase: urls().api,
    gatewayUrl: urls().gateway,
    port,
    applicationId: botId,
    botUserId: botId,
    gateway,
    get requestLog() {
      return rest.log.map((entry) => ({ ...entry }));
    },
    get stats() {
      return { ...rest.stats, byStatus: { ...rest.stats.byStatus } };
    },

    addGuild(input = {}) {
      const id = nextId();
      const ownerId = nextId();
      world.users.set(ownerId, {
        id: ownerId,
        username: input.ownerName ?? 'owner',
        globalName: null,
        bot: false,
      });
      world.roles.set(id, {
        id,
        guildId: id,
        name: '@everyone',
        permissions: toPermissionBits(input.everyonePermissions ?? DEFAULT_EVERYONE_PERMISSIONS),
        position: 0,
        managed: false,
        botId: null,
        color: 0,
        hoist: false,
        mentionable: false,
      });
      const botRole = newRole(id, {
        name: world.bot.username,
        permissions: input.botPermissions ?? DEFAULT_BOT_PERMISSIONS,
        managed: true,
        botId,
      });
      const name = input.name ?? `guild-${world.guilds.size + 1}`;
      const now = Date.now();
      world.guilds.set(id, { id, name, ownerId, joinedAt: now, botRoleId: botRole.id });
      world.members.set(`${id}:${ownerId}`, {
        guildId: id,
        userId: ownerId,
        roleIds: [],
        nick: null,
        joinedAt: now,
      });
      world.members.set(`${id}:${botId}`, {
        guildId: id,
        userId: botId,
        roleIds: [botRole.id],
        nick: null,
        joinedAt: now,
      });
      gateway.dispatch(GatewayDispatchEvents.GuildCreate, world.apiGuildCreate(id));
      changed();
      return { id, name, ownerId, everyoneRoleId: id, botRoleId: botRole.id };
    },

    removeGuild(guildId) {
      requireGuild(guildId);
      for (const channel of world.guildChannels(guildId)) world.deleteChannel(channel.id);
      for (const role of world.guildRoles(guildId)) world.roles.delete(role.id);
      for (const [key, member] of world.members) if (member.guildId === guildId) world.members.delete(key);
      world.guildCommands.delete(guildId);
      world.guilds.delete(guildId);
      gateway.dispatch(GatewayDispatchEvents.GuildDelete, { id: guildId }, GatewayIntentBits.Guilds);
      changed();
    },

    addChannel(guildId, input = {}) {
      requireGuild(guildId);
      const type =
        typeof input.type === 'string' ? CHANNEL_KINDS[input.type] : (input.type ?? ChannelType.GuildText);
      const parent = input.parentId === undefined ? undefined : world.channels.get(input.parentId);
      if (
        input.parentId !== undefined &&
        (parent?.type !== ChannelType.GuildCategory || parent.guildId !== guildId)
      ) {
        throw new FakeDiscordUsageError(`parent ${input.parentId} is not a category of guild ${guildId}`);
      }
      const siblings = world.guildChannels(guildId);
      const channel: ChannelRecord = {
        id: nextId(),
        guildId,
        type,
        name: input.name ?? `channel-${siblings.length + 1}`,
        position: siblings.length,
        parentId: input.parentId ?? null,
        topic: input.topic ?? null,
        nsfw: input.nsfw ?? false,
        overwrites: (input.overwrites ?? []).map((o) => overwriteFor(o, o)),
        lastMessageId: null,
        rateLimitPerUser: 0,
        availableTags: (input.tags ?? []).map((tag) => ({
          id: nextId(),
          name: tag,
          moderated: false,
          emoji_id: null,
          emoji_name: null,
        })),
        thread: null,
      };
      world.channels.set(channel.id, channel);
      gateway.dispatch(
        GatewayDispatchEvents.ChannelCreate,
        world.apiChannel(channel),
        GatewayIntentBits.Guilds,
      );
      changed();
      return { id: channel.id, guildId, name: channel.name, type, parentId: channel.parentId };
    },

    updateChannel(channelId, patch) {
      const channel = requireChannel(channelId);
      if (patch.name !== undefined) channel.name = patch.name;
      if (patch.topic !== undefined) channel.topic = patch.topic;
      if (patch.parentId !== undefined) channel.parentId = patch.parentId;
      if (patch.nsfw !== undefined) channel.nsfw = patch.nsfw;
      channelUpdated(channel);
    },

    deleteChannel(channelId) {
      const channel = requireChannel(channelId);
      const api = world.apiChannel(channel);
      const threads = world.deleteChannel(channelId);
      for (const thread of threads) {
        gateway.dispatch(
          GatewayDispatchEvents.ThreadDelete,
          { id: thread.id, guild_id: thread.guildId, parent_id: thread.parentId, type: thread.type },
          GatewayIntentBits.Guilds,
        );
      }
      gateway.dispatch(
        channel.thread ? GatewayDispatchEvents.ThreadDelete : GatewayDispatchEvents.ChannelDelete,
        api,
        GatewayIntentBits.Guilds,
      );
      changed();
    },

    addRole(guildId, input = {}) {
      requireGuild(guildId);
      const role = newRole(guildId, input);
      gateway.dispatch(
        GatewayDispatchEvents.GuildRoleCreate,
        { guild_id: guildId, role: world.apiRole(role) },
        GatewayIntentBits.Guilds,
      );
      changed();
      return { id: role.id, guildId, name: role.name };
    },

    updateRole(roleId, patch) {
      const role = world.roles.get(roleId);
      if (!role) throw new FakeDiscordUsageError(`no role ${roleId}`);
      if (patch.name !== undefined) role.name = patch.name;
      if (patch.permissions !== undefined) role.permissions = toPermissionBits(patch.permissions);
      if (patch.mentionable !== undefined) role.mentionable = patch.mentionable;
      gateway.dispatch(
        GatewayDispatchEvents.GuildRoleUpdate,
        { guild_id: role.guildId, role: world.apiRole(role) },
        GatewayIntentBits.Guilds,
      );
      changed();
    },

    addMember(guildId, input = {}) {
      requireGuild(guildId);
      const id = nextId();
      const username = input.username ?? `member-${world.users.size}`;
      world.users.set(id, { id, username, globalName: null, bot: false });
      const roleIds = [...(input.roleIds ?? [])];
      for (const roleId of roleIds) {
        if (world.roles.get(roleId)?.guildId !== guildId)
          throw new FakeDiscordUsageError(`no role ${roleId} in guild ${guildId}`);
      }
      if (input.permissions !== undefined) {
        const role = newRole(guildId, { name: `${username}'s role`, permissions: input.permissions });
        gateway.dispatch(
          GatewayDispatchEvents.GuildRoleCreate,
          { guild_id: guildId, role: world.apiRole(role) },
          GatewayIntentBits.Guilds,
        );
        roleIds.push(role.id);
      }
      const member = { guildId, userId: id, roleIds, nick: input.nick ?? null, joinedAt: Date.now() };
      world.members.set(`${guildId}:${id}`, member);
      gateway.dispatch(
        GatewayDispatchEvents.GuildMemberAdd,
        { ...world.apiMember(member), guild_id: guildId },
        GatewayIntentBits.GuildMembers,
      );
      changed();
      return { id, guildId, username, roleIds: [...roleIds] };
    },

    setMemberRoles(guildId, userId, roleIds) {
      const member = world.member(guildId, userId);
      if (!member) throw new FakeDiscordUsageError(`user ${userId} is not a member of guild ${guildId}`);
      member.roleIds = [...roleIds];
      // Discord sends a bot its own member updates without the privileged members intent.
      gateway.dispatch(
        GatewayDispatchEvents.GuildMemberUpdate,
        { ...world.apiMember(member), guild_id: guildId },
        userId === botId ? undefined : GatewayIntentBits.GuildMembers,
      );
      changed();
    },

    setBotPermissions(channelId, overwrite) {
      setOverwrite(channelId, { userId: botId }, overwrite);
    },

    setPermissionOverwrite(channelId, target, overwrite) {
      setOverwrite(channelId, target, overwrite);
    },

    botPermissionsIn(channelId) {
      requireChannel(channelId);
      return permissionNames(world.permissionsIn(channelId, botId));
    },

    channel(channelId) {
      const channel = world.channels.get(channelId);
      return channel ? world.apiChannel(channel) : null;
    },

    messages(channelId) {
      return world.messagesIn(channelId).map(toPosted);
    },

    message(messageId) {
      const record = world.messages.get(messageId);
      return record ? toPosted(record) : null;
    },

    waitForMessages(channelId, count, waitOptions = {}) {
      return notifier.waitFor(
        () => {
          const list = world.messagesIn(channelId);
          return list.length >= count ? list.map(toPosted) : undefined;
        },
        { what: `${count} message(s) in channel ${channelId}`, ...waitOptions },
      );
    },

    waitFor(probe, waitOptions) {
      return notifier.waitFor(probe, waitOptions);
    },

    commands(guildId) {
      return structuredClone(world.commandsIn(guildId ?? null));
    },

    invokeCommand(input) {
      const { payload, handle } = interactions.create('command', input);
      handle.record.delivered = gateway.dispatchInteraction(payload);
      changed();
      return handle;
    },

    autocomplete(input) {
      const { payload, handle } = interactions.create('autocomplete', input);
      handle.record.delivered = gateway.dispatchInteraction(payload);
      changed();
      return handle;
    },

    injectFailures(spec) {
      rest.injectFailures(spec);
    },

    clearFailures() {
      rest.clearFailures();
    },

    async close() {
      interactions.close();
      notifier.close();
      gateway.closeAll();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return discord;
}
