import type { Evaluation } from '../core/anomaly';
import { money, fixed, monthFrame, type AgentDayContext } from '../core/context';
import type { DetectorSettings } from '@libs/team-settings';

const tokens = (n: number): string => Math.round(n).toLocaleString('en-US');

/**
 * A creep clears only once input per run is back under half-way to the ratio (1.175× at the default 1.35): day-to-day
 * noise in tokens per run is wider than the cost rules' 80% band, and a creep that flapped would page twice a month.
 */
const CLEAR_SHARE = 0.5;

/**
 * Prompt creep on tokens: a handful of small additions to the system prompt double the input sent with every run,
 * while cost per run may barely move (when output or cached tokens are most of the bill, a doubling of input is +27%:
 * under every cost rule's threshold). Compares the input tokens per run of yesterday and today with the agent's own
 * level two to four weeks before (the aggregator's median of those days' input tokens per run: a day of odd traffic
 * does not move it, and a creep under three weeks old is in fewer than half of them). Yesterday alone must already be
 * half-way to the ratio: a rise of today's alone is a loop or a burst, for the runaway rules. Pages at most once a month
 * per agent (the window is the month); a sudden cost jump is left to CostPerRunJumpRule, as the drift rule leaves it.
 */
export class PromptCreepRule {
  readonly name = 'prompt_creep' as const;

  evaluate(
    ctx: AgentDayContext,
    p: DetectorSettings['promptCreep'],
    jumpRatio: number,
    timezone: string,
    historyDays: number,
  ): Evaluation | null {
    const ref = ctx.referenceInput;
    const now = ctx.inputTokensPerRun;
    const { today } = ctx;
    const runs = today.runs + (ctx.yesterday?.runs ?? 0);
    if (!ref || now === null || historyDays < p.minHistoryDays || runs < p.minRuns || !(ref.tokensPerRun > 0))
      return null;
    const base = monthFrame(this.name, ctx, timezone);
    const ratio = now / ref.tokensPerRun;
    const costNow = (today.spendNanos + (ctx.yesterday?.spendNanos ?? 0)) / runs;
    const sudden = ctx.baseline.costPerRunMean !== null && costNow >= jumpRatio * ctx.baseline.costPerRunMean;
    // A creep has already shown yesterday: a rise that is today's alone (a loop, a burst of long inputs) is not one
    // yet, and the rules for runaways judge it; it pages here only if it lasts into the next day.
    const y = ctx.yesterday;
    const lasting =
      y !== null && y.runs > 0 && y.inputTokens / y.runs >= (1 + (p.ratio - 1) / 2) * ref.tokensPerRun;
    if (ratio < 1 + CLEAR_SHARE * (p.ratio - 1)) return { ...base, finding: null };
    if (ratio < p.ratio || sudden || !lasting) return null;
    const costBefore = ref.costPerRunNanos;
    const costChange =
      costBefore > 0
        ? ` (${costNow >= costBefore ? '+' : ''}${fixed((costNow / costBefore - 1) * 100, 0)}%)`
        : '';
    return {
      ...base,
      finding: {
        severity: ratio >= 2 ? 'error' : 'warning',
        observed: now,
        threshold: p.ratio * ref.tokensPerRun,
        baselineMean: ref.tokensPerRun,
        costPerRunBeforeNanos: Math.round(costBefore),
        costPerRunNowNanos: Math.round(costNow),
        summary:
          `${ctx.agentId}'s input has crept to ${tokens(now)} tokens per run, ${fixed(ratio, 2)}× the ` +
          `${tokens(ref.tokensPerRun)} it sent 3-5 weeks ago; cost per run ${money(costBefore, ctx.currency)} → ` +
          `${money(costNow, ctx.currency)}${costChange} (prompt or context growth).`,
        details: {
          unit: 'tokens/run',
          ratio: fixed(ratio, 2),
          reference_days: String(ref.days),
          ...(costBefore > 0 && { cost_per_run_ratio: fixed(costNow / costBefore, 2) }),
        },
      },
    };
  }
}
