import type {
  APIAllowedMentions,
  APIApplicationCommand,
  APIChannel,
  APIEmbed,
  APIGuildForumTag,
  APIGuildMember,
  APIMessage,
  APIRole,
  APIUser,
  GatewayGuildCreateDispatchData,
  GuildMemberFlags,
  RoleFlags,
  UserFlags,
} from 'discord-api-types/v10';
import type { MessageType, ThreadAutoArchiveDuration } from 'discord-api-types/v10';
import {
  AllowedMentionsTypes,
  ChannelType,
  EmbedType,
  GuildDefaultMessageNotifications,
  GuildExplicitContentFilter,
  GuildMFALevel,
  GuildNSFWLevel,
  GuildPremiumTier,
  GuildSystemChannelFlags,
  GuildVerificationLevel,
  Locale,
  OverwriteType,
  PermissionFlagsBits,
} from 'discord-api-types/v10';
import type { CommandDefinition } from './command-validation';
import type { Overwrite, PermissionGuild } from './permissions';
import { channelPermissions, basePermissions } from './permissions';
import type { SnowflakeGenerator } from './snowflake';

/** A user account (members, the bot). */
export interface UserRecord {
  id: string;
  username: string;
  globalName: string | null;
  bot: boolean;
}

/** A server the bot is in. */
export interface GuildRecord {
  id: string;
  name: string;
  ownerId: string;
  joinedAt: number;
  /** The managed role Discord gives the bot when it joins. */
  botRoleId: string;
}

/** A role; `@everyone` has the guild's id. */
export interface RoleRecord {
  id: string;
  guildId: string;
  name: string;
  permissions: bigint;
  position: number;
  managed: boolean;
  botId: string | null;
  color: number;
  hoist: boolean;
  mentionable: boolean;
}

/** Thread-only state. */
export interface ThreadState {
  ownerId: string;
  archived: boolean;
  locked: boolean;
  autoArchiveDuration: ThreadAutoArchiveDuration;
  createdAt: number;
  messageCount: number;
  totalMessageSent: number;
  appliedTags: string[];
}

/** A guild channel or thread. */
export interface ChannelRecord {
  id: string;
  guildId: string;
  type: ChannelType;
  name: string;
  position: number;
  parentId: string | null;
  topic: string | null;
  nsfw: boolean;
  overwrites: Overwrite[];
  lastMessageId: string | null;
  rateLimitPerUser: number;
  availableTags: APIGuildForumTag[];
  thread: ThreadState | null;
}

/** A member of a guild. */
export interface MemberRecord {
  guildId: string;
  userId: string;
  roleIds: string[];
  nick: string | null;
  joinedAt: number;
}

/** A stored message: what Discord returns, plus what the bot asked for that a message object omits. */
export interface MessageRecord {
  message: APIMessage;
  guildId: string;
  allowedMentions: APIAllowedMentions | null;
  enforceNonce: boolean;
  ephemeral: boolean;
  /** The interaction that produced it (reply or follow-up), if any. */
  interactionId: string | null;
}

/** Channel types that hold messages directly. */
export const MESSAGE_CHANNEL_TYPES = new Set<ChannelType>([
  ChannelType.GuildText,
  ChannelType.GuildAnnouncement,
  ChannelType.GuildVoice,
  ChannelType.GuildStageVoice,
  ChannelType.PublicThread,
  ChannelType.PrivateThread,
  ChannelType.AnnouncementThread,
]);

/** Thread channel types. */
export const THREAD_TYPES = new Set<ChannelType>([
  ChannelType.PublicThread,
  ChannelType.PrivateThread,
  ChannelType.AnnouncementThread,
]);

/** Discord's timestamp format: ISO-8601 with microseconds and an explicit offset. */
export function discordTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000+00:00');
}

/** Everything the fake knows: users, guilds, roles, channels, members, messages and commands. */
export class World {
  readonly users = new Map<string, UserRecord>();
  readonly guilds = new Map<string, GuildRecord>();
  readonly roles = new Map<string, RoleRecord>();
  readonly channels = new Map<string, ChannelRecord>();
  readonly members = new Map<string, MemberRecord>();
  readonly messages = new Map<string, MessageRecord>();
  /** Message ids per channel, oldest first (ephemeral messages are not listed). */
  readonly channelMessages = new Map<string, string[]>();
  globalCommands: APIApplicationCommand[] = [];
  readonly guildCommands = new Map<string, APIApplicationCommand[]>();

