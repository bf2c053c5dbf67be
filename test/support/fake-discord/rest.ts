import type { IncomingMessage, ServerResponse } from 'node:http';
import type {
  APIApplicationCommandOptionChoice,
  APIAttachment,
  APIEmbed,
  APIMessage,
  RESTPostAPIInteractionCallbackWithResponseResult,
} from 'discord-api-types/v10';
import {
  ChannelType,
  GatewayDispatchEvents,
  GatewayIntentBits,
  InteractionResponseType,
  InteractionType,
  MessageFlags,
  MessageType,
  PermissionFlagsBits,
  RESTJSONErrorCodes,
  ThreadAutoArchiveDuration,
} from 'discord-api-types/v10';
import {
  ApiError,
  FormErrors,
  invalidFormBody,
  missingAccess,
  missingPermissions,
  unknown,
} from './api-error';
import { validateCommand, validateCommandList } from './command-validation';
import type { FakeGateway } from './gateway';
import type { InteractionRecord, InteractionRegistry } from './interactions';
import type { ValidMessageBody } from './message-validation';
import { charCount, validateMessageBody } from './message-validation';
import type { ChangeNotifier } from './notifier';
import { hasAll } from './permissions';
import type { RateLimiter } from './rate-limits';
import type { ChannelRecord, MessageRecord, World } from './world';
import { MESSAGE_CHANNEL_TYPES, discordTimestamp } from './world';

/** One request the bot made, as the fake saw and answered it. */
export interface RequestLogEntry {
  /** Unix milliseconds when the request arrived. */
  at: number;
  method: string;
  /** Path after `/api/v10`, with the query string. */
  path: string;
  /** The route key, e.g. `POST /channels/:channel/messages` (`unknown` when nothing matched). */
  route: string;
  status: number;
  /** Discord's JSON error code of the answer, if it was an error with one. */
  code: number | null;
  /** The JSON body (or `payload_json` of a multipart body). */
  body: unknown;
  /** Whether a valid bot token was sent. */
  authorized: boolean;
  /** Whether the answer came from `injectFailures`. */
  injected: boolean;
  /** Why a 429 was given, if one was. */
  rateLimited: 'route' | 'global' | null;
}

/** Counters over every answered request. */
export interface RestStats {
  requests: number;
  /** 429 answers (route, global and injected). */
  rateLimited: number;
  /** 429 answers with `X-RateLimit-Global`. */
  globalRateLimited: number;
  /** 401, 403 and 429 answers: what Discord counts towards its invalid-request ban (10,000 per 10 min). */
  invalid: number;
  /** Answers by HTTP status. */
  byStatus: Record<number, number>;
}

/** Makes the next matching requests fail, before any other processing. */
export interface FailureInjection {
  status: 429 | 500 | 502 | 503 | 504;
  /** How many requests to fail (default 1). */
  count?: number;
  /** Only requests on this route key (e.g. `POST /channels/:channel/messages`), or those the predicate picks. */
  route?: string | ((request: { method: string; path: string; route: string }) => boolean);
  /** For 429: how long the client must wait (default 1000 ms). */
  retryAfterMs?: number;
  /** For 429: a global rate limit instead of a route one. */
  global?: boolean;
}

/** Settings the REST half needs. */
export interface RestDependencies {
  token: string;
  world: World;
  gateway: FakeGateway;
  interactions: InteractionRegistry;
  limiter: RateLimiter;
  notifier: ChangeNotifier;
  nonceWindowMs: number;
  urls: () => { gateway: string; api: string };
}

interface RequestContext {
  method: string;
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  files: { name: string; size: number; contentType: string }[];
}

interface Reply {
  status: number;
  body?: unknown;
}

interface Route {
  method: string;
  pattern: string;
  segments: string[];
  /** Needs `Authorization: Bot <token>`; interaction and webhook-token routes do not. */
  auth: boolean;
  /** Counts towards the global limit (interaction endpoints do not). */
  global: boolean;
  handler: (ctx: RequestContext) => Reply | Promise<Reply>;
}

const GUILD_MESSAGES = GatewayIntentBits.GuildMessages;
/** Fields GUILD_CREATE carries that `GET /guilds/:id` does not. */
const GATEWAY_ONLY_GUILD_FIELDS = [
  'channels',
  'members',
  'threads',
  'presences',
  'voice_states',
  'joined_at',
  'large',
  'unavailable',
  'member_count',
  'stage_instances',
  'guild_scheduled_events',
  'soundboard_sounds',
] as const;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The REST half of the fake: routing, auth, rate limits, failure injection and Discord's answers. */
export class FakeRest {
  readonly log: RequestLogEntry[] = [];
  readonly stats: RestStats = { requests: 0, rateLimited: 0, globalRateLimited: 0, invalid: 0, byStatus: {} };
  readonly #deps: RestDependencies;
  readonly #routes: Route[] = [];
  readonly #failures: (FailureInjection & { remaining: number })[] = [];
  readonly #nonces = new Map<string, { messageId: string; at: number }>();

  constructor(deps: RestDependencies) {
    this.#deps = deps;
    this.#defineRoutes();
  }

  /** Queues failures for the next matching requests. */
  injectFailures(spec: FailureInjection): void {
    this.#failures.push({ ...spec, remaining: spec.count ?? 1 });
  }

  /** Drops any failures not yet used. */
  clearFailures(): void {
    this.#failures.length = 0;
  }

