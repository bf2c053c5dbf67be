import { REST, Routes } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CommandRefusedError,
  FakeDiscordUsageError,
  type InteractionResponse,
  type MemberInfo,
  type OptionValue,
} from '../support/fake-discord/index';
import { startWorld, type HeraldWorld } from '../support/herald-harness';
import { buildRss, GrowingFeed } from '../support/synthetic-feed';

const RSS = { 'content-type': 'application/rss+xml; charset=utf-8' };
const HTML = { 'content-type': 'text/html; charset=utf-8' };

/** What a member sees after running a command. */
interface Answer {
  content: string;
  ephemeral: boolean | null;
  response: InteractionResponse;
}

/** Runs a slash command as `member` would and waits for the answer they can see. */
async function run(
  world: HeraldWorld,
  member: MemberInfo,
  subcommand: string,
  options: Record<string, OptionValue>,
  where: { guildId?: string; channelId?: string } = {},
): Promise<Answer> {
  const handle = world.discord.invokeCommand({
    guildId: where.guildId ?? member.guildId,
    channelId: where.channelId ?? world.channel.id,
    member,
    name: 'feed',
    subcommand,
    options,
  });
  const response = await handle.answered({ timeoutMs: 10_000 });
  expect(response.refusals).toEqual([]);
  return { content: response.reply?.content ?? '', ephemeral: response.ephemeral, response };
}

/** Serves a growing feed at `path` and returns its URL. */
function serve(world: HeraldWorld, path: string, feed: GrowingFeed): string {
  world.feeds.route(path, (_req, res) => {
    res.writeHead(200, RSS);
    res.end(feed.xml());
  });
  return world.feeds.url(path);
}

/** Asserts an answer is a private refusal that changed nothing in the server. */
async function expectRefusedAndNothingStored(
  world: HeraldWorld,
  answer: Answer,
  guildId: string,
  before: number,
  pattern: RegExp,
): Promise<void> {
  expect(answer.ephemeral).toBe(true);
  expect(answer.content).toMatch(pattern);
  expect(answer.response.reply?.allowed_mentions).toEqual({ parse: [] });
  expect(await world.herald.store.subscriptions.listByGuild(guildId)).toHaveLength(before);
}

