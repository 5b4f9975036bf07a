import { Metrics } from './metrics';

describe(Metrics.name, () => {
  it('labels every metric burnrate_service, not service (the Prometheus Operator sets service on each target)', async () => {
    const sut = new Metrics('pricing');
    sut.counter('burnrate_test_total', 'a counter', ['outcome'] as const).inc({ outcome: 'priced' });

    const text = await sut.registry.metrics();

    expect(text).toMatch(/^burnrate_test_total\{outcome="priced",burnrate_service="pricing"\} 1$/m);
    expect(text).toMatch(/^process_cpu_seconds_total\{burnrate_service="pricing"\} /m);
    expect(text).not.toMatch(/[{,]service="/);
  });

  it('starts a counter at 0 for every combination of the given label values, keeping what it has counted', async () => {
    const sut = new Metrics('alert-router');
    const counter = sut.counter('burnrate_test_total', 'a counter', ['destination', 'reason'] as const);
    counter.inc({ destination: 'slack', reason: 'permanent' }, 2);

    sut.startAtZero(counter, { destination: ['slack', 'email'], reason: ['permanent', 'gave_up'] });

    const values = (await counter.get()).values.map((v) => [v.labels.destination, v.labels.reason, v.value]);
    expect(values).toEqual([
      ['slack', 'permanent', 2],
      ['slack', 'gave_up', 0],
      ['email', 'permanent', 0],
      ['email', 'gave_up', 0],
    ]);
  });
});
