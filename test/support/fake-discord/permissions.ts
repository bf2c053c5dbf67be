import { OverwriteType, PermissionFlagsBits } from 'discord-api-types/v10';

/** A permission by its discord-api-types name, e.g. `'SendMessages'`. */
export type PermissionName = keyof typeof PermissionFlagsBits;

/** Permissions as a bitfield or a list of names. */
export type PermissionInput = bigint | readonly PermissionName[];

/** Every permission bit Discord defines. */
export const ALL_PERMISSIONS: bigint = Object.values(PermissionFlagsBits).reduce((all, bit) => all | bit, 0n);

/** What a new server's `@everyone` role may do (Discord's defaults for the text side). */
export const DEFAULT_EVERYONE_PERMISSIONS: bigint = toPermissionBits([
  'ViewChannel',
  'CreateInstantInvite',
  'ChangeNickname',
  'SendMessages',
  'SendMessagesInThreads',
  'CreatePublicThreads',
  'CreatePrivateThreads',
  'EmbedLinks',
  'AttachFiles',
  'AddReactions',
  'UseExternalEmojis',
  'UseExternalStickers',
  'MentionEveryone',
  'ReadMessageHistory',
  'UseApplicationCommands',
  'Connect',
  'Speak',
  'Stream',
  'UseVAD',
]);

/** What the bot's managed role gets when the invite asked for the usual feed-bot permissions. */
export const DEFAULT_BOT_PERMISSIONS: bigint = toPermissionBits([
  'ViewChannel',
  'SendMessages',
  'SendMessagesInThreads',
  'CreatePublicThreads',
  'EmbedLinks',
  'AttachFiles',
  'ReadMessageHistory',
  'MentionEveryone',
  'UseApplicationCommands',
]);

/** Converts names or a bitfield to a bitfield. */
export function toPermissionBits(input: PermissionInput): bigint {
  if (typeof input === 'bigint') return input;
  let bits = 0n;
  for (const name of input) {
    const bit = PermissionFlagsBits[name] as bigint | undefined;
    if (bit === undefined) throw new TypeError(`unknown permission name: ${String(name)}`);
    bits |= bit;
  }
  return bits;
}

/** The canonical names of the bits set in a bitfield (for readable test failures). */
export function permissionNames(bits: bigint): PermissionName[] {
  const names: PermissionName[] = [];
  const seen = new Set<bigint>();
  for (const [name, bit] of Object.entries(PermissionFlagsBits) as [PermissionName, bigint][]) {
    if ((bits & bit) === bit && !seen.has(bit)) {
      seen.add(bit);
      names.push(name);
    }
  }
  return names;
}

/** A channel permission overwrite with bitfields. */
export interface Overwrite {
  id: string;
  type: OverwriteType;
  allow: bigint;
  deny: bigint;
}

/** Who is asking: enough of a member to compute permissions. */
export interface PermissionSubject {
  userId: string;
  roleIds: readonly string[];
}

/** The server-wide facts permissions depend on. */
export interface PermissionGuild {
  id: string;
  ownerId: string;
  /** Permissions of each role by id, including `@everyone` (whose id is the guild's). */
  rolePermissions: ReadonlyMap<string, bigint>;
}

/** A member's server-wide permissions: `@everyone` plus their roles; owners and administrators get all. */
export function basePermissions(guild: PermissionGuild, subject: PermissionSubject): bigint {
  if (subject.userId === guild.ownerId) return ALL_PERMISSIONS;
  let bits = guild.rolePermissions.get(guild.id) ?? 0n;
  for (const roleId of subject.roleIds) bits |= guild.rolePermissions.get(roleId) ?? 0n;
  if ((bits & PermissionFlagsBits.Administrator) !== 0n) return ALL_PERMISSIONS;
  return bits;
}

/**
 * A member's permissions in one channel, the way Discord computes them: base permissions, then the
 * `@everyone` overwrite, the role overwrites together, then the member's own overwrite. Without
 * View Channel nothing else applies, and without the right to post (Send Messages, or Send Messages
 * in Threads inside a thread) the rights that only qualify a message (embeds, files, mentions) go too.
 */
export function channelPermissions(
  guild: PermissionGuild,
  subject: PermissionSubject,
  overwrites: readonly Overwrite[],
  options: { inThread?: boolean } = {},
): bigint {
  const base = basePermissions(guild, subject);
  if (base === ALL_PERMISSIONS) return ALL_PERMISSIONS;
  let bits = base;
  const everyone = overwrites.find((o) => o.type === OverwriteType.Role && o.id === guild.id);
  if (everyone) bits = (bits & ~everyone.deny) | everyone.allow;
  let roleAllow = 0n;
  let roleDeny = 0n;
  for (const o of overwrites) {
    if (o.type === OverwriteType.Role && o.id !== guild.id && subject.roleIds.includes(o.id)) {
      roleAllow |= o.allow;
      roleDeny |= o.deny;
    }
  }
  bits = (bits & ~roleDeny) | roleAllow;
  const own = overwrites.find((o) => o.type === OverwriteType.Member && o.id === subject.userId);
  if (own) bits = (bits & ~own.deny) | own.allow;
  if ((bits & PermissionFlagsBits.ViewChannel) === 0n) return 0n;
  // In a thread (whose overwrites are its parent's) posting rests on Send Messages in Threads instead.
  const sendBit = options.inThread
    ? PermissionFlagsBits.SendMessagesInThreads
    : PermissionFlagsBits.SendMessages;
  if ((bits & sendBit) === 0n) {
    bits &= ~(
      PermissionFlagsBits.SendTTSMessages |
      PermissionFlagsBits.MentionEveryone |
      PermissionFlagsBits.EmbedLinks |
      PermissionFlagsBits.AttachFiles
    );
  }
  return bits;
}

/** Whether every bit of `required` is in `bits`. */
export function hasAll(bits: bigint, required: bigint): boolean {
  return (bits & required) === required;
}