  /** Handles one HTTP request under `/api`. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const raw = await readBody(req);
    const method = (req.method ?? 'GET').toUpperCase();
    const path = url.pathname.replace(/^\/api\/v10(?=\/)/, '');
    const entry: RequestLogEntry = {
      at,
      method,
      path: path + url.search,
      route: 'unknown',
      status: 0,
      code: null,
      body: undefined,
      authorized: req.headers.authorization === `Bot ${this.#deps.token}`,
      injected: false,
      rateLimited: null,
    };
    let headers: Record<string, string> = {};
    let reply: Reply;
    try {
      if (!url.pathname.startsWith('/api/v10/')) throw new ApiError(404, 0, '404: Not Found');
      const match = this.#match(method, path);
      if (!match) throw new ApiError(404, 0, '404: Not Found');
      const { route, params } = match;
      entry.route = `${route.method} ${route.pattern}`;
      const major = majorParameter(params);
      const parsed = await parseBody(req.headers['content-type'], raw);
      entry.body = parsed.body;

      if (route.auth && !entry.authorized) {
        headers = this.#deps.limiter.peek(entry.route, major);
        throw new ApiError(401, 0, '401: Unauthorized');
      }
      const injected = this.#takeInjected(method, entry.path, entry.route);
      if (injected) {
        entry.injected = true;
        headers = this.#deps.limiter.peek(entry.route, major);
        reply = this.#injectedReply(injected, headers, entry);
      } else {
        if (route.global) {
          const global = this.#deps.limiter.takeGlobal();
          if (!global.allowed) {
            entry.rateLimited = 'global';
            headers = this.#deps.limiter.peek(entry.route, major);
            reply = rateLimitedReply(global.retryAfterMs, true, headers);
            this.#finish(res, entry, reply, headers);
            return;
          }
        }
        const bucket = this.#deps.limiter.take(entry.route, major);
        headers = bucket.headers;
        if (!bucket.allowed) {
          entry.rateLimited = 'route';
          reply = rateLimitedReply(bucket.retryAfterMs, false, headers);
        } else {
          if (parsed.error) throw parsed.error;
          reply = await route.handler({
            method,
            params,
            query: url.searchParams,
            body: parsed.body,
            files: parsed.files,
          });
        }
      }
    } catch (error) {
      if (!(error instanceof ApiError)) {
        reply = { status: 500, body: { message: '500: Internal Server Error', code: 0 } };
        entry.code = 0;
        // A bug in the fake must not look like Discord's answer: make it loud in the test output.
        console.error('fake-discord: handler crashed', error);
      } else {
        reply = { status: error.status, body: error.toBody() };
      }
    }
    this.#finish(res, entry, reply, headers);
  }

  #finish(res: ServerResponse, entry: RequestLogEntry, reply: Reply, headers: Record<string, string>): void {
    entry.status = reply.status;
    if (isRecord(reply.body) && typeof reply.body.code === 'number' && reply.status >= 400)
      entry.code = reply.body.code;
    this.log.push(entry);
    this.stats.requests += 1;
    this.stats.byStatus[reply.status] = (this.stats.byStatus[reply.status] ?? 0) + 1;
    if (reply.status === 429) {
      this.stats.rateLimited += 1;
      if (headers['X-RateLimit-Global']) this.stats.globalRateLimited += 1;
    }
    if (reply.status === 401 || reply.status === 403 || reply.status === 429) this.stats.invalid += 1;
    if (reply.status === 204 || reply.body === undefined) {
      // No Content-Type on an empty answer: @discordjs/rest would try to parse '' as JSON.
      res.writeHead(reply.status, headers);
      res.end();
    } else {
      res.writeHead(reply.status, { ...headers, 'Content-Type': 'application/json' });
      res.end(JSON.stringify(reply.body));
    }
    this.#deps.notifier.notify();
  }

  #takeInjected(method: string, path: string, route: string): FailureInjection | null {
    const index = this.#failures.findIndex((f) =>
      f.route === undefined
        ? true
        : typeof f.route === 'string'
          ? f.route === route
          : f.route({ method, path, route }),
    );
    const failure = this.#failures[index];
    if (!failure) return null;
    failure.remaining -= 1;
    if (failure.remaining <= 0) this.#failures.splice(index, 1);
    return failure;
  }

  #injectedReply(failure: FailureInjection, headers: Record<string, string>, entry: RequestLogEntry): Reply {
    if (failure.status === 429) {
      entry.rateLimited = failure.global ? 'global' : 'route';
      return rateLimitedReply(failure.retryAfterMs ?? 1000, failure.global === true, headers);
    }
    const text: Record<number, string> = {
      500: 'Internal Server Error',
      502: 'Bad Gateway',
      503: 'Service Unavailable',
      504: 'Gateway Timeout',
    };
    return {
      status: failure.status,
      body: { message: `${failure.status}: ${text[failure.status] ?? 'Error'}`, code: 0 },
    };
  }

  #match(method: string, path: string): { route: Route; params: Record<string, string> } | null {
    const parts = path.split('/').filter(Boolean).map(safeDecode);
    for (const route of this.#routes) {
      if (route.method !== method || route.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      route.segments.forEach((segment, i) => {
        const part = parts[i] ?? '';
        if (segment.startsWith(':')) params[segment.slice(1)] = part;
        else if (segment !== part) ok = false;
      });
      if (ok) return { route, params };
    }
    return null;
  }

  #route(
    method: string,
    pattern: string,
    handler: Route['handler'],
    options: { auth?: boolean; global?: boolean } = {},
  ): void {
    this.#routes.push({
      method,
      pattern,
      segments: pattern.split('/').filter(Boolean),
      auth: options.auth ?? true,
      global: options.global ?? options.auth ?? true,
      handler,
    });
  }

  // --- routes -----------------------------------------------------------------------------------

  #defineRoutes(): void {
    const { world } = this.#deps;
    this.#route('GET', '/gateway', () => ({ status: 200, body: { url: this.#deps.urls().gateway } }), {
      auth: false,
    });
    this.#route('GET', '/gateway/bot', () => ({
      status: 200,
      body: {
        url: this.#deps.urls().gateway,
        shards: 1,
        session_start_limit: {
          total: 1000,
          remaining: 1000 - this.#deps.gateway.stats.identifies,
          reset_after: 86_400_000,
          max_concurrency: 1,
        },
      },
    }));
    this.#route('GET', '/users/@me', () => ({
      status: 200,
      body: {
        ...world.apiUser(world.bot.id),
        verified: true,
        mfa_enabled: false,
        email: null,
        locale: 'en-US',
      },
    }));
    this.#route('GET', '/users/:user', ({ params }) => {
      if (!world.users.has(params.user ?? '')) throw unknown(RESTJSONErrorCodes.UnknownUser, 'User');
      return { status: 200, body: world.apiUser(params.user ?? '') };
    });
    for (const path of ['/applications/@me', '/oauth2/applications/@me']) {
      this.#route('GET', path, () => ({ status: 200, body: this.#application() }));
    }

    this.#route('GET', '/channels/:channel', ({ params }) => {
      const channel = this.#visibleChannel(params.channel ?? '');
      return { status: 200, body: world.apiChannel(channel) };
    });
    this.#route('GET', '/channels/:channel/messages', (ctx) => this.#listMessages(ctx));
    this.#route('POST', '/channels/:channel/messages', (ctx) => this.#createMessage(ctx));
    this.#route('GET', '/channels/:channel/messages/:message', ({ params }) => {
      const channel = this.#visibleChannel(params.channel ?? '');
      if (!hasAll(world.permissionsIn(channel.id, world.bot.id), PermissionFlagsBits.ReadMessageHistory))
        throw missingAccess();
      return { status: 200, body: this.#messageIn(channel.id, params.message ?? '').message };
    });
    this.#route('PATCH', '/channels/:channel/messages/:message', (ctx) => this.#editChannelMessage(ctx));
    this.#route('DELETE', '/channels/:channel/messages/:message', ({ params }) => {
      const channel = this.#visibleChannel(params.channel ?? '');
      const record = this.#messageIn(channel.id, params.message ?? '');
      if (
        record.message.author.id !== world.bot.id &&
        !hasAll(world.permissionsIn(channel.id, world.bot.id), PermissionFlagsBits.ManageMessages)
      ) {
        throw missingPermissions();
      }
      world.deleteMessage(record.message.id);
      this.#deps.gateway.dispatch(
        GatewayDispatchEvents.MessageDelete,
        { id: record.message.id, channel_id: channel.id, guild_id: channel.guildId },
        GUILD_MESSAGES,
      );
      return { status: 204 };
    });
    this.#route('POST', '/channels/:channel/threads', (ctx) => this.#createThread(ctx, null));
    this.#route('POST', '/channels/:channel/messages/:message/threads', (ctx) =>
      this.#createThread(ctx, ctx.params.message ?? null),
    );

    this.#route('GET', '/guilds/:guild', ({ params }) => {
      const guild = this.#guild(params.guild ?? '');
      const body: Record<string, unknown> = { ...world.apiGuildCreate(guild.id) };
      for (const key of GATEWAY_ONLY_GUILD_FIELDS) delete body[key];
      return { status: 200, body };
    });
    this.#route('GET', '/guilds/:guild/channels', ({ params }) => {
      const guild = this.#guild(params.guild ?? '');
      return { status: 200, body: world.guildChannels(guild.id).map((c) => world.apiChannel(c)) };
    });
    this.#route('GET', '/guilds/:guild/roles', ({ params }) => {
      const guild = this.#guild(params.guild ?? '');
      return { status: 200, body: world.guildRoles(guild.id).map((r) => world.apiRole(r)) };
    });
    this.#route('GET', '/guilds/:guild/members/:user', ({ params }) => {
      const guild = this.#guild(params.guild ?? '');
      const member = world.member(guild.id, params.user ?? '');
      if (!member) throw unknown(RESTJSONErrorCodes.UnknownMember, 'Member');
      return { status: 200, body: world.apiMember(member) };
    });

    for (const scope of ['/applications/:app/commands', '/applications/:app/guilds/:guild/commands']) {
      this.#route('GET', scope, ({ params }) => ({
        status: 200,
        body: world.commandsIn(this.#commandScope(params)),
      }));
      this.#route('PUT', scope, ({ params, body }) => {
        const guildId = this.#commandScope(params);
        return { status: 200, body: world.overwriteCommands(guildId, validateCommandList(body)) };
      });
      this.#route('POST', scope, ({ params, body }) => {
        const guildId = this.#commandScope(params);
        const { command, created } = world.upsertCommand(guildId, validateCommand(body));
        return { status: created ? 201 : 200, body: command };
      });
      this.#route('GET', `${scope}/:command`, ({ params }) => {
        const command = world.commandsIn(this.#commandScope(params)).find((c) => c.id === params.command);
        if (!command) throw unknown(RESTJSONErrorCodes.UnknownApplicationCommand, 'application command');
        return { status: 200, body: command };
      });
      this.#route('DELETE', `${scope}/:command`, ({ params }) => {
        const guildId = this.#commandScope(params);
        const list = world.commandsIn(guildId);
        if (!list.some((c) => c.id === params.command))
          throw unknown(RESTJSONErrorCodes.UnknownApplicationCommand, 'application command');
        const next = list.filter((c) => c.id !== params.command);
        if (guildId === null) world.globalCommands = next;
        else world.guildCommands.set(guildId, next);
        return { status: 204 };
      });
    }

    this.#route(
      'POST',
      '/interactions/:interaction/:token/callback',
      (ctx) => this.#interactionCallback(ctx),
      { auth: false },
    );
    this.#route('POST', '/webhooks/:webhook/:token', (ctx) => this.#followUp(ctx), { auth: false });
    this.#route(
      'GET',
      '/webhooks/:webhook/:token/messages/:message',
      ({ params }) => {
        const record = this.#webhookInteraction(params);
        return { status: 200, body: this.#interactionMessage(record, params.message ?? '').message };
      },
      { auth: false },
    );
    this.#route(
      'PATCH',
      '/webhooks/:webhook/:token/messages/:message',
      (ctx) => this.#editInteractionMessage(ctx),
      { auth: false },
    );
    this.#route(
      'DELETE',
      '/webhooks/:webhook/:token/messages/:message',
      ({ params }) => {
        const record = this.#webhookInteraction(params);
        const message = this.#interactionMessage(record, params.message ?? '');
        record.messages.delete(message.message.id);
        world.deleteMessage(message.message.id);
        if (message.message.id === record.replyId) record.replyDeleted = true;
        else record.followUpIds = record.followUpIds.filter((id) => id !== message.message.id);
        return { status: 204 };
      },
      { auth: false },
    );
  }

  #application(): Record<string, unknown> {
    const { world } = this.#deps;
    return {
      id: world.bot.id,
      name: world.bot.username,
      icon: null,
      description: '',
      summary: '',
      type: null,
      bot_public: true,
      bot_require_code_grant: false,
      verify_key: '0'.repeat(64),
      flags: 0,
      team: null,
      owner: {
        id: world.bot.id,
        username: world.bot.username,
        discriminator: '0000',
        avatar: null,
        global_name: null,
        public_flags: 0,
      },
      bot: world.apiUser(world.bot.id),
      approximate_guild_count: world.guilds.size,
    };
  }

  #guild(guildId: string): { id: string } {
    const guild = this.#deps.world.guilds.get(guildId);
    if (!guild) throw unknown(RESTJSONErrorCodes.UnknownGuild, 'Guild');
    return guild;
  }

  /** The command scope of a route: null for global; the app id must be the bot's. */
  #commandScope(params: Record<string, string>): string | null {
    if (params.app !== this.#deps.world.bot.id)
      throw unknown(RESTJSONErrorCodes.UnknownApplication, 'Application');
    if (params.guild === undefined) return null;
    // Registering in a guild the bot is not in fails like on Discord.
    if (!this.#deps.world.guilds.has(params.guild)) throw missingAccess();
    return params.guild;
  }

  /** A channel the bot can see, or Discord's 404/403. */
  #visibleChannel(channelId: string): ChannelRecord {
    const { world } = this.#deps;
    const channel = world.channels.get(channelId);
    if (!channel) throw unknown(RESTJSONErrorCodes.UnknownChannel, 'Channel');
    if (!hasAll(world.permissionsIn(channel.id, world.bot.id), PermissionFlagsBits.ViewChannel))
      throw missingAccess();
    return channel;
  }