describe('/feed add', () => {
  let world: HeraldWorld;
  let admin: MemberInfo;

  beforeAll(async () => {
    world = await startWorld();
    admin = world.discord.addMember(world.guild.id, { username: 'admin', permissions: ['ManageGuild'] });
  });
  afterAll(async () => {
    await world.close();
  });

  it("answers privately with the feed's title, the channel and its latest item, and stores the subscription", async () => {
    const feed = new GrowingFeed('Daily Notes');
    feed.publish(4);
    const url = serve(world, '/daily.xml', feed);

    const answer = await run(world, admin, 'add', { url });

    expect(answer.ephemeral).toBe(true);
    expect(answer.content).toContain('**Daily Notes**');
    expect(answer.content).toContain(`<#${world.channel.id}>`);
    expect(answer.content).toContain('Daily Notes post 4');
    expect(answer.content).toContain('https://synthetic.example/posts/4');
    expect(answer.response.reply?.allowed_mentions).toEqual({ parse: [] });
    const [subscription] = await world.herald.store.subscriptions.listByGuild(world.guild.id);
    expect(subscription).toMatchObject({ channelId: world.channel.id, feedUrl: url, createdBy: admin.id });
    expect(answer.content).toContain(subscription!.id);
    // No backfill asked: nothing is queued for posting.
    expect(await world.herald.store.outbox.list(subscription!.id)).toEqual([]);
  });

  it('posts the requested backfill, oldest first, in the chosen channel, pinging the chosen role', async () => {
    const releases = world.discord.addChannel(world.guild.id, { name: 'releases', type: 'announcement' });
    const role = world.discord.addRole(world.guild.id, { name: 'readers', mentionable: true });
    const feed = new GrowingFeed('Release Log');
    feed.publish(6);
    const url = serve(world, '/releases.xml', feed);

    const answer = await run(world, admin, 'add', {
      url,
      channel: releases.id,
      backfill: 3,
      mention: role.id,
    });

    expect(answer.content).toContain(`<#${releases.id}>`);
    expect(answer.content).toMatch(/3 newest items/);
    expect(answer.content).toContain(`<@&${role.id}>`);
    const posted = await world.discord.waitForMessages(releases.id, 3, { timeoutMs: 8000 });
    expect(posted.map((message) => message.embeds[0]?.title)).toEqual([
      'Release Log post 4',
      'Release Log post 5',
      'Release Log post 6',
    ]);
    expect(posted.every((message) => message.mention_roles.includes(role.id))).toBe(true);
    // The confirmation went to the admin only; the channel it was typed in got nothing.
    expect(world.discord.messages(world.channel.id)).toEqual([]);
  });

  it("finds the feed from a web page's <link rel=alternate> and says where it was found", async () => {
    const feed = new GrowingFeed('Blog With Page');
    feed.publish(2);
    const feedUrl = serve(world, '/blog/feed.xml', feed);
    world.feeds.serve('/blog/', {
      headers: HTML,
      body: `<!doctype html><html><head><title>Blog</title>
        <link rel="alternate" type="application/rss+xml" title="RSS" href="/blog/feed.xml">
        </head><body><p>Hello</p></body></html>`,
    });
    const pageUrl = world.feeds.url('/blog/');
    const channel = world.discord.addChannel(world.guild.id, { name: 'blogs' });

    const answer = await run(world, admin, 'add', { url: pageUrl, channel: channel.id });

    expect(answer.content).toContain('**Blog With Page**');
    expect(answer.content).toContain(`<${pageUrl}>`);
    expect(answer.content).toContain(`<${feedUrl}>`);
    const stored = (await world.herald.store.subscriptions.listByGuild(world.guild.id)).find(
      (subscription) => subscription.channelId === channel.id,
    );
    expect(stored?.feedUrl).toBe(feedUrl);
  });

  it('warns when the role to ping is not mentionable and Herald may not mention every role', async () => {
    const channel = world.discord.addChannel(world.guild.id, { name: 'quiet-pings' });
    world.discord.setBotPermissions(channel.id, { deny: ['MentionEveryone'] });
    const silent = world.discord.addRole(world.guild.id, { name: 'silent', mentionable: false });
    const loud = world.discord.addRole(world.guild.id, { name: 'loud', mentionable: true });
    const feed = new GrowingFeed('Role Check');
    feed.publish(1);
    const url = serve(world, '/role-check.xml', feed);

    const warned = await run(world, admin, 'add', { url, channel: channel.id, mention: silent.id });
    world.discord.setBotPermissions(channel.id, null);
    const other = world.discord.addChannel(world.guild.id, { name: 'loud-pings' });
    world.discord.setBotPermissions(other.id, { deny: ['MentionEveryone'] });
    const fine = await run(world, admin, 'add', { url, channel: other.id, mention: loud.id });

    expect(warned.content).toContain('now follows');
    expect(warned.content).toMatch(new RegExp(`<@&${silent.id}> is not mentionable`));
    expect(warned.content).toContain('Mention @everyone, @here, and All Roles');
    expect(warned.response.reply?.mention_roles).toEqual([]);
    expect(fine.content).toContain('now follows');
    expect(fine.content).not.toMatch(/not mentionable/);
  });

  it('takes an address typed without http:// as https, port included', async () => {
    const answer = await run(world, admin, 'add', { url: 'nonexistent.invalid:8443/feed.xml' });
    expect(answer.ephemeral).toBe(true);
    expect(answer.content).toMatch(/Could not reach nonexistent\.invalid:8443/);
  });

  it('shows a feed title full of markdown and mentions as plain text that pings nobody', async () => {
    const url = world.feeds.url('/loud.xml');
    world.feeds.serve('/loud.xml', {
      headers: RSS,
      body: buildRss({
        title: '@everyone **Big** <@&123456789012345678> news',
        items: [{ guid: 'a', title: '@here _read_ this', link: 'https://loud.example/a' }],
      }),
    });
    const channel = world.discord.addChannel(world.guild.id, { name: 'loud' });

    const answer = await run(world, admin, 'add', { url, channel: channel.id });

    const reply = answer.response.reply!;
    expect(reply.mention_everyone).toBe(false);
    expect(reply.mention_roles).toEqual([]);
    expect(reply.allowed_mentions).toEqual({ parse: [] });
    expect(answer.content).not.toContain('**Big**');
    expect(answer.content).toContain('Big');

    // The same title in the list and in the status pings nobody either.
    const id = /id `([A-Za-z0-9]+)`/.exec(answer.content)![1]!;
    for (const [subcommand, options] of [
      ['list', { channel: channel.id }],
      ['status', { feed: id }],
    ] as const) {
      const shown = await run(world, admin, subcommand, options);
      expect(shown.content).toContain('Big');
      expect(shown.response.reply).toMatchObject({
        mention_everyone: false,
        mention_roles: [],
        allowed_mentions: { parse: [] },
      });
    }
  });
});

