import type { FeedState } from '../store';
import type { QueuedAnnouncement } from './deliverer';

/** The one message a channel gets when its feed has been failing for a day or more. */
export function renderFailureNotice(state: FeedState): QueuedAnnouncement {
  const since = state.firstFailureAt ? `<t:${Math.floor(state.firstFailureAt / 1000)}:R>` : 'a while';
  const reason = state.lastError?.message ?? 'it keeps failing';
  return {
    message: {
      content:
        `⚠️ Herald cannot read **${state.title.replace(/[*_`~|\\]/g, '\\$&')}** since ${since}: ${reason}\n` +
        'Herald keeps trying with longer pauses and will post new items once it works again. ' +
        'See `/feed status` for details, or `/feed remove` it if the feed is gone for good.',
      allowed_mentions: { parse: [] },
    },
    notice: true,
  };
}
