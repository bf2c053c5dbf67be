import { DiscordAPIError, HTTPError, RESTJSONErrorCodes, Routes, type REST } from 'discord.js';
import type { MessagePayload } from './render';

/** A message body as delivery sends it: with the idempotency nonce Discord enforces. */
export type AnnouncementBody = MessagePayload & { nonce: string; enforce_nonce: true };

/** Posts announcements to Discord channels; the delivery side's one I/O boundary. */
export interface Announcer {
  /** Posts `body` to the channel and resolves with the message id; throws a DeliveryError. */
  post(channelId: string, body: AnnouncementBody): Promise<{ messageId: string }>;
}

/**
 * How a failed post should be handled:
 * - `channel-gone`: the channel no longer exists (404): pause, stop calling it;
 * - `forbidden`: the bot lost access or a permission there (403): pause, stop calling it;
 * - `rejected-payload`: Discord refused this body (400): try the minimal embed;
 * - `transient`: 5xx, timeouts, network: retry later with backoff.
 */
export type DeliveryFailureKind = 'channel-gone' | 'forbidden' | 'rejected-payload' | 'transient';

/** A post that failed, classified for the caller. */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly kind: DeliveryFailureKind,
    readonly channelId: string,
    /** HTTP status, when Discord answered. */
    readonly status: number | null,
    /** Discord's JSON error code, when it sent one. */
    readonly code: number | string | null,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'DeliveryError';
  }
}

/** The real announcer: REST only (no cached channel objects), so a worker without a gateway can post. */
export function createRestAnnouncer(rest: REST): Announcer {
  return {
    async post(channelId, body) {
      try {
        const message = (await rest.post(Routes.channelMessages(channelId), { body })) as { id: string };
        return { messageId: message.id };
      } catch (error) {
        throw classifyDeliveryError(error, channelId);
      }
    },
  };
}

/** Turns what @discordjs/rest throws into a DeliveryError with a reason a server admin understands. */
export function classifyDeliveryError(error: unknown, channelId: string): DeliveryError {
  if (error instanceof DeliveryError) return error;
  if (error instanceof DiscordAPIError) {
    const { status, code } = error;
    if (status === 404 || code === RESTJSONErrorCodes.UnknownChannel) {
      return new DeliveryError(
        'The channel was deleted or the bot can no longer find it.',
        'channel-gone',
        channelId,
        status,
        code,
        { cause: error },
      );
    }
    if (status === 403) {
      const missing =
        code === RESTJSONErrorCodes.MissingAccess
          ? 'The bot cannot see this channel (missing View Channel).'
          : 'The bot is missing a permission here (Send Messages or Embed Links).';
      return new DeliveryError(missing, 'forbidden', channelId, status, code, { cause: error });
    }
    if (status === 400) {
      return new DeliveryError(
        `Discord refused the message: ${error.message}`,
        'rejected-payload',
        channelId,
        status,
        code,
        { cause: error },
      );
    }
    return new DeliveryError(
      `Discord answered ${status}: ${error.message}`,
      'transient',
      channelId,
      status,
      code,
      { cause: error },
    );
  }
  if (error instanceof HTTPError) {
    return new DeliveryError(
      `Discord answered ${error.status}.`,
      'transient',
      channelId,
      error.status,
      null,
      { cause: error },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new DeliveryError(`Could not reach Discord: ${message}`, 'transient', channelId, null, null, {
    cause: error,
  });
}
