import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { ApplicationFlags, GatewayReadyDispatchData } from 'discord-api-types/v10';
import {
  GatewayCloseCodes,
  GatewayDispatchEvents,
  GatewayIntentBits,
  GatewayOpcodes,
} from 'discord-api-types/v10';
import type { RawData, WebSocket } from 'ws';
import type { ChangeNotifier, WaitOptions } from './notifier';
import type { World } from './world';

/** Counters a test can wait on or assert. */
export interface GatewayStats {
  /** WebSocket connections accepted. */
  connections: number;
  /** IDENTIFY payloads accepted (a new session each). */
  identifies: number;
  /** RESUME payloads that resumed a session. */
  resumes: number;
  /** Heartbeats received. */
  heartbeats: number;
  /** Heartbeat ACKs sent. */
  acks: number;
  /** Close codes of connections, in order (1006 for a dropped connection). */
  closeCodes: number[];
}

/** Scripted gateway faults and observations for tests. */
export interface GatewayController {
  /** Sends op 7 RECONNECT: the client closes and resumes on `resume_gateway_url`. */
  reconnect(): void;
  /** Sends op 9 INVALID SESSION; unless `resumable`, the session is gone and the client must identify again. */
  invalidSession(resumable?: boolean): void;
  /** Cuts the TCP connection without a close frame (the client sees 1006 and resumes). */
  dropConnection(): void;
  /** Closes the connection with a close code, e.g. 4000 (unknown error, resumable) or 4014 (not resumable). */
  closeConnection(code: number, reason?: string): void;
  /** Stops (or resumes) answering heartbeats, so the client detects a zombie connection. */
  withholdAcks(withhold: boolean): void;
  /** Whether a session is connected and ready to receive dispatches. */
  readonly connected: boolean;
  /** A snapshot of the counters. */
  readonly stats: GatewayStats;
  /** Resolves once `predicate(stats)` holds, checked after every gateway event. */
  waitFor(predicate: (stats: GatewayStats) => boolean, options?: WaitOptions): Promise<GatewayStats>;
}

/** What the gateway needs from the rest of the fake. */
export interface GatewayDependencies {
  token: string;
  world: World;
  notifier: ChangeNotifier;
  heartbeatIntervalMs: number;
  /** Privileged intents the application has enabled in the developer portal. */
  allowedPrivilegedIntents: number;
  /** The URL `GET /gateway/bot` hands out, and the one READY offers for resuming. */
  urls: () => { gateway: string; resume: string };
}

interface Session {
  id: string;
  seq: number;
  intents: number;
  connection: Connection | null;
  /** Sent dispatches, kept so a RESUME can replay what the client missed. */
  sent: { s: number; frame: string }[];
  valid: boolean;
}

interface Connection {
  socket: WebSocket;
  session: Session | null;
  /** True once READY or RESUMED was sent on this connection. */
  live: boolean;
}

const PRIVILEGED_INTENTS =
  GatewayIntentBits.GuildMembers | GatewayIntentBits.GuildPresences | GatewayIntentBits.MessageContent;
const KNOWN_INTENTS = Object.values(GatewayIntentBits)
  .filter((v): v is number => typeof v === 'number')
  .reduce((all, bit) => all | bit, 0);
const REPLAY_BUFFER = 1000;

