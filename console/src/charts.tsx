import 'uplot/dist/uPlot.min.css';
import uPlot from 'uplot';
import { useEffect, useRef, useState } from 'preact/hooks';

/**
 * Charts on uPlot. Each series is told apart by its pattern as well as its colour (and named in a legend drawn with the
 * same pattern), incidents are numbered markers, and every chart has its numbers in a table beside it: nothing is
 * said by colour alone.
 */

const COLOURS = [
  '#1f5fbf',
  '#c2410c',
  '#15803d',
  '#7e22ce',
  '#b45309',
  '#0e7490',
  '#be123c',
  '#4d7c0f',
  '#52525b',
];
const KINDS = [
  'solid',
  'diagonal',
  'dots',
  'cross',
  'horizontal',
  'vertical',
  'back-diagonal',
  'grid',
  'checks',
];

/** One tile of pattern `index` (drawn at `scale` device pixels per CSS pixel). */
function tile(index: number, scale: number): HTMLCanvasElement {
  const size = Math.round(8 * scale);
  const c = document.createElement('canvas');
  c.width = c.height = size;
  const g = c.getContext('2d')!;
  const colour = COLOURS[index % COLOURS.length];
  g.fillStyle = colour;
  g.globalAlpha = 0.35;
  g.fillRect(0, 0, size, size);
  g.globalAlpha = 1;
  g.strokeStyle = colour;
  g.fillStyle = colour;
  g.lineWidth = Math.max(1, scale * 1.5);
  const line = (x1: number, y1: number, x2: number, y2: number) => {
    g.beginPath();
    g.moveTo(x1 * size, y1 * size);
    g.lineTo(x2 * size, y2 * size);
    g.stroke();
  };
  switch (KINDS[index % KINDS.length]) {
    case 'solid':
      g.fillRect(0, 0, size, size);
      break;
    case 'diagonal':
      line(0, 1, 1, 0);
      line(-0.5, 0.5, 0.5, -0.5);
      line(0.5, 1.5, 1.5, 0.5);
      break;
    case 'back-diagonal':
      line(0, 0, 1, 1);
      line(-0.5, 0.5, 0.5, 1.5);
      line(0.5, -0.5, 1.5, 0.5);
      break;
    case 'dots':
      g.beginPath();
      g.arc(size / 2, size / 2, size / 5, 0, Math.PI * 2);
      g.fill();
      break;
    case 'cross':
      line(0, 1, 1, 0);
      line(0, 0, 1, 1);
      break;
    case 'horizontal':
      line(0, 0.5, 1, 0.5);
      break;
    case 'vertical':
      line(0.5, 0, 0.5, 1);
      break;
    case 'grid':
      line(0, 0.5, 1, 0.5);
      line(0.5, 0, 0.5, 1);
      break;
    default:
      g.fillRect(0, 0, size / 2, size / 2);
      g.fillRect(size / 2, size / 2, size / 2, size / 2);
  }
  return c;
}

const patterns = new Map<string, CanvasPattern>();
export function seriesFill(index: number, scale = devicePixelRatio || 1): CanvasPattern | string {
  const key = `${index}@${scale}`;
  let p = patterns.get(key);
  if (!p) {
    const made = document
      .createElement('canvas')
      .getContext('2d')!
      .createPattern(tile(index, scale), 'repeat');
    if (!made) return COLOURS[index % COLOURS.length];
    patterns.set(key, (p = made));
  }
  return p;
}
export const seriesColour = (index: number): string => COLOURS[index % COLOURS.length];
export const patternName = (index: number): string => KINDS[index % KINDS.length];

/** A legend swatch: the series' own pattern on a small canvas. */
export function Swatch({ index }: { index: number }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = ref.current;
    if (!c) return;
    const g = c.getContext('2d')!;
    g.fillStyle = seriesFill(index, 1);
    g.fillRect(0, 0, c.width, c.height);
    g.strokeStyle = seriesColour(index);
    g.strokeRect(0.5, 0.5, c.width - 1, c.height - 1);
  }, [index]);
  return <canvas ref={ref} width={16} height={16} class="swatch" aria-hidden="true" />;
}

/** A point in time to mark on a chart: a numbered, dashed line with a triangle on top. */
export interface Marker {
  at: number;
  label: string;
}

