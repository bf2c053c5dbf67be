import { once } from 'node:events';
import type { ClientOptions, Interaction } from 'discord.js';
import { Client, Events, GatewayIntentBits } from 'discord.js';
import type { FakeDiscord } from './index';

/**
 * Logs an unmodified discord.js Client in to the fake and resolves once it is ready (every guild
 * received). The caller destroys it. `rest` options are merged over the fake's API base; `token`
 * defaults to the one the fake accepts.
 */
export async function loginClient(
  discord: FakeDiscord,
  options: Partial<ClientOptions> = {},
  token: string = discord.token,
): Promise<Client<true>> {
  const client = new Client({
    intents: [GatewayIntentBits.Guilds],
    ...options,
    rest: { ...options.rest, api: discord.apiBase },
  });
  const ready = once(client, Events.ClientReady);
  try {
    await client.login(token);
    await ready;
  } catch (error) {
    await client.destroy();
    throw error;
  }
  return client as Client<true>;
}

/** Resolves with the next interaction the client receives, so a test can answer it itself. */
export function nextInteraction(client: Client): Promise<Interaction> {
  return new Promise((resolve) => client.once(Events.InteractionCreate, resolve));
}
