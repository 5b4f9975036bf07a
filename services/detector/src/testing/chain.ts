/**
 * The card's chain in one process, for tests and benchmarks. It lives in core/replay.ts, where the backtest
 * (POST /v1/backtest) replays stored runs through it too: one chain, the services' own rule code.
 */
export { Chain, type SliceOutput } from '../core/replay';
