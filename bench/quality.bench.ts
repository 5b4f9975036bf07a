/**
 * Detection quality on the labelled suite (services/detector/src/testing/quality.ts, issue #19 item 7): a seeded
 * synthetic history of clean agents (weekly rhythm, noise, steady growth, new agents) and labelled incidents of five
 * classes with their onsets, replayed through the aggregator's state and the detector's rules in one process with the
 * default settings. Figures: recall overall and per class, the p50 delay from onset to the first live firing per
 * class (seconds; null when nothing was detected), and false alarms (incidents opened) per 1,000 clean agent-days.
 * --quick runs the suite's default size (40 agents over 45 days); the full run three times the agents.
 */
import { DEFAULT_SETTINGS } from '@libs/team-settings';
import {
  DEFAULT_QUALITY_OPTIONS,
  describeReport,
  INCIDENT_CLASSES,
  runQuality,
  type QualityOptions,
} from '../services/detector/src/testing/quality';
import { quick, round } from './support';

function main(): void {
  const d = DEFAULT_QUALITY_OPTIONS;
  const options: Partial<QualityOptions> = quick
    ? {}
    : {
        cleanAgents: 3 * d.cleanAgents,
        growthAgents: 3 * d.growthAgents,
        newAgents: 3 * d.newAgents,
        perClass: 3 * d.perClass,
      };
  const started = process.hrtime.bigint();
  const { dataset, report, runs } = runQuality(options, () => DEFAULT_SETTINGS);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(
    `quality suite: ${dataset.agents.length} agents over ${dataset.labels.days} days, ${dataset.labels.incidents.length} labelled incidents, ${runs} runs through aggregator + detector in ${round(seconds, 1)} s`,
  );
  for (const line of describeReport(report)) console.log(line);
  const perClass = <T>(f: (cls: (typeof INCIDENT_CLASSES)[number]) => T) =>
    Object.fromEntries(INCIDENT_CLASSES.map((cls) => [cls, f(cls)]));
  const g = report.falseAlarmsByGroup;
  console.log(
    JSON.stringify({
      detect_recall: round(report.recall, 3),
      detect_recall_by_class: perClass((cls) => round(report.classes[cls].recall, 3)),
      detect_delay_p50_s: perClass((cls) => {
        const p50 = report.classes[cls].delayP50S;
        return p50 === null ? null : round(p50);
      }),
      detect_false_alarms_per_1000_agent_days: round(report.falseAlarmsPer1000AgentDays, 2),
      detect_false_alarms: { growth: g.growth, other: g.clean + g.new + g.incident },
      detect_clean_agent_days: report.cleanAgentDays,
    }),
  );
}

try {
  main();
} catch (err: unknown) {
  console.error(err);
  process.exit(1);
}
