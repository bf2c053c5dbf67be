import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  CommandRefusedError,
  type GuildInfo,
  type InteractionResponse,
  type MemberInfo,
  type OptionValue,
} from '../support/fake-discord/index';
import { startWorld, type HeraldWorld } from '../support/herald-harness';
import { buildRss, GrowingFeed } from '../support/synthetic-feed';

const RSS = { 'content-type': 'application/rss+xml; charset=utf-8' };

/** What a member sees after running a command. */
interface Answer {
  content: string;
  ephemeral: boolean | null;
  response: InteractionResponse;
}

/** Runs `/feed <subcommand>` as `member` would and waits for the answer they can see. */
async function feed(
  world: HeraldWorld,
  member: MemberInfo,
  subcommand: string,
  options: Record<string, OptionValue> = {},
  channelId = world.channel.id,
): Promise<Answer> {
  const handle = world.discord.invokeCommand({
    guildId: member.guildId,
    channelId,
    member,
    name: 'feed',
    subcommand,
    options,
  });
  const response = await handle.answered({ timeoutMs: 10_000 });
  expect(response.refusals).toEqual([]);
  return { content: response.reply?.content ?? '', ephemeral: response.ephemeral, response };
}

/** The choices Discord would show while `member` types `typed` into the `feed` option. */
async function choices(
  world: HeraldWorld,
  member: MemberInfo,
  typed: string,
  command: { name: string; subcommand: string } = { name: 'feed', subcommand: 'remove' },
  channelId = world.channel.id,
): Promise<{ name: string; value: string }[]> {
  const handle = world.discord.autocomplete({
    guildId: member.guildId,
    channelId,
    member,
    ...command,
    options: { feed: typed },
    focused: 'feed',
  });
  const response = await handle.answered({ timeoutMs: 10_000 });
  return (response.choices ?? []).map(({ name, value }) => ({ name, value: String(value) }));
}

/** Serves a growing feed at `path` and returns its URL. */
function serve(world: HeraldWorld, path: string, source: GrowingFeed): string {
  world.feeds.route(path, (_req, res) => {
    res.writeHead(200, RSS);
    res.end(source.xml());
  });
  return world.feeds.url(path);
}

/** The id `/feed add` gave the subscription, read from its confirmation. */
function idFrom(answer: Answer): string {
  const id = /id `([A-Za-z0-9]+)`/.exec(answer.content)?.[1];
  expect(id, answer.content).toBeDefined();
  return id!;
}

