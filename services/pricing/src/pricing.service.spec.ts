import { RUN_EVENT_FIELDS } from '@libs/contracts';
import { JsonLogger, Metrics } from '@libs/observability';
import { PricingService } from './pricing.service';

describe(PricingService.name, () => {
  it('starts runs priced by status and rejected by field at 0, so that the first unpriced run after a start is an increase', async () => {
    const metrics = new Metrics('pricing');

    new PricingService(
      {} as never,
      {} as never,
      {} as never,
      new JsonLogger({}, 'fatal', () => undefined),
      metrics,
    );

    const priced = await metrics.registry.getSingleMetric('burnrate_runs_priced_total')!.get();
    expect(priced.values.map((v) => [v.labels.price_status, v.value])).toEqual([
      ['priced', 0],
      ['unpriced', 0],
    ]);
    const rejected = await metrics.registry.getSingleMetric('burnrate_runs_rejected_total')!.get();
    expect(rejected.values.map((v) => [v.labels.field, v.value])).toEqual(
      RUN_EVENT_FIELDS.map((f) => [f, 0]),
    );
  });
});
