import { OverwriteType, PermissionFlagsBits as P } from 'discord-api-types/v10';
import { describe, expect, it } from 'vitest';
import type { PermissionGuild } from '../support/fake-discord/permissions';
import { ALL_PERMISSIONS, channelPermissions, toPermissionBits } from '../support/fake-discord/permissions';
import { createSnowflakeGenerator, snowflakeTimestamp } from '../support/fake-discord/snowflake';

const guild: PermissionGuild = {
  id: '100000000000000000',
  ownerId: '900000000000000000',
  rolePermissions: new Map([
    ['100000000000000000', P.ViewChannel | P.SendMessages | P.EmbedLinks],
    ['200000000000000000', P.ManageMessages],
    ['300000000000000000', P.Administrator],
  ]),
};
const member = { userId: '500000000000000000', roleIds: ['200000000000000000'] };
const has = (bits: bigint, bit: bigint) => (bits & bit) === bit;

describe('channel permissions', () => {
  it('lets a member overwrite beat role overwrites, which beat the @everyone overwrite', () => {
    const bits = channelPermissions(guild, member, [
      { id: guild.id, type: OverwriteType.Role, allow: 0n, deny: P.SendMessages },
      { id: '200000000000000000', type: OverwriteType.Role, allow: P.SendMessages, deny: P.EmbedLinks },
      { id: member.userId, type: OverwriteType.Member, allow: P.EmbedLinks, deny: 0n },
    ]);
    expect(has(bits, P.SendMessages)).toBe(true);
    expect(has(bits, P.EmbedLinks)).toBe(true);
    expect(has(bits, P.ManageMessages)).toBe(true);
  });

  it('takes every permission away without View Channel', () => {
    const bits = channelPermissions(guild, member, [
      { id: member.userId, type: OverwriteType.Member, allow: 0n, deny: P.ViewChannel },
    ]);
    expect(bits).toBe(0n);
  });

  it('takes Embed Links away with Send Messages, but not in a thread where Send Messages in Threads counts', () => {
    const deny = [
      { id: guild.id, type: OverwriteType.Role, allow: P.SendMessagesInThreads, deny: P.SendMessages },
    ];
    expect(has(channelPermissions(guild, member, deny), P.EmbedLinks)).toBe(false);
    expect(has(channelPermissions(guild, member, deny, { inThread: true }), P.EmbedLinks)).toBe(true);
  });

  it('gives owners and administrators everything, overwrites notwithstanding', () => {
    const denyAll = (id: string) => [{ id, type: OverwriteType.Member, allow: 0n, deny: ALL_PERMISSIONS }];
    expect(channelPermissions(guild, { userId: guild.ownerId, roleIds: [] }, denyAll(guild.ownerId))).toBe(
      ALL_PERMISSIONS,
    );
    const admin = { userId: '600000000000000000', roleIds: ['300000000000000000'] };
    expect(channelPermissions(guild, admin, denyAll(admin.userId))).toBe(ALL_PERMISSIONS);
  });

  it('accepts permission names or a bitfield', () => {
    expect(toPermissionBits(['SendMessages', 'EmbedLinks'])).toBe(P.SendMessages | P.EmbedLinks);
    expect(toPermissionBits(P.ManageGuild)).toBe(P.ManageGuild);
  });
});

describe('snowflakes', () => {
  it('increase strictly, even many within one millisecond, and encode their creation time', () => {
    const next = createSnowflakeGenerator({ now: () => 1_700_000_000_000 });
    const ids = Array.from({ length: 5000 }, () => BigInt(next()));
    expect(ids.every((id, i) => i === 0 || id > (ids[i - 1] ?? 0n))).toBe(true);
    expect(snowflakeTimestamp(String(ids[0]))).toBe(1_700_000_000_000);
    // @discordjs/rest only treats 17–19 digit ids as major parameters.
    expect(String(ids[0])).toMatch(/^\d{17,19}$/);
  });
});
