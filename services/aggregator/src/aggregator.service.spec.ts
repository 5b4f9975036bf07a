import { JsonLogger, Metrics } from '@libs/observability';
import { AggregatorService } from './aggregator.service';

async function series(metrics: Metrics, name: string): Promise<[Record<string, unknown>, number][]> {
  return (await metrics.registry.getSingleMetric(name)!.get()).values.map((v) => [v.labels, v.value]);
}

describe(AggregatorService.name, () => {
  it('starts its runs by outcome, stats records and agent moves at 0', async () => {
    const metrics = new Metrics('aggregator');
    const kafka = { kafka: {} };

    new AggregatorService(
      {} as never,
      {} as never,
      kafka as never,
      new JsonLogger({}, 'fatal', () => undefined),
      metrics,
    );

    expect(await series(metrics, 'burnrate_aggregator_runs_total')).toEqual([
      [{ outcome: 'counted' }, 0],
      [{ outcome: 'duplicate' }, 0],
      [{ outcome: 'late' }, 0],
      [{ outcome: 'too_old' }, 0],
    ]);
    expect(await series(metrics, 'burnrate_agent_stats_emitted_total')).toEqual([
      [{ late: 'false' }, 0],
      [{ late: 'true' }, 0],
    ]);
    expect(await series(metrics, 'burnrate_aggregator_agent_moves_total')).toEqual([
      [{ to: 'disk' }, 0],
      [{ to: 'memory' }, 0],
    ]);
    expect(await series(metrics, 'burnrate_state_restored_records_total')).toEqual([
      [{ store: 'aggregator' }, 0],
    ]);
  });
});