  #messageIn(channelId: string, messageId: string): MessageRecord {
    const record = this.#deps.world.messages.get(messageId);
    if (record?.message.channel_id !== channelId || record.ephemeral)
      throw unknown(RESTJSONErrorCodes.UnknownMessage, 'Message');
    return record;
  }

  #listMessages({ params, query }: RequestContext): Reply {
    const { world } = this.#deps;
    const channel = this.#visibleChannel(params.channel ?? '');
    // Without Read Message History a bot gets an empty history, not an error.
    if (!hasAll(world.permissionsIn(channel.id, world.bot.id), PermissionFlagsBits.ReadMessageHistory))
      return { status: 200, body: [] };
    const limit = Math.min(100, Math.max(1, Number(query.get('limit') ?? 50) || 50));
    let list = world.messagesIn(channel.id).map((m) => m.message);
    const before = query.get('before');
    const after = query.get('after');
    const around = query.get('around');
    if (before) list = list.filter((m) => BigInt(m.id) < BigInt(before));
    if (after) list = list.filter((m) => BigInt(m.id) > BigInt(after)).slice(0, limit);
    if (around) {
      const index = list.findIndex((m) => BigInt(m.id) >= BigInt(around));
      const start = Math.max(0, (index === -1 ? list.length : index) - Math.floor(limit / 2));
      list = list.slice(start, start + limit);
    }
    return { status: 200, body: list.slice(-limit).reverse() };
  }

  #createMessage({ params, body, files }: RequestContext): Reply {
    const { world } = this.#deps;
    const channel = this.#visibleChannel(params.channel ?? '');
    if (!MESSAGE_CHANNEL_TYPES.has(channel.type)) {
      throw new ApiError(
        400,
        RESTJSONErrorCodes.CannotSendMessagesInNonTextChannel,
        'Cannot send messages in a non-text channel',
      );
    }
    const permissions = world.permissionsIn(channel.id, world.bot.id);
    const sendBit = channel.thread
      ? PermissionFlagsBits.SendMessagesInThreads
      : PermissionFlagsBits.SendMessages;
    if (!hasAll(permissions, sendBit)) throw missingPermissions();
    if (channel.thread?.locked) throw missingPermissions();
    const valid = validateMessageBody(body, {
      allowEphemeral: false,
      isEdit: false,
      fileCount: files.length,
    });
    if (valid.embeds && valid.embeds.length > 0 && !hasAll(permissions, PermissionFlagsBits.EmbedLinks))
      throw missingPermissions();
    if (files.length > 0 && !hasAll(permissions, PermissionFlagsBits.AttachFiles)) throw missingPermissions();

    if (valid.nonce !== undefined && valid.enforceNonce) {
      const key = `${channel.id}:${world.bot.id}:${String(valid.nonce)}`;
      const seen = this.#nonces.get(key);
      const existing =
        seen && Date.now() - seen.at <= this.#deps.nonceWindowMs
          ? world.messages.get(seen.messageId)
          : undefined;
      if (existing) return { status: 200, body: existing.message };
      const record = this.#storeChannelMessage(channel, valid, files);
      this.#nonces.set(key, { messageId: record.message.id, at: Date.now() });
      return { status: 200, body: record.message };
    }
    return { status: 200, body: this.#storeChannelMessage(channel, valid, files).message };
  }

  #storeChannelMessage(
    channel: ChannelRecord,
    valid: ValidMessageBody,
    files: RequestContext['files'],
    options: { id?: string } = {},
  ): MessageRecord {
    const { world } = this.#deps;
    const input: Parameters<World['buildMessage']>[0] = {
      channelId: channel.id,
      authorId: world.bot.id,
      content: valid.content ?? '',
      embeds: valid.embeds ?? [],
      flags: valid.flags ?? 0,
      type: MessageType.Default,
      allowedMentions: valid.allowedMentions ?? null,
      tts: valid.tts ?? false,
      attachments: files.map((f) => this.#attachment(channel.id, f)),
    };
    if (options.id !== undefined) input.id = options.id;
    if (valid.nonce !== undefined) input.nonce = valid.nonce;
    if (valid.components) input.components = valid.components;
    const message = world.buildMessage(input);
    const record: MessageRecord = {
      message,
      guildId: channel.guildId,
      allowedMentions: valid.allowedMentions ?? null,
      enforceNonce: valid.enforceNonce,
      ephemeral: false,
      interactionId: null,
    };
    world.storeMessage(record);
    this.#deps.gateway.dispatch(
      GatewayDispatchEvents.MessageCreate,
      { ...message, guild_id: channel.guildId },
      GUILD_MESSAGES,
    );
    return record;
  }

  #attachment(channelId: string, file: RequestContext['files'][number]): APIAttachment {
    const id = this.#deps.world.nextId();
    const url = `${this.#deps.urls().api.replace(/\/api$/, '')}/attachments/${channelId}/${id}/${encodeURIComponent(file.name)}`;
    return { id, filename: file.name, size: file.size, url, proxy_url: url, content_type: file.contentType };
  }

  #editChannelMessage({ params, body, files }: RequestContext): Reply {
    const { world } = this.#deps;
    const channel = this.#visibleChannel(params.channel ?? '');
    const record = this.#messageIn(channel.id, params.message ?? '');
    if (record.message.author.id !== world.bot.id) {
      throw new ApiError(
        403,
        RESTJSONErrorCodes.CannotEditMessageAuthoredByAnotherUser,
        'Cannot edit a message authored by another user',
      );
    }
    const valid = validateMessageBody(body, { allowEphemeral: false, isEdit: true, fileCount: files.length });
    if (
      valid.embeds &&
      valid.embeds.length > 0 &&
      !hasAll(world.permissionsIn(channel.id, world.bot.id), PermissionFlagsBits.EmbedLinks)
    ) {
      throw missingPermissions();
    }
    this.#applyEdit(record, valid, body, files);
    this.#deps.gateway.dispatch(
      GatewayDispatchEvents.MessageUpdate,
      { ...record.message, guild_id: channel.guildId },
      GUILD_MESSAGES,
    );
    return { status: 200, body: record.message };
  }

  /** Applies an edit to a stored message; throws 50006 when it would leave the message empty. */
  #applyEdit(
    record: MessageRecord,
    valid: ValidMessageBody,
    body: unknown,
    files: RequestContext['files'],
  ): void {
    const { world } = this.#deps;
    const fields = isRecord(body) ? body : {};
    const next: APIMessage = structuredClone(record.message);
    if ('content' in fields) next.content = valid.content ?? '';
    if ('embeds' in fields)
      next.embeds = (valid.embeds ?? []).map((e: APIEmbed) => ({ type: 'rich', ...e }) as APIEmbed);
    if ('components' in fields)
      next.components = (valid.components ?? []) as APIMessage['components'] & unknown[];
    if (files.length > 0)
      next.attachments = [...next.attachments, ...files.map((f) => this.#attachment(next.channel_id, f))];
    if (valid.flags !== undefined) {
      // Only Suppress Embeds can change on an edit; Ephemeral and Loading belong to the message.
      next.flags =
        ((next.flags ?? 0) & ~MessageFlags.SuppressEmbeds) | (valid.flags & MessageFlags.SuppressEmbeds);
    }
    const loading = ((next.flags ?? 0) & MessageFlags.Loading) !== 0;
    if (loading) next.flags = (next.flags ?? 0) & ~MessageFlags.Loading;
    if (
      next.content.trim() === '' &&
      next.embeds.length === 0 &&
      next.attachments.length === 0 &&
      (next.components ?? []).length === 0
    ) {
      throw new ApiError(400, RESTJSONErrorCodes.CannotSendAnEmptyMessage, 'Cannot send an empty message');
    }
    if (valid.allowedMentions) record.allowedMentions = valid.allowedMentions;
    const mentions = world.resolveMentions(
      next.channel_id,
      next.author.id,
      next.content,
      record.allowedMentions,
    );
    next.mentions = mentions.users.map((u) => world.apiUser(u));
    next.mention_roles = mentions.roles;
    next.mention_everyone = mentions.everyone;
    // A deferred reply's first edit is its first real content, not an edit in Discord's eyes.
    if (!loading) next.edited_timestamp = discordTimestamp(Date.now());
    record.message = next;
  }

  #createThread({ params, body }: RequestContext, fromMessageId: string | null): Reply {
    const { world } = this.#deps;
    const parent = this.#visibleChannel(params.channel ?? '');
    const permissions = world.permissionsIn(parent.id, world.bot.id);
    const fields = isRecord(body) ? body : {};
    const errors = new FormErrors();
    const name = fields.name;
    if (typeof name !== 'string' || name.trim() === '')
      errors.add(['name'], 'BASE_TYPE_REQUIRED', 'This field is required');
    else if (charCount(name) > 100)
      errors.add(['name'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.');
    const archive = fields.auto_archive_duration ?? ThreadAutoArchiveDuration.OneDay;
    if (![60, 1440, 4320, 10080].includes(Number(archive))) {
      errors.add(
        ['auto_archive_duration'],
        'BASE_TYPE_CHOICES',
        'Value must be one of {60, 1440, 4320, 10080}.',
      );
    }

    const isForum = parent.type === ChannelType.GuildForum || parent.type === ChannelType.GuildMedia;
    let type: ChannelType;
    let starter: ValidMessageBody | null = null;
    if (isForum) {
      if (fromMessageId !== null)
        throw new ApiError(
          400,
          RESTJSONErrorCodes.CannotSendMessagesInNonTextChannel,
          'Cannot send messages in a non-text channel',
        );
      type = ChannelType.PublicThread;
      if (!hasAll(permissions, PermissionFlagsBits.SendMessages)) throw missingPermissions();
      if (!isRecord(fields.message)) errors.add(['message'], 'BASE_TYPE_REQUIRED', 'This field is required');
      if (errors.count > 0) throw invalidFormBody(errors);
      starter = validateMessageBody(fields.message, { allowEphemeral: false, isEdit: false, fileCount: 0 });
      if (starter.embeds && starter.embeds.length > 0 && !hasAll(permissions, PermissionFlagsBits.EmbedLinks))
        throw missingPermissions();
    } else if (parent.type === ChannelType.GuildText || parent.type === ChannelType.GuildAnnouncement) {
      if (fromMessageId !== null) {
        this.#messageIn(parent.id, fromMessageId);
        type =
          parent.type === ChannelType.GuildAnnouncement
            ? ChannelType.AnnouncementThread
            : ChannelType.PublicThread;
      } else if (parent.type === ChannelType.GuildAnnouncement) {
        type = ChannelType.AnnouncementThread;
      } else {
        // API v10 makes a private thread unless told otherwise.
        type =
          fields.type === ChannelType.PublicThread ? ChannelType.PublicThread : ChannelType.PrivateThread;
      }
      const needed =
        type === ChannelType.PrivateThread
          ? PermissionFlagsBits.CreatePrivateThreads
          : PermissionFlagsBits.CreatePublicThreads;
      if (!hasAll(permissions, needed)) throw missingPermissions();
      if (errors.count > 0) throw invalidFormBody(errors);
    } else {
      throw new ApiError(
        400,
        RESTJSONErrorCodes.CannotSendMessagesInNonTextChannel,
        'Cannot send messages in a non-text channel',
      );
    }

    const id = fromMessageId ?? world.nextId();
    const thread: ChannelRecord = {
      id,
      guildId: parent.guildId,
      type,
      name: String(name),
      position: 0,
      parentId: parent.id,
      topic: null,
      nsfw: parent.nsfw,
      overwrites: [],
      lastMessageId: null,
      rateLimitPerUser: typeof fields.rate_limit_per_user === 'number' ? fields.rate_limit_per_user : 0,
      availableTags: [],
      thread: {
        ownerId: world.bot.id,
        archived: false,
        locked: false,
        autoArchiveDuration: Number(archive) as ThreadAutoArchiveDuration,
        createdAt: Date.now(),
        messageCount: 0,
        totalMessageSent: 0,
        appliedTags: Array.isArray(fields.applied_tags) ? (fields.applied_tags as string[]) : [],
      },
    };
    world.channels.set(thread.id, thread);
    this.#deps.gateway.dispatch(
      GatewayDispatchEvents.ThreadCreate,
      { ...world.apiChannel(thread), newly_created: true },
      GatewayIntentBits.Guilds,
    );
    if (starter) {
      // A forum post's first message has the thread's id.
      const record = this.#storeChannelMessage(thread, starter, [], { id: thread.id });
      return { status: 201, body: { ...world.apiChannel(thread), message: record.message } };
    }
    return { status: 201, body: world.apiChannel(thread) };
  }

  // --- interactions -----------------------------------------------------------------------------

  #interactionCallback({ params, query, body }: RequestContext): Reply {
    const { interactions } = this.#deps;
    const record = interactions.byIdAndToken(params.interaction ?? '', params.token ?? '');
    if (!record) throw unknown(RESTJSONErrorCodes.UnknownInteraction, 'interaction');
    if (interactions.isExpired(record)) {
      record.refusals.push(RESTJSONErrorCodes.UnknownInteraction);
      throw unknown(RESTJSONErrorCodes.UnknownInteraction, 'interaction');
    }
    if (record.acknowledgement !== null) {
      record.refusals.push(RESTJSONErrorCodes.InteractionHasAlreadyBeenAcknowledged);
      throw new ApiError(
        400,
        RESTJSONErrorCodes.InteractionHasAlreadyBeenAcknowledged,
        'Interaction has already been acknowledged.',
      );
    }
    const fields = isRecord(body) ? body : {};
    const type = fields.type;
    const data = fields.data;
    const invalidType = () => {
      const errors = new FormErrors();
      errors.add(
        ['type'],
        'INTERACTION_RESPONSE_TYPE_INVALID',
        `Interaction response type ${String(type)} is not valid for this interaction`,
      );
      return invalidFormBody(errors);
    };
    let message: MessageRecord | null = null;
    switch (type) {
      case InteractionResponseType.ChannelMessageWithSource:
      case InteractionResponseType.DeferredChannelMessageWithSource: {
        if (record.kind !== 'command') throw invalidType();
        const deferred = type === InteractionResponseType.DeferredChannelMessageWithSource;
        const valid = deferred
          ? validateMessageBody(isRecord(data) ? { flags: data.flags } : {}, {
              allowEphemeral: true,
              isEdit: true,
              fileCount: 0,
            })
          : validateMessageBody(data, { allowEphemeral: true, isEdit: false, fileCount: 0 });
        const ephemeral = ((valid.flags ?? 0) & MessageFlags.Ephemeral) !== 0;
        message = this.#storeInteractionMessage(record, valid, {
          type: MessageType.ChatInputCommand,
          ephemeral,
          loading: deferred,
        });
        record.acknowledgement = deferred ? 'deferred-reply' : 'reply';
        record.ephemeral = ephemeral;
        record.replyId = message.message.id;
        break;
      }
      case InteractionResponseType.ApplicationCommandAutocompleteResult: {
        if (record.kind !== 'autocomplete') throw invalidType();
        record.choices = validateChoices(data);
        record.acknowledgement = 'autocomplete';
        break;
      }
      case InteractionResponseType.Modal: {
        if (record.kind !== 'command') throw invalidType();
        if (!isRecord(data)) throw invalidType();
        record.modal = structuredClone(data);
        record.acknowledgement = 'modal';
        break;
      }
      default:
        throw invalidType();
    }
    if (query.get('with_response') !== 'true') return { status: 204 };
    const result: RESTPostAPIInteractionCallbackWithResponseResult = {
      interaction: {
        id: record.id,
        type:
          record.kind === 'command'
            ? InteractionType.ApplicationCommand
            : InteractionType.ApplicationCommandAutocomplete,
      },
      resource: { type },
    };
    if (message) {
      result.interaction.response_message_id = message.message.id;
      result.interaction.response_message_loading =
        ((message.message.flags ?? 0) & MessageFlags.Loading) !== 0;
      result.interaction.response_message_ephemeral = message.ephemeral;
      if (result.resource) result.resource.message = message.message;
    }
    return { status: 200, body: result };
  }

  #storeInteractionMessage(
    record: InteractionRecord,
    valid: ValidMessageBody,
    options: { type: MessageType; ephemeral: boolean; loading: boolean },
  ): MessageRecord {
    const { world } = this.#deps;
    const flags =
      (valid.flags ?? 0) |
      (options.ephemeral ? MessageFlags.Ephemeral : 0) |
      (options.loading ? MessageFlags.Loading : 0);
    const input: Parameters<World['buildMessage']>[0] = {
      channelId: record.channelId,
      authorId: world.bot.id,
      content: valid.content ?? '',
      embeds: valid.embeds ?? [],
      flags,
      type: options.type,
      allowedMentions: valid.allowedMentions ?? null,
      tts: valid.tts ?? false,
      webhookId: world.bot.id,
    };
    if (valid.components) input.components = valid.components;
    const message = world.buildMessage(input);
    message.interaction_metadata = {
      id: record.id,
      type: InteractionType.ApplicationCommand,
      user: world.apiUser(record.userId),
      authorizing_integration_owners: { '0': record.guildId },
    };
    const stored: MessageRecord = {
      message,
      guildId: record.guildId,
      allowedMentions: valid.allowedMentions ?? null,
      enforceNonce: false,
      ephemeral: options.ephemeral,
      interactionId: record.id,
    };
    record.messages.set(message.id, stored);
    world.storeMessage(stored);
    if (!options.ephemeral) {
      this.#deps.gateway.dispatch(
        GatewayDispatchEvents.MessageCreate,
        { ...message, guild_id: record.guildId },
        GUILD_MESSAGES,
      );
    }
    return stored;
  }

  /** The interaction behind a webhook route; Discord's 404/401 when the webhook or token is not usable. */
  #webhookInteraction(params: Record<string, string>): InteractionRecord {
    const { interactions, world } = this.#deps;
    const record = params.webhook === world.bot.id ? interactions.byToken(params.token ?? '') : undefined;
    if (record?.kind !== 'command' || record.acknowledgement === null || record.acknowledgement === 'modal') {
      throw unknown(RESTJSONErrorCodes.UnknownWebhook, 'Webhook');
    }
    if (!interactions.tokenAlive(record))
      throw new ApiError(401, RESTJSONErrorCodes.InvalidWebhookToken, 'Invalid Webhook Token');
    return record;
  }

  #interactionMessage(record: InteractionRecord, messageId: string): MessageRecord {
    const id = messageId === '@original' ? record.replyId : messageId;
    const message = id ? record.messages.get(id) : undefined;
    if (!message) throw unknown(RESTJSONErrorCodes.UnknownMessage, 'Message');
    return message;
  }

  #followUp({ params, query, body, files }: RequestContext): Reply {
    const record = this.#webhookInteraction(params);
    const valid = validateMessageBody(body, { allowEphemeral: true, isEdit: false, fileCount: files.length });
    const original = record.replyId ? record.messages.get(record.replyId) : undefined;
    let message: MessageRecord;
    if (original && ((original.message.flags ?? 0) & MessageFlags.Loading) !== 0) {
      // Discord's quirk: the first follow-up after a deferral fills the "thinking…" message.
      this.#applyEdit(original, valid, body, files);
      message = original;
    } else {
      const ephemeral = ((valid.flags ?? 0) & MessageFlags.Ephemeral) !== 0;
      message = this.#storeInteractionMessage(record, valid, {
        type: MessageType.Default,
        ephemeral,
        loading: false,
      });
      record.followUpIds.push(message.message.id);
    }
    return query.get('wait') === 'true' ? { status: 200, body: message.message } : { status: 204 };
  }

  #editInteractionMessage({ params, body, files }: RequestContext): Reply {
    const record = this.#webhookInteraction(params);
    const message = this.#interactionMessage(record, params.message ?? '');
    const valid = validateMessageBody(body, { allowEphemeral: true, isEdit: true, fileCount: files.length });
    this.#applyEdit(message, valid, body, files);
    if (message.message.id === record.replyId) record.edits += 1;
    if (!message.ephemeral) {
      this.#deps.gateway.dispatch(
        GatewayDispatchEvents.MessageUpdate,
        { ...message.message, guild_id: record.guildId },
        GUILD_MESSAGES,
      );
    }
    return { status: 200, body: message.message };
  }
}

