/**
 * The local Discord stand-in (test/support/fake-discord) in its own process, with Discord's
 * message limits: 5 messages per 5 s per channel and 50 requests per second in total. The bench
 * asks it which messages arrived and how many 429s it answered.
 */
import { startFakeDiscord, type FakeDiscord } from '../test/support/fake-discord/index';
import { serveCalls } from './ipc';

/** A channel Herald posts into. */
export interface BenchChannel {
  guildId: string;
  channelId: string;
}

/** A point in the fake's history that a report counts from. */
export interface DeliveryMark {
  since: number;
  globalRateLimited: number;
}

/** What reached a set of channels since a mark. */
export interface DeliveryReport {
  /** Embed URLs of the messages now in each channel, oldest first. */
  posted: Record<string, string[]>;
  /** 429s answered on message creation per channel since the mark. */
  rateLimitedByChannel: Record<string, number>;
  /** 429s answered with the global flag since the mark. */
  globalRateLimited: number;
  /** Requests answered since the mark. */
  requests: number;
  /** Arrival times (ms) of the first and last accepted post since the mark. */
  firstPostAt: number | null;
  lastPostAt: number | null;
}

/** The rate limits the delivery benchmark is specified against. */
export const MESSAGE_LIMIT = { limit: 5, windowMs: 5000 } as const;
export const GLOBAL_LIMIT = { limit: 50, windowMs: 1000 } as const;

const MESSAGES_ROUTE = 'POST /channels/:channel/messages';

let discord: FakeDiscord | null = null;

async function fake(): Promise<FakeDiscord> {
  discord ??= await startFakeDiscord({ rateLimits: { messages: MESSAGE_LIMIT, global: GLOBAL_LIMIT } });
  return discord;
}

serveCalls(
  {
    /** Creates `guilds` servers with `channelsPerGuild` text channels each. */
    async setup(params: { guilds: number; channelsPerGuild: number }) {
      const d = await fake();
      const channels: BenchChannel[] = [];
      for (let g = 0; g < params.guilds; g++) {
        const guild = d.addGuild({ name: `bench-${g}` });
        for (let c = 0; c < params.channelsPerGuild; c++) {
          channels.push({ guildId: guild.id, channelId: d.addChannel(guild.id, { name: `news-${c}` }).id });
        }
      }
      return { apiBase: d.apiBase, token: d.token, channels };
    },
    /** Where a later report starts from: the position in the request log and the global 429 count. */
    async mark(): Promise<DeliveryMark> {
      const d = await fake();
      return { since: d.requestLog.length, globalRateLimited: d.stats.globalRateLimited };
    },
    async report(params: { mark: DeliveryMark; channelIds: string[] }): Promise<DeliveryReport> {
      const d = await fake();
      const posted: Record<string, string[]> = {};
      for (const id of params.channelIds) {
        posted[id] = d.messages(id).map((message) => message.embeds[0]?.url ?? '(no url)');
      }
      const rateLimitedByChannel: Record<string, number> = {};
      let firstPostAt: number | null = null;
      let lastPostAt: number | null = null;
      const log = d.requestLog.slice(params.mark.since);
      for (const entry of log) {
        if (entry.route !== MESSAGES_ROUTE) continue;
        const channelId = /^\/channels\/(\d+)\//.exec(entry.path)?.[1] ?? '?';
        if (entry.status === 429) {
          rateLimitedByChannel[channelId] = (rateLimitedByChannel[channelId] ?? 0) + 1;
        } else if (entry.status === 200) {
          firstPostAt ??= entry.at;
          lastPostAt = entry.at;
        }
      }
      // The global flag is only in the stats, which count from the start.
      const globalRateLimited = d.stats.globalRateLimited - params.mark.globalRateLimited;
      return {
        posted,
        rateLimitedByChannel,
        globalRateLimited,
        requests: log.length,
        firstPostAt,
        lastPostAt,
      };
    },
  },
  async () => {
    await discord?.close();
  },
);