function drawMarkers(u: uPlot, markers: Marker[]): void {
  const ctx = u.ctx;
  const { top, height } = u.bbox;
  const px = devicePixelRatio || 1;
  ctx.save();
  markers.forEach((m, i) => {
    const x = Math.round(u.valToPos(m.at / 1000, 'x', true));
    if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
    // a dark dashed line with a white edge, so it shows over any bar or pattern
    for (const [colour, width] of [
      ['#fff', 4],
      ['#991b1b', 2],
    ] as const) {
      ctx.strokeStyle = colour;
      ctx.lineWidth = width * px;
      ctx.setLineDash(colour === '#fff' ? [] : [5 * px, 3 * px]);
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
    }
    ctx.setLineDash([]);
    ctx.beginPath();
    ctx.moveTo(x - 8 * px, top);
    ctx.lineTo(x + 8 * px, top);
    ctx.lineTo(x, top + 12 * px);
    ctx.closePath();
    ctx.fillStyle = '#991b1b';
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 1.5 * px;
    ctx.fill();
    ctx.stroke();
    const text = String(i + 1);
    ctx.font = `bold ${12 * px}px system-ui, sans-serif`;
    const w = ctx.measureText(text).width + 8 * px;
    const left = x + 10 * px + w > u.bbox.left + u.bbox.width ? x - 10 * px - w : x + 10 * px;
    ctx.fillStyle = '#fff';
    ctx.strokeStyle = '#991b1b';
    ctx.fillRect(left, top, w, 16 * px);
    ctx.strokeRect(left, top, w, 16 * px);
    ctx.fillStyle = '#111';
    ctx.textAlign = 'left';
    ctx.textBaseline = 'middle';
    ctx.fillText(text, left + 4 * px, top + 8 * px);
  });
  ctx.restore();
}

/** Fits uPlot to its box's width (and re-fits as the box changes), and destroys it with the component. */
function usePlot(make: (width: number, el: HTMLDivElement) => uPlot, deps: unknown[]) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const plot = make(Math.max(280, el.clientWidth), el);
    const observer = new ResizeObserver(() => {
      const w = Math.max(280, el.clientWidth);
      if (Math.abs(w - plot.width) > 2) plot.setSize({ width: w, height: plot.height });
    });
    observer.observe(el);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, deps);
  return box;
}

const axisFont = '12px system-ui, sans-serif';
const axis = (values?: uPlot.Axis['values'], scale?: string, side?: 0 | 1 | 2 | 3): uPlot.Axis => ({
  font: axisFont,
  stroke: '#333',
  grid: { stroke: '#e5e5e5', width: 1 },
  ticks: { stroke: '#ccc', width: 1 },
  ...(values && { values }),
  ...(scale && { scale }),
  ...(side !== undefined && { side }),
  // room for the longest label (amounts carry their currency code)
  size: (u, values, axisIdx) => {
    if (axisIdx === 0) return 50;
    u.ctx.font = axisFont;
    const widest = Math.max(0, ...(values ?? []).map((v) => u.ctx.measureText(v).width));
    return Math.ceil(widest) + 22;
  },
});

export interface Stack {
  label: string;
  values: number[];
}

/**
 * Stacked bars over time: each bar is drawn from its running total down, the first series at the bottom. `xs` in epoch
 * ms; `format` prints an amount on the axis and in the read-out.
 */
export function StackedBars({
  xs,
  step,
  span,
  stacks,
  markers,
  format,
  label,
  onHover,
}: {
  xs: number[];
  /** A bucket's length in ms: each bar starts at its bucket's start and covers it. */
  step: number;
  /** The time range asked for, [from, to) in ms: the axis covers it, whatever has data. */
  span: [number, number];
  stacks: Stack[];
  markers: Marker[];
  format: (v: number) => string;
  label: string;
  onHover?: (index: number | null) => void;
}) {
  const box = usePlot(
    (width, el) => {
      const cumulative: number[][] = [];
      stacks.forEach((s, i) =>
        cumulative.push(s.values.map((v, k) => v + (i > 0 ? cumulative[i - 1][k] : 0))),
      );
      // the tallest (running total of every series) first, so each lower one is drawn over it
      const order = stacks.map((_, i) => i).reverse();
      const bars = uPlot.paths.bars!({ size: [0.85, 64], align: 1 });
      const min = Math.min(span[0], xs[0] ?? span[0]) / 1000;
      const max = Math.max(span[1], (xs[xs.length - 1] ?? span[1]) + step) / 1000;
      return new uPlot(
        {
          width,
          height: 300,
          legend: { show: false },
          cursor: { drag: { x: false, y: false }, points: { show: false } },
          scales: {
            x: { time: true, range: () => [min, max] },
            y: { range: (_u, _min, top) => [0, top > 0 ? top * 1.08 : 1] },
          },
          axes: [axis(), axis((_u, vals) => vals.map((v) => format(v)))],
          series: [
            {},
            ...order.map((i) => ({
              label: stacks[i].label,
              stroke: seriesColour(i),
              width: 1,
              fill: seriesFill(i),
              paths: bars,
              points: { show: false },
            })),
          ],
          hooks: {
            draw: [(u) => drawMarkers(u, markers)],
            setCursor: [(u) => onHover?.(u.cursor.idx ?? null)],
          },
        },
        [xs.map((x) => x / 1000), ...order.map((i) => cumulative[i])],
        el,
      );
    },
    [xs, step, span[0], span[1], stacks, markers],
  );
  return <div class="chart" ref={box} role="img" aria-label={label} />;
}

export interface Line {
  label: string;
  values: (number | null)[];
  scale?: string;
  dash?: number[];
  points?: boolean;
  index: number;
}

