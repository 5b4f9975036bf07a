import { JsonLogger, Metrics } from '@libs/observability';
import { DeliveryWorker } from './delivery.worker';

const DESTINATIONS = ['slack', 'pagerduty', 'teams', 'webhook', 'email'];

async function series(metrics: Metrics, name: string): Promise<Record<string, string | number>[]> {
  return (await metrics.registry.getSingleMetric(name)!.get()).values.map((v) => ({
    ...v.labels,
    value: v.value,
  }));
}

describe(DeliveryWorker.name, () => {
  it("starts deliveries, attempts and failures at 0 for every destination type, so that a replica's first is an increase", async () => {
    const metrics = new Metrics('alert-router');
    const config = { ALERT_DESTINATION_ALLOWLIST: [], DELIVERY_CONCURRENCY: 2 };

    new DeliveryWorker(
      config as never,
      {} as never,
      {} as never,
      new JsonLogger({}, 'fatal', () => undefined),
      metrics,
    );

    const outcomes = ['delivered', 'accepted', 'retrying', 'failed', 'suppressed'];
    expect(await series(metrics, 'burnrate_alert_deliveries_total')).toEqual(
      DESTINATIONS.flatMap((destination) => outcomes.map((outcome) => ({ destination, outcome, value: 0 }))),
    );
    expect(await series(metrics, 'burnrate_alert_delivery_attempts_total')).toEqual(
      DESTINATIONS.map((destination) => ({ destination, value: 0 })),
    );
    const reasons = ['permanent', 'gave_up', 'unreadable', 'refused', 'unconfigured'];
    expect(await series(metrics, 'burnrate_alert_delivery_failed_total')).toEqual(
      DESTINATIONS.flatMap((destination) => reasons.map((reason) => ({ destination, reason, value: 0 }))),
    );
  });
});
