import type { Config } from '../config';
import type { Logger } from '../logger';
import type { PostQueries } from '../poller/post-queries';
import type { SubscriptionService } from '../poller/subscription-service';

/** What every slash command handler is given: the services, never concrete adapters. */
export interface CommandContext {
  subscriptions: SubscriptionService;
  posts: PostQueries;
  config: Pick<Config, 'maxFeedsPerGuild'>;
  logger: Logger;
}
