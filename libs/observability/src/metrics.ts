import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type LabelValues } from 'prom-client';

/**
 * The label every metric of a process carries: its service's name (ingestion, pricing, ...). Not `service`, which the
 * Prometheus Operator sets on every target (the Kubernetes Service's name) and which would push ours to
 * `exported_service`. The chart's ServiceMonitor gives each target the same label from the Service's
 * app.kubernetes.io/component, so `up` has it too; the alerts and the dashboard select by it.
 */
export const SERVICE_LABEL = 'burnrate_service';

/**
 * One prom-client registry per process: default process metrics plus the service's own. Metric names follow
 * Prometheus conventions (burnrate_<what>_<unit>, counters end in _total, durations in seconds).
 */
export class Metrics {
  readonly registry = new Registry();

  constructor(readonly service: string) {
    this.registry.setDefaultLabels({ [SERVICE_LABEL]: service });
    collectDefaultMetrics({ register: this.registry });
  }

  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    const existing = this.registry.getSingleMetric(name);
    if (existing) return existing as Counter<L>;
    return new Counter<L>({ name, help, labelNames: [...labelNames], registers: [this.registry] });
  }

  gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    const existing = this.registry.getSingleMetric(name);
    if (existing) return existing as Gauge<L>;
    return new Gauge<L>({ name, help, labelNames: [...labelNames], registers: [this.registry] });
  }

  /**
   * Starts a labelled counter at 0 for every combination of the given label values. A labelled series exists only from
   * its first increment, and increase() or rate() over a series that appears already at 1 sees no increase: an alert on
   * it would miss the first event after a pod starts. Call it where the counter is declared, with every value the code
   * can give each label. (A method so that the plain classes holding a Metrics need not import this library's Nest
   * side.)
   */
  startAtZero<L extends string>(counter: Counter<L>, values: { readonly [K in L]: readonly string[] }): void {
    let combinations: LabelValues<L>[] = [{}];
    for (const name of Object.keys(values) as L[])
      combinations = combinations.flatMap((labels) =>
        values[name].map((value) => ({ ...labels, [name]: value }) as LabelValues<L>),
      );
    for (const labels of combinations) counter.inc(labels, 0);
  }

  histogram<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[] = [],
    buckets: number[] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  ): Histogram<L> {
    const existing = this.registry.getSingleMetric(name);
    if (existing) return existing as Histogram<L>;
    return new Histogram<L>({ name, help, labelNames: [...labelNames], buckets, registers: [this.registry] });
  }
}
