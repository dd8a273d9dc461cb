import type { Bus } from '../../src/bus';
import { until } from './until';

/**
 * Waits until every one of `topics` exists, for a reader of topics another process makes
 * (a gateway or worker started moments ago, slower still on a loaded machine): subscribing
 * first would be refused as an unknown topic. Throws naming the topics after `ms`.
 */
export async function waitForTopics(bus: Bus, topics: readonly string[], ms = 60_000): Promise<void> {
  const admin = bus.admin();
  try {
    await until(async () => (await Promise.all(topics.map((t) => admin.describeTopic(t).catch(() => null)))).every((d) => d !== null && d.partitions > 0), ms, `topics ${topics.join(', ')} exist`, 100);
  } finally {
    await admin.close();
  }
}