  constructor(
    readonly nextId: SnowflakeGenerator,
    readonly bot: UserRecord,
  ) {
    this.users.set(bot.id, bot);
  }

  /** The member record of a user in a guild. */
  member(guildId: string, userId: string): MemberRecord | undefined {
    return this.members.get(`${guildId}:${userId}`);
  }

  /** Roles of a guild, `@everyone` first. */
  guildRoles(guildId: string): RoleRecord[] {
    return [...this.roles.values()]
      .filter((r) => r.guildId === guildId)
      .sort((a, b) => a.position - b.position);
  }

  /** Channels of a guild (threads excluded). */
  guildChannels(guildId: string): ChannelRecord[] {
    return [...this.channels.values()].filter((c) => c.guildId === guildId && c.thread === null);
  }

  /** Threads of a guild. */
  guildThreads(guildId: string): ChannelRecord[] {
    return [...this.channels.values()].filter((c) => c.guildId === guildId && c.thread !== null);
  }

  /** The facts permission arithmetic needs about a guild. */
  permissionGuild(guildId: string): PermissionGuild {
    const guild = this.guilds.get(guildId);
    if (!guild) throw new Error(`no guild ${guildId}`);
    return {
      id: guild.id,
      ownerId: guild.ownerId,
      rolePermissions: new Map(this.guildRoles(guildId).map((r) => [r.id, r.permissions])),
    };
  }

  /** A member's server-wide permissions. */
  basePermissionsOf(guildId: string, userId: string): bigint {
    const member = this.member(guildId, userId);
    if (!member) return 0n;
    return basePermissions(this.permissionGuild(guildId), { userId, roleIds: member.roleIds });
  }

  /** A member's permissions in a channel; a thread uses its parent's overwrites. */
  permissionsIn(channelId: string, userId: string): bigint {
    const channel = this.channels.get(channelId);
    if (!channel) return 0n;
    const member = this.member(channel.guildId, userId);
    if (!member) return 0n;
    const source = channel.thread && channel.parentId ? this.channels.get(channel.parentId) : channel;
    return channelPermissions(
      this.permissionGuild(channel.guildId),
      { userId, roleIds: member.roleIds },
      source?.overwrites ?? [],
      { inThread: channel.thread !== null },
    );
  }

  /** Messages of a channel, oldest first. */
  messagesIn(channelId: string): MessageRecord[] {
    return (this.channelMessages.get(channelId) ?? []).flatMap((id) => {
      const record = this.messages.get(id);
      return record ? [record] : [];
    });
  }

  /** Stores a message and lists it in its channel unless it is ephemeral. */
  storeMessage(record: MessageRecord): void {
    this.messages.set(record.message.id, record);
    if (record.ephemeral) return;
    const list = this.channelMessages.get(record.message.channel_id) ?? [];
    list.push(record.message.id);
    this.channelMessages.set(record.message.channel_id, list);
    const channel = this.channels.get(record.message.channel_id);
    if (channel) {
      channel.lastMessageId = record.message.id;
      if (channel.thread) {
        channel.thread.messageCount += 1;
        channel.thread.totalMessageSent += 1;
      }
      const parent = channel.parentId ? this.channels.get(channel.parentId) : undefined;
      if (channel.thread && parent?.type === ChannelType.GuildForum) parent.lastMessageId = channel.id;
    }
  }

  /** Removes a message from its channel. */
  deleteMessage(messageId: string): void {
    const record = this.messages.get(messageId);
    if (!record) return;
    this.messages.delete(messageId);
    const list = this.channelMessages.get(record.message.channel_id);
    if (list)
      this.channelMessages.set(
        record.message.channel_id,
        list.filter((id) => id !== messageId),
      );
  }

  /** Removes a channel, its threads and their messages; returns the removed threads. */
  deleteChannel(channelId: string): ChannelRecord[] {
    const threads = [...this.channels.values()].filter((c) => c.thread !== null && c.parentId === channelId);
    for (const c of [...threads, this.channels.get(channelId)]) {
      if (!c) continue;
      for (const id of this.channelMessages.get(c.id) ?? []) this.messages.delete(id);
      this.channelMessages.delete(c.id);
      this.channels.delete(c.id);
    }
    for (const c of this.channels.values()) if (c.parentId === channelId) c.parentId = null;
    return threads;
  }

