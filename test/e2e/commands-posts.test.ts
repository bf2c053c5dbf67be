import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FakeDiscordUsageError,
  type InteractionResponse,
  type MemberInfo,
  type OptionValue,
} from '../support/fake-discord/index';
import { startWorld, type HeraldWorld } from '../support/herald-harness';
import { buildRss, type SyntheticItem } from '../support/synthetic-feed';

const RSS = { 'content-type': 'application/rss+xml; charset=utf-8' };
const MINUTE = 60_000;
const START = Date.UTC(2025, 2, 1, 12);

/** What a member sees after running a command. */
interface Answer {
  content: string;
  ephemeral: boolean | null;
  response: InteractionResponse;
}

let world: HeraldWorld;
let admin: MemberInfo;
/** A member with no permissions at all beyond @everyone's. */
let reader: MemberInfo;
let kitchenId: string;
let gardenId: string;

/** Runs a slash command as `member` would and waits for the answer they can see. */
async function run(
  member: MemberInfo,
  name: string,
  subcommand: string,
  options: Record<string, OptionValue> = {},
  channelId = world.channel.id,
): Promise<Answer> {
  const handle = world.discord.invokeCommand({
    guildId: member.guildId,
    channelId,
    member,
    name,
    subcommand,
    options,
  });
  const response = await handle.answered({ timeoutMs: 10_000 });
  expect(response.refusals).toEqual([]);
  return { content: response.reply?.content ?? '', ephemeral: response.ephemeral, response };
}

