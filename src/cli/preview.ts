import { config as loadDotenv } from 'dotenv';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, loadConfig } from '../config';
import { renderMessage, type MessagePayload } from '../delivery/render';
import { FeedError } from '../feeds/errors';
import { createFeedSource } from '../feeds/fetch';
import { decodeFeedBody } from '../feeds/decode';
import { loadTypedUrl } from '../feeds/load-feed';
import { parseFeed } from '../feeds/parse';
import { imageOf, summaryOf } from '../feeds/summary';
import type { Feed, FeedItem, ParsedFeed } from '../feeds/types';

/** The documented `--json` shape of `npm run preview`. */
export interface PreviewJson {
  feed: Pick<Feed, 'url' | 'title' | 'link' | 'format'> & { discoveredFrom?: string };
  items: Array<
    Pick<FeedItem, 'id' | 'guid' | 'title' | 'link' | 'published' | 'author' | 'categories' | 'image'> & {
      /** Discord markdown, or null: see `summaryOf`. */
      summary: string | null;
    }
  >;
  messages: MessagePayload[];
}

interface Output {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const USAGE = 'usage: npm run preview -- [--json] <feed or page URL | file>';

/** Runs `preview` with the given arguments and environment; resolves to the process exit code. */
export async function runPreview(argv: string[], env: NodeJS.ProcessEnv, output: Output): Promise<number> {
  const json = argv.includes('--json');
  const targets = argv.filter((arg) => arg !== '--json');
  const unknownFlag = targets.find((arg) => arg.startsWith('--'));
  if (targets.length !== 1 || unknownFlag) {
    output.stderr(`error: ${unknownFlag ? `unknown option ${unknownFlag}; ` : ''}${USAGE}`);
    return 1;
  }
  const target = targets[0]!;
  try {
    const parsed = await readTarget(target, env);
    const preview = toPreviewJson(parsed);
    output.stdout(json ? JSON.stringify(preview, null, 2) : formatListing(preview));
    return 0;
  } catch (error) {
    output.stderr(`error: ${describe(error)}`);
    return 1;
  }
}

/** Builds the `--json` document: feed, items in document order, and one message per item. */
export function toPreviewJson({ feed, items }: ParsedFeed): PreviewJson {
  return {
    feed: {
      url: feed.url,
      title: feed.title,
      link: feed.link,
      format: feed.format,
      ...(feed.discoveredFrom ? { discoveredFrom: feed.discoveredFrom } : {}),
    },
    items: items.map((item) => ({
      id: item.id,
      guid: item.guid,
      title: item.title,
      link: item.link,
      published: item.published,
      author: item.author,
      categories: item.categories,
      summary: summaryOf(item),
      image: imageOf(item),
    })),
    messages: items.map((item) => renderMessage(item, feed)),
  };
}

async function readTarget(target: string, env: NodeJS.ProcessEnv): Promise<ParsedFeed> {
  if (!/^[a-z][a-z0-9+.-]*:/i.test(target) || (await isFile(target))) {
    const file = path.resolve(target);
    const body = await readFile(file).catch((error: NodeJS.ErrnoException) => {
      throw new Error(
        error.code === 'ENOENT'
          ? `no such file: ${target} (give a feed URL with http:// or https://, or a file)`
          : error.message,
      );
    });
    return parseFeed(decodeFeedBody(body, null), { url: pathToFileURL(file).href });
  }
  const config = loadConfig(env, { requireToken: false });
  const source = createFeedSource({
    timeoutMs: config.fetchTimeoutSeconds * 1000,
    maxBytes: config.maxFeedBytes,
    allowPrivateNetwork: config.allowPrivateNetworkFeeds,
  });
  try {
    return (await loadTypedUrl(source, target)).parsed;
  } finally {
    await source.close();
  }
}

async function isFile(target: string): Promise<boolean> {
  try {
    return (await stat(target)).isFile();
  } catch {
    return false;
  }
}

function formatListing(preview: PreviewJson): string {
  const { feed, items, messages } = preview;
  const lines = [
    `${feed.title} (${feed.format})`,
    `  feed: ${feed.url}`,
    ...(feed.link ? [`  site: ${feed.link}`] : []),
    ...(feed.discoveredFrom ? [`  discovered from: ${feed.discoveredFrom}`] : []),
    `  ${items.length} item${items.length === 1 ? '' : 's'}`,
    '',
  ];
  items.forEach((item, index) => {
    lines.push(`${index + 1}. ${item.title ?? '(untitled)'}`);
    const meta = [item.published ?? 'no date', item.author, item.categories.join(', ')].filter(Boolean);
    lines.push(`   ${meta.join(' · ')}`);
    if (item.link) lines.push(`   ${item.link}`);
    if (item.image) lines.push(`   image: ${item.image}`);
    const description = messages[index]?.embeds?.[0]?.description;
    if (description) lines.push(...description.split('\n').map((line) => `   │ ${line}`));
    lines.push('');
  });
  return lines.join('\n');
}

function describe(error: unknown): string {
  if (error instanceof ConfigError) return error.problems.join('; ');
  if (error instanceof FeedError) return oneLine(error.message);
  if (error instanceof Error) return oneLine(error.message);
  return oneLine(String(error));
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  loadDotenv({ quiet: true });
  const code = await runPreview(process.argv.slice(2), process.env, {
    stdout: (text) => process.stdout.write(`${text}\n`),
    stderr: (text) => process.stderr.write(`${text}\n`),
  });
  process.exitCode = code;
}