/** Validates autocomplete choices: at most 25, names 1–100, values strings ≤ 100 or numbers. */
function validateChoices(data: unknown): APIApplicationCommandOptionChoice[] {
  const errors = new FormErrors();
  const choices = isRecord(data) ? data.choices : undefined;
  if (!Array.isArray(choices)) {
    errors.add(['data', 'choices'], 'BASE_TYPE_REQUIRED', 'This field is required');
    throw invalidFormBody(errors);
  }
  if (choices.length > 25)
    errors.add(['data', 'choices'], 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.');
  choices.forEach((choice: unknown, i) => {
    if (!isRecord(choice)) {
      errors.add(['data', 'choices', i], 'DICT_TYPE_CONVERT', 'Only dictionaries may be used in a DictType');
      return;
    }
    if (typeof choice.name !== 'string' || charCount(choice.name) < 1 || charCount(choice.name) > 100) {
      errors.add(
        ['data', 'choices', i, 'name'],
        'BASE_TYPE_BAD_LENGTH',
        'Must be between 1 and 100 in length.',
      );
    }
    const value = choice.value;
    if (typeof value === 'string' ? charCount(value) > 100 : typeof value !== 'number') {
      errors.add(
        ['data', 'choices', i, 'value'],
        'BASE_TYPE_BAD_LENGTH',
        'Must be between 1 and 100 in length.',
      );
    }
  });
  if (errors.count > 0) throw invalidFormBody(errors);
  return choices as APIApplicationCommandOptionChoice[];
}

/** The 429 Discord sends: `Retry-After` in whole seconds (rounded up), `retry_after` precise. */
function rateLimitedReply(retryAfterMs: number, global: boolean, headers: Record<string, string>): Reply {
  const retryAfter = Math.max(0.001, retryAfterMs / 1000);
  headers['Retry-After'] = String(Math.ceil(retryAfter));
  headers['X-RateLimit-Scope'] = global ? 'global' : 'user';
  if (global) headers['X-RateLimit-Global'] = 'true';
  return {
    status: 429,
    body: { message: 'You are being rate limited.', retry_after: Number(retryAfter.toFixed(3)), global },
  };
}

/** Discord's top-level resources: rate limits are kept per channel, guild, or webhook + token. */
function majorParameter(params: Record<string, string>): string {
  if (params.channel) return params.channel;
  if (params.guild) return params.guild;
  if (params.webhook) return `${params.webhook}/${params.token ?? ''}`;
  if (params.interaction) return params.interaction;
  return 'global';
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Parses JSON or multipart bodies; a bad body becomes Discord's 50109 answer, raised after rate limiting. */
async function parseBody(
  contentType: string | undefined,
  raw: Buffer,
): Promise<{ body: unknown; files: RequestContext['files']; error?: ApiError }> {
  if (raw.length === 0) return { body: undefined, files: [] };
  const invalidJson = () =>
    new ApiError(
      400,
      RESTJSONErrorCodes.RequestBodyContainsInvalidJSON,
      'The request body contains invalid JSON.',
    );
  if (contentType?.startsWith('multipart/form-data')) {
    const form = await new Response(new Uint8Array(raw), {
      headers: { 'content-type': contentType },
    }).formData();
    const files: RequestContext['files'] = [];
    let body: unknown;
    for (const [key, value] of form.entries()) {
      if (key === 'payload_json' && typeof value === 'string') {
        try {
          body = JSON.parse(value);
        } catch {
          return { body: undefined, files, error: invalidJson() };
        }
      } else if (typeof value !== 'string') {
        files.push({
          name: value.name,
          size: value.size,
          contentType: value.type || 'application/octet-stream',
        });
      }
    }
    return { body, files };
  }
  try {
    return { body: JSON.parse(raw.toString('utf8')), files: [] };
  } catch {
    return { body: undefined, files: [], error: invalidJson() };
  }
}