describe('managing subscriptions', () => {
  let world: HeraldWorld;
  let admin: MemberInfo;

  beforeAll(async () => {
    world = await startWorld();
    admin = world.discord.addMember(world.guild.id, { username: 'admin', permissions: ['ManageGuild'] });
  });
  afterAll(async () => {
    await world.close();
  });

  /** A new server with one text channel and an admin, so tests do not see each other's feeds. */
  function newServer(name: string): { guild: GuildInfo; channelId: string; owner: MemberInfo } {
    const guild = world.discord.addGuild({ name });
    const channel = world.discord.addChannel(guild.id, { name: 'general' });
    const owner = world.discord.addMember(guild.id, {
      username: `${name}-admin`,
      permissions: ['ManageGuild'],
    });
    return { guild, channelId: channel.id, owner };
  }

  it('lists nothing, and says how to start, in a server without feeds', async () => {
    const { channelId, owner } = newServer('empty');
    const answer = await feed(world, owner, 'list', {}, channelId);
    expect(answer.ephemeral).toBe(true);
    expect(answer.content).toMatch(/follows no feeds yet/);
    expect(answer.content).toContain('/feed add');
  });

  it('lists every feed with its channel and state, or only those of one channel', async () => {
    const { guild, channelId, owner } = newServer('lister');
    const other = world.discord.addChannel(guild.id, { name: 'other' });
    const alpha = new GrowingFeed('Alpha Feed');
    alpha.publish(1);
    const beta = new GrowingFeed('Beta Feed');
    beta.publish(1);
    const alphaId = idFrom(
      await feed(world, owner, 'add', { url: serve(world, '/alpha.xml', alpha) }, channelId),
    );
    const betaId = idFrom(
      await feed(world, owner, 'add', { url: serve(world, '/beta.xml', beta), channel: other.id }, channelId),
    );
    await feed(world, owner, 'pause', { feed: betaId }, channelId);

    const all = await feed(world, owner, 'list', {}, channelId);
    expect(all.ephemeral).toBe(true);
    expect(all.content).toMatch(/2 feeds/);
    const lines = all.content.split('\n');
    const alphaLine = lines.find((line) => line.includes(alphaId));
    const betaLine = lines.find((line) => line.includes(betaId));
    expect(alphaLine).toContain('Alpha Feed');
    expect(alphaLine).toContain(`<#${channelId}>`);
    expect(alphaLine).toMatch(/active/);
    expect(betaLine).toContain('Beta Feed');
    expect(betaLine).toContain(`<#${other.id}>`);
    expect(betaLine).toMatch(/paused/);

    const filtered = await feed(world, owner, 'list', { channel: other.id }, channelId);
    expect(filtered.content).toContain(betaId);
    expect(filtered.content).not.toContain(alphaId);

    const empty = world.discord.addChannel(guild.id, { name: 'quiet' });
    const none = await feed(world, owner, 'list', { channel: empty.id }, channelId);
    expect(none.content).toMatch(new RegExp(`<#${empty.id}> follows no feeds`));
  });

  it('shows health in /feed status: last check, HTTP status, next check, failures, last error and items posted', async () => {
    const { channelId, owner } = newServer('status');
    const source = new GrowingFeed('Flaky Feed');
    source.publish(3);
    const url = serve(world, '/flaky.xml', source);
    const id = idFrom(await feed(world, owner, 'add', { url, backfill: 2 }, channelId));
    await world.discord.waitForMessages(channelId, 2, { timeoutMs: 8000 });
    await vi.waitFor(
      async () => expect((await world.herald.store.subscriptions.get(id))?.postedCount).toBe(2),
      { timeout: 8000, interval: 25 },
    );

    world.feeds.serve('/flaky.xml', { status: 503, body: 'down for maintenance' });
    await vi.waitFor(
      async () => expect((await world.herald.store.feeds.get(url))?.consecutiveFailures).toBeGreaterThan(0),
      { timeout: 8000, interval: 25 },
    );

    const answer = await feed(world, owner, 'status', { feed: id }, channelId);
    expect(answer.ephemeral).toBe(true);
    const text = answer.content;
    expect(text).toContain('**Flaky Feed**');
    expect(text).toMatch(/Last check: <t:\d+:R> \(HTTP 503\)/);
    expect(text).toMatch(/Next check: <t:\d+:R>/);
    expect(text).toMatch(/Consecutive failures: [1-9]/);
    expect(text).toMatch(/Last error: .*HTTP 503/);
    expect(text).toMatch(/Items posted: 2/);
  });

  it('pauses and resumes; what was published while paused is never posted, what comes after is', async () => {
    const { channelId, owner } = newServer('pauser');
    const source = new GrowingFeed('Pausable');
    source.publish(2);
    const url = serve(world, '/pausable.xml', source);
    const id = idFrom(await feed(world, owner, 'add', { url }, channelId));

    const paused = await feed(world, owner, 'pause', { feed: id }, channelId);
    expect(paused.ephemeral).toBe(true);
    expect(paused.content).toMatch(/Paused \*\*Pausable\*\*/);
    expect(paused.content).toContain('/feed resume');
    const listed = await feed(world, owner, 'list', {}, channelId);
    expect(listed.content).toMatch(new RegExp(`paused — Paused by <@${owner.id}> with \`/feed pause\``));
    expect((await world.herald.store.subscriptions.get(id))?.paused).toBe(true);
    const again = await feed(world, owner, 'pause', { feed: id }, channelId);
    expect(again.content).toMatch(/already paused/);

    const whilePaused = source.publish(2);
    // Wait until a check has read the posts published during the pause.
    await vi.waitFor(
      async () =>
        expect((await world.herald.store.recent.get(url)).map((item) => item.title)).toContain(
          whilePaused[1]!.title,
        ),
      { timeout: 8000, interval: 25 },
    );

    const resumed = await feed(world, owner, 'resume', { feed: id }, channelId);
    expect(resumed.content).toMatch(/Resumed \*\*Pausable\*\*/);
    expect((await world.herald.store.subscriptions.get(id))?.paused).toBeFalsy();
    const notPaused = await feed(world, owner, 'resume', { feed: id }, channelId);
    expect(notPaused.content).toMatch(/not paused/);

    const [afterResume] = source.publish(1);
    const posted = await world.discord.waitForMessages(channelId, 1, { timeoutMs: 8000 });
    expect(posted.map((message) => message.embeds[0]?.title)).toEqual([afterResume!.title]);
  });

  it('removes a subscription, after which it is gone from the store, the list and autocomplete', async () => {
    const { guild, channelId, owner } = newServer('remover');
    const source = new GrowingFeed('Removable');
    source.publish(1);
    const url = serve(world, '/removable.xml', source);
    const id = idFrom(await feed(world, owner, 'add', { url }, channelId));
    expect((await choices(world, owner, 'Removable', undefined, channelId)).map((c) => c.value)).toEqual([
      id,
    ]);

    const answer = await feed(world, owner, 'remove', { feed: id }, channelId);

    expect(answer.ephemeral).toBe(true);
    expect(answer.content).toContain('**Removable**');
    expect(answer.content).toContain(`<#${channelId}>`);
    expect(await world.herald.store.subscriptions.listByGuild(guild.id)).toEqual([]);
    expect(await choices(world, owner, '', undefined, channelId)).toEqual([]);
    expect((await feed(world, owner, 'list', {}, channelId)).content).toMatch(/follows no feeds yet/);
    const twice = await feed(world, owner, 'remove', { feed: id }, channelId);
    expect(twice.content).toMatch(/This server has no feed/);
  });

  it('previews the embed the newest item would get, storing nothing', async () => {
    const { guild, channelId, owner } = newServer('previewer');
    const source = new GrowingFeed('Previewed');
    source.publish(3);
    const url = serve(world, '/previewed.xml', source);

    const answer = await feed(world, owner, 'preview', { url }, channelId);

    expect(answer.ephemeral).toBe(true);
    expect(answer.content).toContain('**Previewed**');
    expect(answer.response.reply?.embeds).toHaveLength(1);
    expect(answer.response.reply?.embeds[0]).toMatchObject({
      title: 'Previewed post 3',
      url: 'https://synthetic.example/posts/3',
      author: { name: 'Grace Hopper' },
      image: { url: 'https://synthetic.example/images/3.png' },
      footer: { text: 'Previewed' },
    });
    expect(answer.response.reply?.allowed_mentions).toEqual({ parse: [] });
    expect(await world.herald.store.subscriptions.listByGuild(guild.id)).toEqual([]);
    expect(await world.herald.store.feeds.get(url)).toBeUndefined();
    expect(world.discord.messages(channelId)).toEqual([]);
  });

  it('answers a preview of something that is not a feed with what is wrong', async () => {
    const { channelId, owner } = newServer('bad-previewer');
    const answer = await feed(world, owner, 'preview', { url: 'ftp://example.org/feed.xml' }, channelId);
    expect(answer.ephemeral).toBe(true);
    expect(answer.content).toMatch(/http:\/\/ and https:\/\//);
    const missing = await feed(
      world,
      owner,
      'preview',
      { url: world.feeds.url('/nothing-here.xml') },
      channelId,
    );
    expect(missing.content).toMatch(/HTTP 404/);
  });

  it('autocompletes on feed title, URL and channel name, listing only this server’s subscriptions', async () => {
    const { guild, channelId, owner } = newServer('chooser');
    const sports = world.discord.addChannel(guild.id, { name: 'sports-desk' });
    const cooking = new GrowingFeed('Cooking Weekly');
    cooking.publish(1);
    const football = new GrowingFeed('Match Reports');
    football.publish(1);
    const cookingId = idFrom(
      await feed(world, owner, 'add', { url: serve(world, '/cooking.xml', cooking) }, channelId),
    );
    const footballId = idFrom(
      await feed(
        world,
        owner,
        'add',
        { url: serve(world, '/kick-off.xml', football), channel: sports.id },
        channelId,
      ),
    );
    const stranger = newServer('stranger');
    const strangerFeed = new GrowingFeed('Cooking Elsewhere');
    strangerFeed.publish(1);
    const strangerId = idFrom(
      await feed(
        world,
        stranger.owner,
        'add',
        { url: serve(world, '/cooking-elsewhere.xml', strangerFeed) },
        stranger.channelId,
      ),
    );

    const values = async (typed: string) =>
      (await choices(world, owner, typed, undefined, channelId)).map((choice) => choice.value);
    expect(await values('cooking')).toEqual([cookingId]);
    expect(await values('KICK-OFF')).toEqual([footballId]);
    expect(await values('sports')).toEqual([footballId]);
    expect((await values('')).sort()).toEqual([cookingId, footballId].sort());
    expect(await values('no such thing')).toEqual([]);
    const [labelled] = await choices(world, owner, 'match', undefined, channelId);
    expect(labelled?.name).toContain('Match Reports');
    expect(labelled?.name).toContain('#sports-desk');
    // The other server's subscription is never offered, not even by its id.
    expect(await values(strangerId)).toEqual([]);
    for (const subcommand of ['status', 'pause', 'resume']) {
      expect(
        (await choices(world, owner, '', { name: 'feed', subcommand }, channelId)).map((c) => c.value).sort(),
      ).toEqual([cookingId, footballId].sort());
    }
  });

  it('offers at most 25 choices', async () => {
    const { guild, channelId, owner } = newServer('crowded');
    for (let n = 1; n <= 30; n++) {
      const path = `/crowded-${n}.xml`;
      // An hour's ttl keeps 30 feeds from being polled every second during the test.
      world.feeds.serve(path, {
        headers: RSS,
        body: buildRss({ title: `Crowded ${n}`, ttlMinutes: 60, items: [{ guid: `c${n}`, title: `c${n}` }] }),
      });
      await world.herald.subscriptions.subscribe({
        guildId: guild.id,
        channelId,
        url: world.feeds.url(path),
        backfill: 0,
        mentionRoleId: null,
        createdBy: owner.id,
      });
    }

    const offered = await choices(world, owner, '', undefined, channelId);
    expect(offered).toHaveLength(25);
    const narrowed = await choices(world, owner, 'crowded 3', undefined, channelId);
    expect(narrowed.map((choice) => choice.name).sort()).toEqual([
      'Crowded 3 → #general',
      'Crowded 30 → #general',
    ]);

    // The list pages its answer rather than cutting it off.
    const handle = world.discord.invokeCommand({
      guildId: guild.id,
      channelId,
      member: owner,
      name: 'feed',
      subcommand: 'list',
    });
    const ids = (await world.herald.store.subscriptions.listByGuild(guild.id)).map((s) => s.id);
    const pagesOf = (response: InteractionResponse) => [response.reply!, ...response.followUps];
    const done = await handle.waitFor(
      (response) =>
        response.reply !== null &&
        ids.every((id) => pagesOf(response).some((page) => page.content.includes(id))),
      { timeoutMs: 10_000 },
    );
    expect(ids).toHaveLength(30);
    expect(done.ephemeral).toBe(true);
    expect(done.followUps.length).toBeGreaterThan(0);
    for (const page of pagesOf(done)) {
      expect(page.content.length).toBeLessThanOrEqual(2000);
      expect(page.flags! & 64).toBe(64);
    }
  });

  it("answers another server's subscription id exactly like an unknown one and leaves it alone", async () => {
    const mine = newServer('mine');
    const theirs = newServer('theirs');
    const source = new GrowingFeed('Theirs');
    source.publish(1);
    const theirId = idFrom(
      await feed(world, theirs.owner, 'add', { url: serve(world, '/theirs.xml', source) }, theirs.channelId),
    );

    for (const subcommand of ['remove', 'status', 'pause', 'resume']) {
      const foreign = await feed(world, mine.owner, subcommand, { feed: theirId }, mine.channelId);
      const unknown = await feed(world, mine.owner, subcommand, { feed: 'AbCdEf1234' }, mine.channelId);
      expect(foreign.ephemeral).toBe(true);
      expect(foreign.content).toMatch(/This server has no feed/);
      expect(foreign.content).toContain('/feed list');
      expect(foreign.content.replace(theirId, 'ID')).toBe(unknown.content.replace('AbCdEf1234', 'ID'));
    }
    const untouched = await world.herald.store.subscriptions.get(theirId);
    expect(untouched).toMatchObject({ guildId: theirs.guild.id, channelId: theirs.channelId });
    expect(untouched?.paused).toBeFalsy();
  });

  it("accepts a feed's exact title or URL typed instead of chosen, and explains what to do otherwise", async () => {
    const { guild, channelId, owner } = newServer('typist');
    const source = new GrowingFeed('Café Chronicle');
    source.publish(1);
    const url = serve(world, '/chronicle.xml', source);
    const id = idFrom(await feed(world, owner, 'add', { url }, channelId));

    const byTitle = await feed(world, owner, 'status', { feed: 'cafe chronicle' }, channelId);
    expect(byTitle.content).toContain(`(\`${id}\`)`);
    const byUrl = await feed(world, owner, 'pause', { feed: url }, channelId);
    expect(byUrl.content).toMatch(/Paused \*\*Café Chronicle\*\*/);

    const unknown = await feed(world, owner, 'status', { feed: 'my favourite blog!' }, channelId);
    expect(unknown.ephemeral).toBe(true);
    expect(unknown.content).toMatch(/This server has no feed “my favourite blog!”/);
    expect(unknown.content).toMatch(/list that appears as you type/);
    expect(unknown.content).toContain('/feed list');

    const elsewhere = world.discord.addChannel(guild.id, { name: 'elsewhere' });
    await feed(world, owner, 'add', { url, channel: elsewhere.id }, channelId);
    const ambiguous = await feed(world, owner, 'status', { feed: 'Café Chronicle' }, channelId);
    expect(ambiguous.content).toMatch(/2 of this server’s feeds are called/);
    expect((await world.herald.store.subscriptions.get(id))?.paused).toBe(true);
  });

  it('does not resume into a channel Herald can no longer post in, and says what is missing', async () => {
    const { guild, channelId, owner } = newServer('lockout');
    const target = world.discord.addChannel(guild.id, { name: 'target' });
    const source = new GrowingFeed('Locked Out');
    source.publish(1);
    const id = idFrom(
      await feed(
        world,
        owner,
        'add',
        { url: serve(world, '/locked.xml', source), channel: target.id },
        channelId,
      ),
    );
    await feed(world, owner, 'pause', { feed: id }, channelId);
    world.discord.setBotPermissions(target.id, { deny: ['SendMessages'] });

    const refused = await feed(world, owner, 'resume', { feed: id }, channelId);
    expect(refused.ephemeral).toBe(true);
    expect(refused.content).toMatch(/missing Send Messages/);
    expect((await world.herald.store.subscriptions.get(id))?.paused).toBe(true);

    world.discord.setBotPermissions(target.id, null);
    expect((await feed(world, owner, 'resume', { feed: id }, channelId)).content).toMatch(/Resumed/);
    await feed(world, owner, 'pause', { feed: id }, channelId);
    world.discord.deleteChannel(target.id);
    const gone = await feed(world, owner, 'resume', { feed: id }, channelId);
    expect(gone.content).toMatch(/no longer exists/);
    expect(gone.content).toContain('/feed remove');
  });

  it('cannot be used, in any subcommand, by a member without Manage Server', () => {
    const reader = world.discord.addMember(world.guild.id, { username: 'reader' });
    const attempts: [string, Record<string, OptionValue>][] = [
      ['list', {}],
      ['remove', { feed: 'abc' }],
      ['status', { feed: 'abc' }],
      ['pause', { feed: 'abc' }],
      ['resume', { feed: 'abc' }],
      ['preview', { url: 'https://example.org/' }],
    ];
    for (const [subcommand, options] of attempts) {
      expect(() =>
        world.discord.invokeCommand({
          guildId: world.guild.id,
          channelId: world.channel.id,
          member: reader,
          name: 'feed',
          subcommand,
          options,
        }),
      ).toThrow(CommandRefusedError);
    }
    expect(admin.guildId).toBe(world.guild.id);
  });
});

describe('when something breaks inside Herald', () => {
  let world: HeraldWorld;
  let admin: MemberInfo;

  beforeAll(async () => {
    world = await startWorld();
    admin = world.discord.addMember(world.guild.id, { username: 'admin', permissions: ['ManageGuild'] });
    // The database going away under a running bot: every store call now fails.
    await world.herald.store.close();
  });
  afterAll(async () => {
    await world.close();
  });

  it('apologises privately with a reference instead of failing silently', async () => {
    const answer = await feed(world, admin, 'list');
    expect(answer.ephemeral).toBe(true);
    expect(answer.content).toMatch(/went wrong on Herald’s side/);
    expect(answer.content).toMatch(/reference: `[0-9a-f]{8}`/);
    const other = await feed(world, admin, 'list');
    expect(other.content.match(/`([0-9a-f]{8})`/)?.[1]).not.toBe(
      answer.content.match(/`([0-9a-f]{8})`/)?.[1],
    );
  });

  it('offers no choices in autocomplete rather than leaving the member waiting', async () => {
    expect(await choices(world, admin, '')).toEqual([]);
  });
});
