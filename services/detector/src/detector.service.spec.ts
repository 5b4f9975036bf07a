import { JsonLogger, Metrics } from '@libs/observability';
import { DetectorService } from './detector.service';

describe(DetectorService.name, () => {
  it('starts anomalies at 0 for every rule, severity and state', async () => {
    const metrics = new Metrics('detector');
    const kafka = { kafka: {} };

    new DetectorService(
      {} as never,
      {} as never,
      kafka as never,
      new JsonLogger({}, 'fatal', () => undefined),
      metrics,
    );

    const anomalies = (await metrics.registry.getSingleMetric('burnrate_anomalies_total')!.get()).values;
    expect(anomalies).toHaveLength(12 * 4 * 3);
    expect(anomalies.every((v) => v.value === 0)).toBe(true);
    expect(anomalies.map((v) => v.labels)).toContainEqual({
      rule: 'cost_per_success_climb',
      severity: 'critical',
      state: 'escalated',
    });
    const restored = (await metrics.registry.getSingleMetric('burnrate_state_restored_records_total')!.get())
      .values;
    expect(restored.map((v) => v.labels.store)).toEqual(['detector', 'detector-teams']);
  });
});