/**
 * Lines over time, optionally with a band between two of them (`band`: their indices in `lines`, drawn hatched) and
 * `flagged` points (above the band, say) marked with a triangle and the marker number. A second scale, when a line
 * names one, gets its own axis on the right.
 */
export function Lines({
  xs,
  lines,
  band,
  ranges,
  flagged = [],
  markers = [],
  formats,
  label,
  height = 260,
}: {
  xs: number[];
  lines: Line[];
  band?: [number, number];
  /** A hatched box from lower to upper at each x that has both (a band that shows even on a single day). */
  ranges?: { lower: (number | null)[]; upper: (number | null)[] };
  flagged?: number[];
  markers?: Marker[];
  formats: Record<string, (v: number) => string>;
  label: string;
  height?: number;
}) {
  const box = usePlot(
    (width, el) => {
      const scales = [...new Set(lines.map((l) => l.scale ?? 'y'))];
      return new uPlot(
        {
          width,
          height,
          legend: { show: false },
          cursor: { drag: { x: false, y: false } },
          scales: {
            x: { time: true },
            ...Object.fromEntries(
              scales.map((s) => [
                s,
                { range: (_u: uPlot, _min: number, max: number) => [0, max > 0 ? max * 1.1 : 1] },
              ]),
            ),
          } as uPlot.Scales,
          axes: [
            axis(),
            ...scales.map((s, i) => axis((_u, vals) => vals.map((v) => formats[s](v)), s, i === 0 ? 3 : 1)),
          ],
          series: [
            {},
            ...lines.map((l) => ({
              label: l.label,
              scale: l.scale ?? 'y',
              stroke: seriesColour(l.index),
              width: 2,
              dash: l.dash,
              points: { show: l.points ?? false, size: 7, fill: '#fff' },
              spanGaps: false,
            })),
          ],
          bands: band ? [{ series: [band[0] + 1, band[1] + 1], fill: seriesFill(7) }] : [],
          hooks: {
            drawAxes: [
              (u) => {
                if (!ranges) return;
                const ctx = u.ctx;
                const gap =
                  xs.length > 1
                    ? Math.abs(u.valToPos(xs[1] / 1000, 'x', true) - u.valToPos(xs[0] / 1000, 'x', true))
                    : 40;
                const w = Math.max(6, Math.min(gap * 0.6, 40 * (devicePixelRatio || 1)));
                ctx.save();
                xs.forEach((x, k) => {
                  const lo = ranges.lower[k];
                  const hi = ranges.upper[k];
                  if (lo === null || hi === null) return;
                  const px = u.valToPos(x / 1000, 'x', true);
                  const top = u.valToPos(hi, lines[0].scale ?? 'y', true);
                  const bottom = u.valToPos(lo, lines[0].scale ?? 'y', true);
                  ctx.fillStyle = seriesFill(7);
                  ctx.fillRect(px - w / 2, top, w, Math.max(1, bottom - top));
                  ctx.strokeStyle = seriesColour(7);
                  ctx.lineWidth = devicePixelRatio || 1;
                  ctx.strokeRect(px - w / 2, top, w, Math.max(1, bottom - top));
                });
                ctx.restore();
              },
            ],
            draw: [
              (u) => {
                drawMarkers(u, markers);
                const ctx = u.ctx;
                const scale = devicePixelRatio || 1;
                ctx.save();
                ctx.fillStyle = '#991b1b';
                for (const k of flagged) {
                  const v = lines[0].values[k];
                  if (v === null) continue;
                  const x = u.valToPos(xs[k] / 1000, 'x', true);
                  const y = u.valToPos(v, lines[0].scale ?? 'y', true);
                  ctx.beginPath();
                  ctx.moveTo(x, y - 9 * scale);
                  ctx.lineTo(x + 7 * scale, y + 5 * scale);
                  ctx.lineTo(x - 7 * scale, y + 5 * scale);
                  ctx.closePath();
                  ctx.fill();
                }
                ctx.restore();
              },
            ],
          },
        },
        [xs.map((x) => x / 1000), ...lines.map((l) => l.values)] as uPlot.AlignedData,
        el,
      );
    },
    [xs, lines, band, ranges, flagged, markers],
  );
  return <div class="chart" ref={box} role="img" aria-label={label} />;
}

/** The legend of a chart: each series' pattern (or line style) and name. */
export function Legend({
  items,
}: {
  items: { label: string; index: number; style?: 'line' | 'dashed' | 'band' }[];
}) {
  return (
    <ul class="legend">
      {items.map((it) => (
        <li key={it.label}>
          {it.style === 'line' || it.style === 'dashed' ? (
            <span
              class={`line-swatch ${it.style}`}
              style={{ borderColor: seriesColour(it.index) }}
              aria-hidden="true"
            />
          ) : (
            <Swatch index={it.index} />
          )}
          {it.label}
        </li>
      ))}
    </ul>
  );
}

/** Which bucket the pointer is over, for a read-out beside the chart. */
export function useHover(): [number | null, (i: number | null) => void] {
  return useState<number | null>(null);
}
