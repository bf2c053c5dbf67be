/**
 * Errors the fake Discord raises towards the test that drives it. Errors it answers to the bot go
 * over HTTP (see `api-error.ts`), never as exceptions.
 */

/** The test asked for something that cannot happen on Discord (unknown guild, wrong option type, …). */
export class FakeDiscordUsageError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Why Discord would not let a member run a command. */
export type CommandRefusalReason =
  'not-registered' | 'missing-permissions' | 'context-not-allowed' | 'cannot-use-application-commands';

/**
 * Discord's client never sends this interaction (the command is hidden or greyed out for the member),
 * so the bot never sees it.
 */
export class CommandRefusedError extends Error {
  constructor(
    readonly reason: CommandRefusalReason,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The bot did not acknowledge an interaction within the initial-response deadline (3 s on Discord). */
export class InteractionNotAcknowledgedError extends Error {
  constructor(
    readonly interactionId: string,
    readonly deadlineMs: number,
    options?: ErrorOptions,
  ) {
    super(`interaction ${interactionId} was not acknowledged within ${deadlineMs} ms`, options);
    this.name = new.target.name;
  }
}

/** Something a test waited for did not happen in time. */
export class FakeDiscordWaitTimeoutError extends Error {
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
    options?: ErrorOptions,
  ) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}`, options);
    this.name = new.target.name;
  }
}

/** The fake was closed while a test was still waiting on it. */
export class FakeDiscordClosedError extends Error {
  constructor(options?: ErrorOptions) {
    super('the fake Discord was closed', options);
    this.name = new.target.name;
  }
}