/** Post titles in the order an answer lists them, without the escapes that keep them inert. */
function titles(answer: Answer): string[] {
  return [...answer.content.matchAll(/^• \[(.+?)\]\(/gm)].map((match) => match[1]!.replace(/\\|\u200b/g, ''));
}

/** Serves an RSS feed (an hour's ttl keeps it from being polled during the tests). */
function serve(path: string, title: string, items: SyntheticItem[]): string {
  world.feeds.serve(path, { headers: RSS, body: buildRss({ title, items, ttlMinutes: 60 }) });
  return world.feeds.url(path);
}

function at(minutes: number): Date {
  return new Date(START + minutes * MINUTE);
}

beforeAll(async () => {
  world = await startWorld();
  admin = world.discord.addMember(world.guild.id, { username: 'admin', permissions: ['ManageGuild'] });
  reader = world.discord.addMember(world.guild.id, { username: 'reader' });
  // Two feeds whose posts interleave in time, listed newest first as feeds do.
  const kitchen = serve('/kitchen.xml', 'Kitchen', [
    {
      guid: 'k3',
      title: 'Crème brûlée without a torch',
      link: 'https://kitchen.example/3',
      published: at(50),
    },
    { guid: 'k2', title: 'Café au lait, properly', link: 'https://kitchen.example/2', published: at(30) },
    { guid: 'k1', title: 'Bread basics', link: 'https://kitchen.example/1', published: at(10) },
  ]);
  const garden = serve('/garden.xml', 'Garden', [
    { guid: 'g3', title: 'CAFE tables for the patio', link: 'https://garden.example/3', published: at(60) },
    { guid: 'g2', title: 'Pruning roses', link: 'https://garden.example/2', published: at(40) },
    {
      guid: 'g1',
      title: 'Seeds @everyone should sow',
      link: 'https://garden.example/1',
      published: at(20),
      description: '<p>Compost and a café break.</p>',
    },
  ]);
  const add = async (url: string) => {
    const answer = await run(admin, 'feed', 'add', { url });
    return /id `([A-Za-z0-9]+)`/.exec(answer.content)![1]!;
  };
  kitchenId = await add(kitchen);
  gardenId = await add(garden);
});
afterAll(async () => {
  await world.close();
});

describe('/posts recent', () => {
  it('shows anyone the five newest posts across the server’s feeds, newest first, privately', async () => {
    const answer = await run(reader, 'posts', 'recent');
    expect(answer.ephemeral).toBe(true);
    expect(titles(answer)).toEqual([
      'CAFE tables for the patio',
      'Crème brûlée without a torch',
      'Pruning roses',
      'Café au lait, properly',
      'Seeds @everyone should sow',
    ]);
    expect(answer.content).toContain('Kitchen');
    expect(answer.content).toContain('<https://garden.example/3>');
    expect(answer.response.reply?.allowed_mentions).toEqual({ parse: [] });
  });

  it('shows as many as asked, from one feed when one is chosen', async () => {
    expect(titles(await run(reader, 'posts', 'recent', { count: 2 }))).toEqual([
      'CAFE tables for the patio',
      'Crème brûlée without a torch',
    ]);
    expect(titles(await run(reader, 'posts', 'recent', { feed: kitchenId, count: 10 }))).toEqual([
      'Crème brûlée without a torch',
      'Café au lait, properly',
      'Bread basics',
    ]);
  });

  it('shares the answer in the channel when asked, without pinging anyone named in a post', async () => {
    const channel = world.discord.addChannel(world.guild.id, { name: 'shared' });
    const answer = await run(reader, 'posts', 'recent', { feed: gardenId, share: true }, channel.id);

    expect(answer.ephemeral).toBe(false);
    expect(titles(answer)).toContain('Seeds @everyone should sow');
    const [message] = world.discord.messages(channel.id);
    expect(message?.content).toBe(answer.content);
    expect(message?.allowed_mentions).toEqual({ parse: [] });
    expect(message?.mention_everyone).toBe(false);
    expect(message?.mention_roles).toEqual([]);
  });

  it('keeps count within 1 to 10, as Discord enforces from the definition', () => {
    for (const count of [0, 11]) {
      expect(() =>
        world.discord.invokeCommand({
          guildId: world.guild.id,
          channelId: world.channel.id,
          member: reader,
          name: 'posts',
          subcommand: 'recent',
          options: { count },
        }),
      ).toThrow(FakeDiscordUsageError);
    }
  });

  it('says there is nothing yet in a server without feeds', async () => {
    const guild = world.discord.addGuild({ name: 'New' });
    const channel = world.discord.addChannel(guild.id, { name: 'general' });
    const newcomer = world.discord.addMember(guild.id, { username: 'newcomer' });
    const answer = await run(newcomer, 'posts', 'recent', {}, channel.id);
    expect(answer.ephemeral).toBe(true);
    expect(answer.content).toMatch(/follows no feeds yet/);
    expect(answer.content).toContain('/feed add');
  });
});

describe('/posts search', () => {
  it('matches regardless of case and accents, newest first', async () => {
    const answer = await run(reader, 'posts', 'search', { query: 'cafe' });
    expect(answer.ephemeral).toBe(true);
    expect(titles(answer)).toEqual([
      'CAFE tables for the patio',
      'Café au lait, properly',
      // Found by its summary: "a café break".
      'Seeds @everyone should sow',
    ]);
    expect(answer.content).toMatch(/3 posts matching/);
    expect(titles(await run(reader, 'posts', 'search', { query: 'CREME BRULEE' }))).toEqual([
      'Crème brûlée without a torch',
    ]);
  });

  it('needs every word to match and can be limited to one feed', async () => {
    expect(titles(await run(reader, 'posts', 'search', { query: 'café lait' }))).toEqual([
      'Café au lait, properly',
    ]);
    expect(titles(await run(reader, 'posts', 'search', { query: 'cafe', feed: kitchenId }))).toEqual([
      'Café au lait, properly',
    ]);
  });

  it('says so when nothing matches', async () => {
    const answer = await run(reader, 'posts', 'search', { query: 'quantum' });
    expect(answer.ephemeral).toBe(true);
    expect(answer.content).toMatch(/No recent post matches “quantum”/);
  });

  it('shares matches in the channel when asked', async () => {
    const channel = world.discord.addChannel(world.guild.id, { name: 'search-shared' });
    const answer = await run(reader, 'posts', 'search', { query: 'roses', share: true }, channel.id);
    expect(answer.ephemeral).toBe(false);
    expect(world.discord.messages(channel.id).map((message) => message.content)).toEqual([answer.content]);
    expect(world.discord.messages(channel.id)[0]?.allowed_mentions).toEqual({ parse: [] });
  });

  it('asks for a word when the query is only spaces', async () => {
    const answer = await run(reader, 'posts', 'search', { query: '    ' });
    expect(answer.ephemeral).toBe(true);
    expect(answer.content).toMatch(/at least one word/);
  });

  it('takes queries up to 100 characters; Discord refuses longer ones from the definition', async () => {
    const longest = `cafe ${'x'.repeat(95)}`;
    const answer = await run(reader, 'posts', 'search', { query: longest });
    expect(answer.content).toMatch(/No recent post matches/);
    expect(() =>
      world.discord.invokeCommand({
        guildId: world.guild.id,
        channelId: world.channel.id,
        member: reader,
        name: 'posts',
        subcommand: 'search',
        options: { query: `${longest}x` },
      }),
    ).toThrow(FakeDiscordUsageError);
  });
});

describe('/posts and other servers', () => {
  it("answers another server's subscription id like an unknown one, and autocompletes only this server's feeds", async () => {
    const guild = world.discord.addGuild({ name: 'Elsewhere' });
    const channel = world.discord.addChannel(guild.id, { name: 'general' });
    const outsider = world.discord.addMember(guild.id, { username: 'outsider' });

    const foreign = await run(outsider, 'posts', 'recent', { feed: kitchenId }, channel.id);
    const unknown = await run(outsider, 'posts', 'recent', { feed: 'ZzZz9999' }, channel.id);
    expect(foreign.ephemeral).toBe(true);
    expect(foreign.content).toMatch(/This server has no feed/);
    expect(foreign.content).toMatch(/leave `feed` out/);
    expect(foreign.content.replace(kitchenId, 'ID')).toBe(unknown.content.replace('ZzZz9999', 'ID'));
    expect(foreign.content).not.toContain('Kitchen');

    const offered = async (member: MemberInfo, channelId: string) => {
      const handle = world.discord.autocomplete({
        guildId: member.guildId,
        channelId,
        member,
        name: 'posts',
        subcommand: 'search',
        options: { query: 'x', feed: '' },
        focused: 'feed',
      });
      return ((await handle.answered()).choices ?? []).map((choice) => choice.value);
    };
    expect(await offered(outsider, channel.id)).toEqual([]);
    expect((await offered(reader, world.channel.id)).sort()).toEqual([kitchenId, gardenId].sort());
  });
});