describe('/feed add refuses bad input with a private explanation and stores nothing', () => {
  let world: HeraldWorld;
  let admin: MemberInfo;
  let guildId: string;

  beforeAll(async () => {
    world = await startWorld();
    guildId = world.guild.id;
    admin = world.discord.addMember(guildId, { username: 'admin', permissions: ['ManageGuild'] });
  });
  afterAll(async () => {
    await world.close();
  });

  async function count(): Promise<number> {
    return (await world.herald.store.subscriptions.listByGuild(guildId)).length;
  }

  it.each([
    ['text that is not an address', 'not a web address at all', /is not a web address/],
    ['a scheme with no host', 'http://', /is not a web address/],
  ])('refuses %s', async (_what, url, pattern) => {
    const before = await count();
    const answer = await run(world, admin, 'add', { url });
    await expectRefusedAndNothingStored(world, answer, guildId, before, pattern);
    expect(answer.content).toMatch(/http:\/\/ or https:\/\//);
  });

  it.each([
    ['ftp://example.org/feed.xml', 'ftp:'],
    ['javascript:alert(document.cookie)', 'javascript:'],
    ['file:///etc/passwd', 'file:'],
  ])('refuses %s, naming the scheme it does not follow', async (url, scheme) => {
    const before = await count();
    const requests = world.feeds.requests.length;
    const answer = await run(world, admin, 'add', { url });
    await expectRefusedAndNothingStored(
      world,
      answer,
      guildId,
      before,
      /only follows http:\/\/ and https:\/\//,
    );
    expect(answer.content).toContain(`not ${scheme}`);
    expect(world.feeds.requests.length).toBe(requests);
  });

  it('refuses a web page that is not a feed and links to none', async () => {
    world.feeds.serve('/plain-page', {
      headers: HTML,
      body: '<!doctype html><html><head><title>Just a page</title></head><body>No feeds here</body></html>',
    });
    const url = world.feeds.url('/plain-page');
    const before = await count();

    const answer = await run(world, admin, 'add', { url });

    await expectRefusedAndNothingStored(world, answer, guildId, before, /not an RSS, Atom or JSON feed/);
    expect(answer.content).toContain('links to no feed');
    expect(await world.herald.store.feeds.get(url)).toBeUndefined();
  });

  it('refuses a feed address that answers 404, saying so', async () => {
    const before = await count();
    const answer = await run(world, admin, 'add', { url: world.feeds.url('/missing.xml') });
    await expectRefusedAndNothingStored(world, answer, guildId, before, /HTTP 404/);
  });

  it('refuses a host that does not exist', async () => {
    const before = await count();
    const answer = await run(world, admin, 'add', { url: 'http://nonexistent.invalid/' });
    await expectRefusedAndNothingStored(
      world,
      answer,
      guildId,
      before,
      /Could not reach nonexistent\.invalid/,
    );
    expect(answer.content).toMatch(/Check the address/);
  });

  it('refuses a feed the channel already follows, even when given as the page that links to it', async () => {
    const feed = new GrowingFeed('Twice');
    feed.publish(2);
    const url = serve(world, '/twice.xml', feed);
    world.feeds.serve('/twice/', {
      headers: HTML,
      body: '<html><head><link rel="alternate" type="application/rss+xml" href="/twice.xml"></head></html>',
    });
    const channel = world.discord.addChannel(guildId, { name: 'twice' });
    const first = await run(world, admin, 'add', { url, channel: channel.id });
    const [subscription] = (await world.herald.store.subscriptions.listByGuild(guildId)).filter(
      (s) => s.channelId === channel.id,
    );
    expect(first.content).toContain(subscription!.id);
    const before = await count();

    for (const again of [url, world.feeds.url('/twice/')]) {
      const answer = await run(world, admin, 'add', { url: again, channel: channel.id });
      await expectRefusedAndNothingStored(world, answer, guildId, before, /already follows \*\*Twice\*\*/);
      expect(answer.content).toMatch(/nothing was changed/);
      expect(answer.content).toContain(`<#${channel.id}>`);
      expect(answer.content).toContain(subscription!.id);
    }
  });

  it('subscribes the same feed in a second channel', async () => {
    const feed = new GrowingFeed('Shared');
    feed.publish(1);
    const url = serve(world, '/shared.xml', feed);
    const one = world.discord.addChannel(guildId, { name: 'one' });
    const two = world.discord.addChannel(guildId, { name: 'two' });
    await run(world, admin, 'add', { url, channel: one.id });
    const answer = await run(world, admin, 'add', { url, channel: two.id });
    expect(answer.content).toContain(`<#${two.id}> now follows`);
    const channels = (await world.herald.store.subscriptions.listByFeed(url)).map((s) => s.channelId);
    expect(channels.sort()).toEqual([one.id, two.id].sort());
  });

  it.each([
    ['View Channel', ['ViewChannel'] as const],
    ['Send Messages', ['SendMessages'] as const],
    ['Embed Links', ['EmbedLinks'] as const],
  ])('names the missing %s permission of a target channel', async (name, deny) => {
    const feed = new GrowingFeed(`Perm ${name}`);
    feed.publish(1);
    const url = serve(world, `/perm-${deny[0]}.xml`, feed);
    const channel = world.discord.addChannel(guildId, { name: `no-${deny[0].toLowerCase()}` });
    world.discord.setBotPermissions(channel.id, { deny: [...deny] });
    const before = await count();
    const requests = world.feeds.requests.length;

    const answer = await run(world, admin, 'add', { url, channel: channel.id });

    await expectRefusedAndNothingStored(world, answer, guildId, before, new RegExp(`missing .*${name}`));
    expect(answer.content).toContain(`<#${channel.id}>`);
    expect(answer.content).toMatch(/Permissions/);
    // Refused before fetching anything.
    expect(world.feeds.requests.length).toBe(requests);
  });

  it('names the missing permission when the command is typed in the channel itself', async () => {
    const url = world.feeds.url('/never-fetched.xml');
    const channel = world.discord.addChannel(guildId, { name: 'no-embeds-here' });
    world.discord.setBotPermissions(channel.id, { deny: ['EmbedLinks'] });
    const before = await count();

    const answer = await run(world, admin, 'add', { url }, { channelId: channel.id });

    await expectRefusedAndNothingStored(world, answer, guildId, before, /missing Embed Links/);
    expect(answer.content).not.toMatch(/Send Messages|View Channel/);
  });

  it('refuses to announce in a thread when typed there', async () => {
    const rest = new REST({ api: world.discord.apiBase }).setToken(world.discord.token);
    const thread = (await rest.post(Routes.threads(world.channel.id), {
      body: { name: 'discussion', type: 11 },
    })) as { id: string };
    const before = await count();

    const answer = await run(
      world,
      admin,
      'add',
      { url: world.feeds.url('/x.xml') },
      { channelId: thread.id },
    );

    await expectRefusedAndNothingStored(world, answer, guildId, before, /is a thread/);
    expect(answer.content).toMatch(/`channel` option/);
  });

  it("refuses to announce in a voice channel's text chat when typed there", async () => {
    const voice = world.discord.addChannel(guildId, { name: 'lounge', type: 'voice' });
    const before = await count();

    const answer = await run(
      world,
      admin,
      'add',
      { url: world.feeds.url('/x.xml') },
      { channelId: voice.id },
    );

    await expectRefusedAndNothingStored(world, answer, guildId, before, /is a voice channel/);
  });

  it('offers only text and announcement channels for the channel option', () => {
    for (const type of ['voice', 'category', 'forum'] as const) {
      const channel = world.discord.addChannel(guildId, { name: `a-${type}`, type });
      expect(() =>
        world.discord.invokeCommand({
          guildId,
          channelId: world.channel.id,
          member: admin,
          name: 'feed',
          subcommand: 'add',
          options: { url: 'https://example.org/feed.xml', channel: channel.id },
        }),
      ).toThrow(FakeDiscordUsageError);
    }
  });

  it('keeps backfill within 0 to 10, as Discord enforces from the definition', () => {
    for (const backfill of [-1, 11]) {
      expect(() =>
        world.discord.invokeCommand({
          guildId,
          channelId: world.channel.id,
          member: admin,
          name: 'feed',
          subcommand: 'add',
          options: { url: 'https://example.org/feed.xml', backfill },
        }),
      ).toThrow(FakeDiscordUsageError);
    }
  });

  it('refuses to ping @everyone', async () => {
    const feed = new GrowingFeed('Everyone');
    feed.publish(1);
    const url = serve(world, '/everyone.xml', feed);
    const before = await count();
    const answer = await run(world, admin, 'add', { url, mention: guildId });
    await expectRefusedAndNothingStored(world, answer, guildId, before, /does not ping @everyone/);
  });

  it('cannot be used by a member without Manage Server', () => {
    const reader = world.discord.addMember(guildId, { username: 'reader' });
    expect(() =>
      world.discord.invokeCommand({
        guildId,
        channelId: world.channel.id,
        member: reader,
        name: 'feed',
        subcommand: 'add',
        options: { url: 'https://example.org/feed.xml' },
      }),
    ).toThrow(CommandRefusedError);
  });
});

describe('/feed add within the operator limits', () => {
  let world: HeraldWorld;
  let admin: MemberInfo;

  beforeAll(async () => {
    world = await startWorld({ env: { MAX_FEEDS_PER_GUILD: '2', MAX_FEED_BYTES: '2048' } });
    admin = world.discord.addMember(world.guild.id, { username: 'admin', permissions: ['ManageGuild'] });
  });
  afterAll(async () => {
    await world.close();
  });

  it('refuses a feed larger than MAX_FEED_BYTES', async () => {
    const feed = new GrowingFeed('Huge');
    feed.publish(20);
    const url = serve(world, '/huge.xml', feed);
    const answer = await run(world, admin, 'add', { url });
    await expectRefusedAndNothingStored(world, answer, world.guild.id, 0, /larger than 2 KiB/);
    expect(answer.content).toContain('MAX_FEED_BYTES');
    expect(await world.herald.store.feeds.get(url)).toBeUndefined();
  });

  it('refuses a third subscription when the server may have two, without fetching the feed', async () => {
    const guild = world.discord.addGuild({ name: 'Small' });
    const channel = world.discord.addChannel(guild.id, { name: 'news' });
    const owner = world.discord.addMember(guild.id, { username: 'owner', permissions: ['ManageGuild'] });
    for (const n of [1, 2]) {
      world.feeds.serve(`/small-${n}.xml`, {
        headers: RSS,
        body: buildRss({ title: `Small ${n}`, items: [{ guid: `${n}`, title: `item ${n}` }] }),
      });
      const ok = await run(
        world,
        owner,
        'add',
        { url: world.feeds.url(`/small-${n}.xml`) },
        {
          channelId: channel.id,
        },
      );
      expect(ok.content).toContain(`**Small ${n}**`);
    }
    world.feeds.serve('/small-3.xml', {
      headers: RSS,
      body: buildRss({ title: 'Small 3', items: [{ guid: '3', title: 'item 3' }] }),
    });

    const answer = await run(
      world,
      owner,
      'add',
      { url: world.feeds.url('/small-3.xml') },
      {
        channelId: channel.id,
      },
    );

    await expectRefusedAndNothingStored(world, answer, guild.id, 2, /already has 2 subscriptions/);
    expect(answer.content).toContain('/feed remove');
    expect(world.feeds.requestsTo('/small-3.xml')).toEqual([]);
  });
});

describe('/feed add on a bot that refuses private network addresses', () => {
  let world: HeraldWorld;
  let admin: MemberInfo;

  beforeAll(async () => {
    world = await startWorld({ env: { ALLOW_PRIVATE_NETWORK_FEEDS: 'false' } });
    admin = world.discord.addMember(world.guild.id, { username: 'admin', permissions: ['ManageGuild'] });
    world.feeds.serve('/feed.xml', {
      headers: RSS,
      body: buildRss({ title: 'Internal', items: [{ guid: '1', title: 'secret' }] }),
    });
  });
  afterAll(async () => {
    await world.close();
  });

  it.each(['127.0.0.1', '[::1]', 'localhost'])('refuses a feed on %s without contacting it', async (host) => {
    const url = `http://${host}:${world.feeds.port}/feed.xml`;
    const answer = await run(world, admin, 'add', { url });
    await expectRefusedAndNothingStored(world, answer, world.guild.id, 0, /private or local network address/);
    expect(answer.content).toContain('ALLOW_PRIVATE_NETWORK_FEEDS');
    expect(world.feeds.requests).toEqual([]);
  });
});