/** The gateway half of the fake: sessions, heartbeats, dispatches and scripted faults. */
export class FakeGateway implements GatewayController {
  readonly #deps: GatewayDependencies;
  readonly #sessions = new Map<string, Session>();
  readonly #connections = new Set<Connection>();
  #withholdAcks = false;
  readonly #stats: GatewayStats = {
    connections: 0,
    identifies: 0,
    resumes: 0,
    heartbeats: 0,
    acks: 0,
    closeCodes: [],
  };
  /** The session that receives interactions: the most recently identified one. */
  #primary: Session | null = null;

  constructor(deps: GatewayDependencies) {
    this.#deps = deps;
  }

  get stats(): GatewayStats {
    return { ...this.#stats, closeCodes: [...this.#stats.closeCodes] };
  }

  get connected(): boolean {
    return this.#primary?.connection?.live === true;
  }

  waitFor(predicate: (stats: GatewayStats) => boolean, options: WaitOptions = {}): Promise<GatewayStats> {
    return this.#deps.notifier.waitFor(() => (predicate(this.stats) ? this.stats : undefined), {
      what: 'a gateway condition',
      ...options,
    });
  }

  reconnect(): void {
    this.#primaryConnection()?.socket.send(JSON.stringify({ op: GatewayOpcodes.Reconnect, d: null }));
  }

  invalidSession(resumable = false): void {
    const session = this.#primary;
    const connection = session?.connection;
    if (!session || !connection) return;
    if (!resumable) session.valid = false;
    // The connection is no longer authenticated: the client answers with RESUME or IDENTIFY on it.
    connection.session = null;
    connection.live = false;
    session.connection = null;
    connection.socket.send(JSON.stringify({ op: GatewayOpcodes.InvalidSession, d: resumable }));
  }

  dropConnection(): void {
    this.#primaryConnection()?.socket.terminate();
  }

  closeConnection(code: number, reason = ''): void {
    this.#primaryConnection()?.socket.close(code, reason);
  }

  withholdAcks(withhold: boolean): void {
    this.#withholdAcks = withhold;
  }

  /** Sends a dispatch to every live session whose intents include `intent` (when given). */
  dispatch(event: GatewayDispatchEvents, data: unknown, intent?: number): void {
    for (const session of this.#sessions.values()) {
      if (!session.valid) continue;
      if (intent !== undefined && (session.intents & intent) === 0) continue;
      this.#send(session, event, data);
    }
  }

  /**
   * Sends INTERACTION_CREATE to the primary session. Returns false when no session exists, in
   * which case the interaction is lost, as on Discord when the bot is offline.
   */
  dispatchInteraction(data: unknown): boolean {
    const session = this.#primary;
    if (!session?.valid) return false;
    this.#send(session, GatewayDispatchEvents.InteractionCreate, data);
    return true;
  }

  /** Accepts a WebSocket connection from the HTTP server's upgrade handler. */
  accept(socket: WebSocket, request: IncomingMessage): void {
    const connection: Connection = { socket, session: null, live: false };
    this.#connections.add(connection);
    this.#stats.connections += 1;
    this.#deps.notifier.notify();

    const query = new URL(request.url ?? '/', 'http://localhost').searchParams;
    if ((query.get('v') ?? '10') !== '10') {
      socket.close(GatewayCloseCodes.InvalidAPIVersion, 'Invalid API version');
      return;
    }
    if ((query.get('encoding') ?? 'json') !== 'json' || query.has('compress')) {
      // Only plain JSON text frames are modelled (see README).
      socket.close(GatewayCloseCodes.DecodeError, 'Only encoding=json without compression is supported');
      return;
    }
    socket.on('message', (data, isBinary) => this.#onMessage(connection, data, isBinary));
    socket.on('close', (code) => this.#onClose(connection, code));
    socket.on('error', () => {
      // A reset socket also emits 'close', which does the bookkeeping.
    });
    socket.send(
      JSON.stringify({ op: GatewayOpcodes.Hello, d: { heartbeat_interval: this.#deps.heartbeatIntervalMs } }),
    );
  }

  /** Terminates every connection (used when the fake closes). */
  closeAll(): void {
    for (const connection of this.#connections) connection.socket.terminate();
    this.#connections.clear();
    this.#sessions.clear();
    this.#primary = null;
  }

  #primaryConnection(): Connection | null {
    return this.#primary?.connection ?? null;
  }

  #send(session: Session, event: string, data: unknown): void {
    session.seq += 1;
    const frame = JSON.stringify({ op: GatewayOpcodes.Dispatch, t: event, s: session.seq, d: data });
    session.sent.push({ s: session.seq, frame });
    if (session.sent.length > REPLAY_BUFFER) session.sent.shift();
    const connection = session.connection;
    if (connection?.live && connection.socket.readyState === connection.socket.OPEN)
      connection.socket.send(frame);
  }

  #onMessage(connection: Connection, raw: RawData, isBinary: boolean): void {
    let payload: { op?: unknown; d?: unknown };
    try {
      if (isBinary) throw new Error('binary frame');
      payload = JSON.parse(rawToString(raw)) as { op?: unknown; d?: unknown };
    } catch {
      connection.socket.close(GatewayCloseCodes.DecodeError, 'Error while decoding payload.');
      return;
    }
    switch (payload.op) {
      case GatewayOpcodes.Heartbeat:
        this.#stats.heartbeats += 1;
        if (!this.#withholdAcks) {
          connection.socket.send(JSON.stringify({ op: GatewayOpcodes.HeartbeatAck }));
          this.#stats.acks += 1;
        }
        break;
      case GatewayOpcodes.Identify:
        this.#identify(connection, payload.d);
        break;
      case GatewayOpcodes.Resume:
        this.#resume(connection, payload.d);
        break;
      case GatewayOpcodes.PresenceUpdate:
      case GatewayOpcodes.VoiceStateUpdate:
      case GatewayOpcodes.RequestGuildMembers:
      case GatewayOpcodes.RequestSoundboardSounds:
        if (!connection.session)
          connection.socket.close(GatewayCloseCodes.NotAuthenticated, 'Not authenticated.');
        else if (payload.op === GatewayOpcodes.RequestGuildMembers)
          this.#requestGuildMembers(connection.session, payload.d);
        break;
      default:
        connection.socket.close(GatewayCloseCodes.UnknownOpcode, 'Unknown opcode.');
    }
    this.#deps.notifier.notify();
  }

  #identify(connection: Connection, d: unknown): void {
    if (connection.session) {
      connection.socket.close(GatewayCloseCodes.AlreadyAuthenticated, 'Already authenticated.');
      return;
    }
    const data = (d ?? {}) as { token?: unknown; intents?: unknown; shard?: unknown };
    if (data.token !== this.#deps.token) {
      connection.socket.close(GatewayCloseCodes.AuthenticationFailed, 'Authentication failed.');
      return;
    }
    const shard = Array.isArray(data.shard) ? (data.shard as unknown[]) : [0, 1];
    if (shard[0] !== 0 || shard[1] !== 1) {
      // One shard is all a bot in a handful of guilds may use.
      connection.socket.close(GatewayCloseCodes.InvalidShard, 'Invalid shard.');
      return;
    }
    const intents = typeof data.intents === 'number' ? data.intents : -1;
    if (intents < 0 || (intents & ~KNOWN_INTENTS) !== 0) {
      connection.socket.close(GatewayCloseCodes.InvalidIntents, 'Invalid intent(s).');
      return;
    }
    if ((intents & PRIVILEGED_INTENTS & ~this.#deps.allowedPrivilegedIntents) !== 0) {
      connection.socket.close(GatewayCloseCodes.DisallowedIntents, 'Disallowed intent(s).');
      return;
    }
    const session: Session = {
      id: randomBytes(16).toString('hex'),
      seq: 0,
      intents,
      connection,
      sent: [],
      valid: true,
    };
    this.#sessions.set(session.id, session);
    this.#primary = session;
    connection.session = session;
    connection.live = true;
    this.#stats.identifies += 1;

    const { world } = this.#deps;
    const guildIds = [...world.guilds.keys()];
    const ready: GatewayReadyDispatchData = {
      v: 10,
      user: { ...world.apiUser(world.bot.id), verified: true, mfa_enabled: false, email: null },
      guilds: guildIds.map((id) => ({ id, unavailable: true })),
      session_id: session.id,
      resume_gateway_url: this.#deps.urls().resume,
      shard: [0, 1],
      application: { id: world.bot.id, flags: 0 as ApplicationFlags, flags_new: '0' },
    };
    this.#send(session, GatewayDispatchEvents.Ready, ready);
    for (const id of guildIds)
      this.#send(session, GatewayDispatchEvents.GuildCreate, world.apiGuildCreate(id));
  }

  #resume(connection: Connection, d: unknown): void {
    if (connection.session) {
      connection.socket.close(GatewayCloseCodes.AlreadyAuthenticated, 'Already authenticated.');
      return;
    }
    const data = (d ?? {}) as { token?: unknown; session_id?: unknown; seq?: unknown };
    if (data.token !== this.#deps.token) {
      connection.socket.close(GatewayCloseCodes.AuthenticationFailed, 'Authentication failed.');
      return;
    }
    const session = typeof data.session_id === 'string' ? this.#sessions.get(data.session_id) : undefined;
    if (!session?.valid) {
      connection.socket.send(JSON.stringify({ op: GatewayOpcodes.InvalidSession, d: false }));
      return;
    }
    const seq = typeof data.seq === 'number' ? data.seq : 0;
    if (seq > session.seq) {
      connection.socket.close(GatewayCloseCodes.InvalidSeq, 'Invalid seq.');
      return;
    }
    const oldest = session.sent[0]?.s ?? session.seq + 1;
    if (seq + 1 < oldest) {
      // Too much was missed to replay: Discord gives up on the session.
      session.valid = false;
      connection.socket.send(JSON.stringify({ op: GatewayOpcodes.InvalidSession, d: false }));
      return;
    }
    const previous = session.connection;
    if (previous && previous !== connection) {
      previous.session = null;
      previous.socket.terminate();
    }
    session.connection = connection;
    connection.session = session;
    for (const entry of session.sent) if (entry.s > seq) connection.socket.send(entry.frame);
    connection.live = true;
    this.#primary = session;
    this.#stats.resumes += 1;
    this.#send(session, GatewayDispatchEvents.Resumed, null);
  }

  #requestGuildMembers(session: Session, d: unknown): void {
    const data = (d ?? {}) as {
      guild_id?: unknown;
      query?: unknown;
      user_ids?: unknown;
      limit?: unknown;
      nonce?: unknown;
    };
    const { world } = this.#deps;
    const guildIds = Array.isArray(data.guild_id) ? (data.guild_id as string[]) : [String(data.guild_id)];
    for (const guildId of guildIds) {
      if (!world.guilds.has(guildId)) continue;
      const userIds = Array.isArray(data.user_ids)
        ? (data.user_ids as string[])
        : typeof data.user_ids === 'string'
          ? [data.user_ids]
          : null;
      const query = typeof data.query === 'string' ? data.query.toLowerCase() : '';
      const limit = typeof data.limit === 'number' && data.limit > 0 ? data.limit : Infinity;
      const members = [...world.members.values()]
        .filter((m) => m.guildId === guildId)
        .filter((m) =>
          userIds
            ? userIds.includes(m.userId)
            : (world.users.get(m.userId)?.username.toLowerCase().startsWith(query) ?? false),
        )
        .slice(0, limit);
      const chunk: Record<string, unknown> = {
        guild_id: guildId,
        members: members.map((m) => world.apiMember(m)),
        chunk_index: 0,
        chunk_count: 1,
      };
      if (userIds) chunk.not_found = userIds.filter((id) => !members.some((m) => m.userId === id));
      if (data.nonce !== undefined) chunk.nonce = data.nonce;
      this.#send(session, GatewayDispatchEvents.GuildMembersChunk, chunk);
    }
  }

  #onClose(connection: Connection, code: number): void {
    this.#connections.delete(connection);
    this.#stats.closeCodes.push(code);
    const session = connection.session;
    if (session) {
      session.connection = null;
      // A client that closes with 1000/1001 ends its session on Discord; any other code keeps it resumable.
      if (code === 1000 || code === 1001) session.valid = false;
    }
    connection.session = null;
    connection.live = false;
    this.#deps.notifier.notify();
  }
}

function rawToString(raw: RawData): string {
  if (Buffer.isBuffer(raw)) return raw.toString('utf8');
  if (Array.isArray(raw)) return Buffer.concat(raw).toString('utf8');
  return Buffer.from(raw).toString('utf8');
}