  /** Commands registered in a scope: global when `guildId` is null. */
  commandsIn(guildId: string | null): APIApplicationCommand[] {
    return guildId === null ? this.globalCommands : (this.guildCommands.get(guildId) ?? []);
  }

  /**
   * Replaces a scope's commands like a bulk overwrite: a command keeps its id when one with the same
   * type and name existed, and gets a new version when its definition changed.
   */
  overwriteCommands(
    guildId: string | null,
    definitions: readonly CommandDefinition[],
  ): APIApplicationCommand[] {
    const existing = this.commandsIn(guildId);
    const next = definitions.map((definition) => this.toStoredCommand(guildId, definition, existing));
    if (guildId === null) this.globalCommands = next;
    else this.guildCommands.set(guildId, next);
    return next;
  }

  /** Creates or replaces one command by type and name (`POST …/commands`). */
  upsertCommand(
    guildId: string | null,
    definition: CommandDefinition,
  ): { command: APIApplicationCommand; created: boolean } {
    const existing = this.commandsIn(guildId);
    const command = this.toStoredCommand(guildId, definition, existing);
    const index = existing.findIndex((c) => c.id === command.id);
    const next = [...existing];
    if (index === -1) next.push(command);
    else next[index] = command;
    if (guildId === null) this.globalCommands = next;
    else this.guildCommands.set(guildId, next);
    return { command, created: index === -1 };
  }

  private toStoredCommand(
    guildId: string | null,
    definition: CommandDefinition,
    existing: readonly APIApplicationCommand[],
  ): APIApplicationCommand {
    const previous = existing.find((c) => c.name === definition.name && c.type === definition.type);
    const command: APIApplicationCommand = {
      id: previous?.id ?? this.nextId(),
      application_id: this.bot.id,
      version: previous?.version ?? this.nextId(),
      ...structuredClone(definition),
    };
    if (guildId !== null) command.guild_id = guildId;
    if (
      previous &&
      JSON.stringify({ ...previous, version: '' }) !== JSON.stringify({ ...command, version: '' })
    ) {
      command.version = this.nextId();
    }
    return command;
  }

  // --- Discord-shaped views -------------------------------------------------------------------

  /** A user object as Discord sends it. */
  apiUser(userId: string): APIUser {
    const user = this.users.get(userId);
    if (!user) throw new Error(`no user ${userId}`);
    const api: APIUser = {
      id: user.id,
      username: user.username,
      discriminator: user.bot ? '0000' : '0',
      global_name: user.globalName,
      avatar: null,
      public_flags: 0 as UserFlags,
      flags: 0 as UserFlags,
      banner: null,
      accent_color: null,
      avatar_decoration_data: null,
      collectibles: null,
      primary_guild: null,
    };
    if (user.bot) api.bot = true;
    return api;
  }

  /** A role object. */
  apiRole(role: RoleRecord): APIRole {
    const api: APIRole = {
      id: role.id,
      name: role.name,
      color: role.color,
      colors: { primary_color: role.color, secondary_color: null, tertiary_color: null },
      hoist: role.hoist,
      icon: null,
      unicode_emoji: null,
      position: role.position,
      permissions: role.permissions.toString(),
      managed: role.managed,
      mentionable: role.mentionable,
      flags: 0 as RoleFlags,
    };
    if (role.botId) api.tags = { bot_id: role.botId };
    return api;
  }

  /** A guild member object (with its user). */
  apiMember(member: MemberRecord): APIGuildMember {
    return {
      user: this.apiUser(member.userId),
      nick: member.nick,
      avatar: null,
      banner: null,
      roles: [...member.roleIds],
      joined_at: discordTimestamp(member.joinedAt),
      premium_since: null,
      deaf: false,
      mute: false,
      flags: 0 as GuildMemberFlags,
      pending: false,
      communication_disabled_until: null,
    };
  }

