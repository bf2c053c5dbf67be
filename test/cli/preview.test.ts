import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPreview, type PreviewJson } from '../../src/cli/preview';
import { DISCORD_LIMITS, embedLength } from '../../src/delivery/render';
import { startFeedServer, type FeedServer } from '../support/feed-server';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fixture = (name: string) => path.join(root, 'test/fixtures', name);
const SEEDS = [
  {
    file: 'hashnode-buddha-rss2.xml',
    format: 'rss',
    count: 13,
    title: "BGP: The Internet's Routing Protocol",
    published: '2025-09-03T03:01:52.000Z',
    author: 'buddha gautam',
  },
  {
    file: 'hexo-bmwlog-atom.xml',
    format: 'atom',
    count: 20,
    title: 'FastAPI middleware',
    published: '2024-05-08T12:37:36.000Z',
    author: 'bmwant',
  },
  {
    file: 'devto-forem-rss2.xml',
    format: 'rss',
    count: 12,
    title: 'PEP 703 Explained: How Python Finally Removes the GIL',
    published: '2025-12-08T16:21:56.000Z',
    author: 'Dineshsuriya D',
  },
] as const;

async function preview(args: string[], env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runPreview(args, env, { stdout: (t) => out.push(t), stderr: (t) => err.push(t) });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

describe('preview --json on the seed feeds', () => {
  it.each(SEEDS)('prints the documented shape for $file', async (seed) => {
    const { code, stdout, stderr } = await preview(['--json', fixture(seed.file)]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const json = JSON.parse(stdout) as PreviewJson;

    expect(Object.keys(json)).toEqual(['feed', 'items', 'messages']);
    expect(json.feed.format).toBe(seed.format);
    expect(json.items).toHaveLength(seed.count);
    expect(json.messages).toHaveLength(seed.count);
    expect(json.items[0]).toMatchObject({
      title: seed.title,
      published: seed.published,
      author: seed.author,
    });
    for (const item of json.items) {
      expect(Object.keys(item)).toEqual([
        'id',
        'guid',
        'title',
        'link',
        'published',
        'author',
        'categories',
        'summary',
        'image',
      ]);
      expect(item.link === null || /^https?:\/\//.test(item.link)).toBe(true);
      expect(item.image === null || /^https?:\/\//.test(item.image)).toBe(true);
    }
    for (const message of json.messages) {
      expect(message.allowed_mentions).toEqual({ parse: [] });
      const embed = message.embeds![0]!;
      expect(embedLength(embed)).toBeLessThanOrEqual(DISCORD_LIMITS.embedTotal);
      expect(embed.title!.length).toBeLessThanOrEqual(DISCORD_LIMITS.embedTitle);
      expect(embed.description?.length ?? 0).toBeLessThanOrEqual(DISCORD_LIMITS.embedDescription);
    }
  });

  it('shows the Atom feed’s inherited author, its term categories and images resolved under the site', async () => {
    const json = JSON.parse(
      (await preview(['--json', fixture('hexo-bmwlog-atom.xml')])).stdout,
    ) as PreviewJson;
    expect(json.items.every((item) => item.author === 'bmwant')).toBe(true);
    expect(json.items[0]!.categories).toEqual(['python', 'web', 'framework', 'fastapi', 'middleware']);
    const images = json.items.map((item) => item.image).filter((image): image is string => image !== null);
    expect(images.length).toBeGreaterThan(0);
    expect(images.every((image) => image.startsWith('https://bmwant.link/'))).toBe(true);
  });

  it('uses the Hashnode enclosure covers as images', async () => {
    const json = JSON.parse(
      (await preview(['--json', fixture('hashnode-buddha-rss2.xml')])).stdout,
    ) as PreviewJson;
    expect(json.items[0]!.image).toMatch(/^https:\/\/cdn\.hashnode\.com\/.+\.(png|jpe?g|webp)$/);
    expect(json.messages[0]!.embeds![0]!.image?.url).toBe(json.items[0]!.image);
  });
});

describe('preview over HTTP', () => {
  let server: FeedServer;
  beforeAll(async () => {
    server = await startFeedServer();
    server.serve('/', {
      headers: { 'Content-Type': 'text/html' },
      body: '<link rel="alternate" type="application/rss+xml" href="/feed">',
    });
    server.serve('/feed', {
      headers: { 'Content-Type': 'application/rss+xml' },
      body: readFileSync(fixture('devto-forem-rss2.xml')),
    });
  });
  afterAll(() => server.close());

  it('follows discovery from a page and reports where the feed was found', async () => {
    const { code, stdout } = await preview(['--json', server.url('/')], {
      ALLOW_PRIVATE_NETWORK_FEEDS: 'true',
    });
    expect(code).toBe(0);
    const json = JSON.parse(stdout) as PreviewJson;
    expect(json.feed).toMatchObject({
      url: server.url('/feed'),
      discoveredFrom: server.url('/'),
      format: 'rss',
    });
  });

  it('prints a readable listing without --json', async () => {
    const { code, stdout } = await preview([server.url('/feed')], { ALLOW_PRIVATE_NETWORK_FEEDS: 'true' });
    expect(code).toBe(0);
    expect(stdout).toContain('12 items');
    expect(stdout).toContain('1. PEP 703 Explained: How Python Finally Removes the GIL');
  });

  it('refuses a loopback address unless the operator allows private feeds', async () => {
    const { code, stdout, stderr } = await preview([server.url('/feed')], {});
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^error: .*private or local network address/);
    expect(stderr.split('\n')).toHaveLength(1);
  });

  it('honours MAX_FEED_BYTES', async () => {
    const { code, stderr } = await preview([server.url('/feed')], {
      ALLOW_PRIVATE_NETWORK_FEEDS: 'true',
      MAX_FEED_BYTES: '4096',
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^error: .*larger than 4 KiB/);
  });
});

describe('preview failures', () => {
  it('answers a missing file with one error line', async () => {
    const { code, stderr } = await preview(['no/such/feed.xml']);
    expect(code).toBe(1);
    expect(stderr).toBe(
      'error: no such file: no/such/feed.xml (give a feed URL with http:// or https://, or a file)',
    );
  });

  it('refuses schemes other than http and https', async () => {
    for (const url of ['ftp://example.com/feed', 'javascript:alert(1)']) {
      const { code, stderr } = await preview([url]);
      expect(code).toBe(1);
      expect(stderr).toMatch(/^error: /);
    }
  });

  it('shows usage for missing or unknown arguments', async () => {
    expect((await preview([])).stderr).toMatch(/^error: usage: npm run preview/);
    expect((await preview(['--yaml', 'x'])).stderr).toMatch(/^error: unknown option --yaml/);
  });

  it('exits 1 with a single error line and no stack trace when run as a command', async () => {
    const run = promisify(execFile);
    const failure = await run(
      path.join(root, 'node_modules/.bin/tsx'),
      ['src/cli/preview.ts', fixture('parse-html-page.html')],
      {
        cwd: root,
      },
    ).then(
      () => null,
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stdout).toBe('');
    expect(failure?.stderr.trim().split('\n')).toHaveLength(1);
    expect(failure?.stderr).toMatch(/^error: .*not an RSS, Atom or JSON feed/);
  });
});
