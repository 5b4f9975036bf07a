import { Metrics } from '@libs/observability';
import { RecorderService } from './recorder.service';

describe(RecorderService.name, () => {
  it('starts the rows it writes, by table and outcome, at 0', async () => {
    const metrics = new Metrics('recorder');

    new RecorderService({} as never, {} as never, {} as never, metrics);

    const rows = await metrics.registry.getSingleMetric('burnrate_recorder_rows_total')!.get();
    expect(rows.values.map((v) => [v.labels.table, v.labels.outcome, v.value])).toEqual([
      ['runs', 'inserted', 0],
      ['runs', 'duplicate', 0],
      ['anomalies', 'inserted', 0],
      ['anomalies', 'duplicate', 0],
      ['alert_deliveries', 'inserted', 0],
      ['alert_deliveries', 'duplicate', 0],
      ['agent_stats', 'upserted', 0],
    ]);
  });
});