  /** A channel object of the right shape for its type. */
  apiChannel(channel: ChannelRecord): APIChannel {
    const base: Record<string, unknown> = {
      id: channel.id,
      type: channel.type,
      guild_id: channel.guildId,
      name: channel.name,
      parent_id: channel.parentId,
      nsfw: channel.nsfw,
      flags: 0,
    };
    if (channel.thread) {
      const t = channel.thread;
      Object.assign(base, {
        owner_id: t.ownerId,
        last_message_id: channel.lastMessageId,
        rate_limit_per_user: channel.rateLimitPerUser,
        message_count: t.messageCount,
        total_message_sent: t.totalMessageSent,
        member_count: 1,
        applied_tags: [...t.appliedTags],
        thread_metadata: {
          archived: t.archived,
          auto_archive_duration: t.autoArchiveDuration,
          archive_timestamp: discordTimestamp(t.createdAt),
          locked: t.locked,
          create_timestamp: discordTimestamp(t.createdAt),
        },
      });
      return base as unknown as APIChannel;
    }
    base.position = channel.position;
    base.permission_overwrites = channel.overwrites.map((o) => ({
      id: o.id,
      type: o.type,
      allow: o.allow.toString(),
      deny: o.deny.toString(),
    }));
    switch (channel.type) {
      case ChannelType.GuildCategory:
        base.parent_id = null;
        break;
      case ChannelType.GuildVoice:
      case ChannelType.GuildStageVoice:
        Object.assign(base, {
          bitrate: 64000,
          user_limit: 0,
          rtc_region: null,
          last_message_id: channel.lastMessageId,
          rate_limit_per_user: channel.rateLimitPerUser,
        });
        break;
      case ChannelType.GuildForum:
      case ChannelType.GuildMedia:
        Object.assign(base, {
          topic: channel.topic,
          last_message_id: channel.lastMessageId,
          rate_limit_per_user: channel.rateLimitPerUser,
          available_tags: structuredClone(channel.availableTags),
          default_reaction_emoji: null,
          default_sort_order: null,
          default_forum_layout: 0,
          default_thread_rate_limit_per_user: 0,
        });
        break;
      default:
        Object.assign(base, {
          topic: channel.topic,
          last_message_id: channel.lastMessageId,
          rate_limit_per_user: channel.rateLimitPerUser,
          default_thread_rate_limit_per_user: 0,
        });
    }
    return base as unknown as APIChannel;
  }

  /** The full guild object of a GUILD_CREATE dispatch, with the bot's own member in `members`. */
  apiGuildCreate(guildId: string): GatewayGuildCreateDispatchData {
    const guild = this.guilds.get(guildId);
    if (!guild) throw new Error(`no guild ${guildId}`);
    const members = [...this.members.values()].filter((m) => m.guildId === guildId);
    const botMember = members.find((m) => m.userId === this.bot.id);
    return {
      id: guild.id,
      name: guild.name,
      icon: null,
      icon_hash: null,
      splash: null,
      discovery_splash: null,
      banner: null,
      description: null,
      owner_id: guild.ownerId,
      afk_channel_id: null,
      afk_timeout: 300,
      widget_enabled: false,
      widget_channel_id: null,
      verification_level: GuildVerificationLevel.None,
      default_message_notifications: GuildDefaultMessageNotifications.OnlyMentions,
      explicit_content_filter: GuildExplicitContentFilter.Disabled,
      roles: this.guildRoles(guildId).map((r) => this.apiRole(r)),
      emojis: [],
      stickers: [],
      features: [],
      mfa_level: GuildMFALevel.None,
      application_id: null,
      system_channel_id: null,
      system_channel_flags: GuildSystemChannelFlags.SuppressJoinNotifications,
      rules_channel_id: null,
      max_members: 500000,
      vanity_url_code: null,
      premium_tier: GuildPremiumTier.None,
      premium_subscription_count: 0,
      preferred_locale: Locale.EnglishUS,
      public_updates_channel_id: null,
      max_video_channel_users: 25,
      max_stage_video_channel_users: 50,
      nsfw_level: GuildNSFWLevel.Default,
      premium_progress_bar_enabled: false,
      hub_type: null,
      safety_alerts_channel_id: null,
      incidents_data: null,
      joined_at: discordTimestamp(guild.joinedAt),
      large: false,
      unavailable: false,
      member_count: members.length,
      voice_states: [],
      // Like Discord without the privileged members intent: only the bot's own member is sent.
      members: botMember ? [this.apiMember(botMember)] : [],
      channels: this.guildChannels(guildId).map((c) =>
        this.apiChannel(c),
      ) as GatewayGuildCreateDispatchData['channels'],
      threads: this.guildThreads(guildId).map((c) =>
        this.apiChannel(c),
      ) as GatewayGuildCreateDispatchData['threads'],
      presences: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
    };
  }

  /**
   * Builds a message object the way Discord returns it. Mentions list only who was actually
   * notified: the content's mentions filtered by `allowed_mentions` and the author's rights.
   */
  buildMessage(input: {
    /** Defaults to a new snowflake; a forum post's first message shares the thread's id. */
    id?: string;
    channelId: string;
    authorId: string;
    content: string;
    embeds: APIEmbed[];
    nonce?: string | number;
    flags: number;
    type: MessageType;
    allowedMentions: APIAllowedMentions | null;
    tts: boolean;
    components?: unknown[];
    webhookId?: string;
    attachments?: APIMessage['attachments'];
  }): APIMessage {
    const id = input.id ?? this.nextId();
    const mentions = this.resolveMentions(
      input.channelId,
      input.authorId,
      input.content,
      input.allowedMentions,
    );
    const message: APIMessage = {
      id,
      channel_id: input.channelId,
      author: this.apiUser(input.authorId),
      content: input.content,
      timestamp: discordTimestamp(Date.now()),
      edited_timestamp: null,
      tts: input.tts,
      mention_everyone: mentions.everyone,
      mentions: mentions.users.map((u) => this.apiUser(u)),
      mention_roles: mentions.roles,
      attachments: input.attachments ?? [],
      embeds: input.embeds.map(normalizeEmbed),
      pinned: false,
      type: input.type,
      flags: input.flags,
      components: (input.components ?? []) as APIMessage['components'] & unknown[],
    };
    if (input.nonce !== undefined) message.nonce = input.nonce;
    if (input.webhookId) {
      message.webhook_id = input.webhookId;
      message.application_id = this.bot.id;
    }
    const channel = this.channels.get(input.channelId);
    if (channel?.thread) message.position = channel.thread.totalMessageSent;
    return message;
  }

  /** Who a message's content would notify. */
  resolveMentions(
    channelId: string,
    authorId: string,
    content: string,
    allowed: APIAllowedMentions | null,
  ): { users: string[]; roles: string[]; everyone: boolean } {
    const channel = this.channels.get(channelId);
    const guildId = channel?.guildId ?? '';
    const parse = allowed?.parse;
    const userAllowed = (id: string) =>
      !allowed || parse?.includes(AllowedMentionsTypes.User) === true || allowed.users?.includes(id) === true;
    const roleAllowed = (id: string) =>
      !allowed || parse?.includes(AllowedMentionsTypes.Role) === true || allowed.roles?.includes(id) === true;
    const users = [...new Set([...content.matchAll(/<@!?(\d{17,20})>/g)].map((m) => m[1] ?? ''))].filter(
      (id) => this.users.has(id) && userAllowed(id),
    );
    const roles = [...new Set([...content.matchAll(/<@&(\d{17,20})>/g)].map((m) => m[1] ?? ''))].filter(
      (id) => {
        const role = this.roles.get(id);
        return role?.guildId === guildId && roleAllowed(id);
      },
    );
    const canMentionEveryone =
      (this.permissionsIn(channelId, authorId) & PermissionFlagsBits.MentionEveryone) !== 0n;
    const everyone =
      /@(everyone|here)\b/.test(content) &&
      canMentionEveryone &&
      (!allowed || parse?.includes(AllowedMentionsTypes.Everyone) === true);
    return { users, roles, everyone };
  }

  /** An overwrite list entry for a member (type 1). */
  static memberOverwrite(userId: string, allow: bigint, deny: bigint): Overwrite {
    return { id: userId, type: OverwriteType.Member, allow, deny };
  }
}

/** Discord fills in `type: 'rich'` and normalises the timestamp of embeds it stores. */
function normalizeEmbed(embed: APIEmbed): APIEmbed {
  const out: APIEmbed = { type: EmbedType.Rich, ...structuredClone(embed) };
  if (out.timestamp) out.timestamp = discordTimestamp(Date.parse(out.timestamp));
  return out;
}
