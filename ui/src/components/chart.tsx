/** A uPlot time-series chart that follows its container's width and the colour scheme. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface ChartSeries {
  label: string;
  /** A CSS colour. */
  stroke: string;
  values: (number | null)[];
  /** Right-hand axis (for a second unit). */
  right?: boolean;
}

export interface ChartProps {
  title: string;
  /** Epoch seconds. */
  x: number[];
  series: ChartSeries[];
  unit?: string;
  rightUnit?: string;
  height?: number;
  /** Bars (days) rather than lines. */
  bars?: boolean;
  /** A fixed x range (epoch seconds), e.g. the last ten minutes; the data's own range when absent. */
  xRange?: [number, number];
}

/** Canvas takes no CSS variables: `var(--accent)` is read from the page's current theme. */
export function colour(value: string): string {
  const variable = /^var\((--[\w-]+)\)$/.exec(value);
  if (!variable) return value;
  return getComputedStyle(document.documentElement).getPropertyValue(variable[1]).trim() || '#888';
}

function axisColour(): string {
  return colour('var(--muted)');
}

export function Chart({ title, x, series, unit = '', rightUnit = '', height = 180, bars = false, xRange }: ChartProps) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const range = useRef(xRange);
  range.current = xRange;
  const shape = series.map((s) => `${s.label}:${s.right ? 1 : 0}`).join('|') + String(bars);

  useEffect(() => {
    const element = host.current;
    if (!element) return;
    const stroke = axisColour();
    const grid = { stroke: 'rgba(128,128,128,0.15)', width: 1 };
    const fmt = (u: string) => (_: uPlot, values: number[]) =>
      values.map((v) => (u === '$' ? `$${+v.toFixed(3)}` : `${+v.toFixed(3)}${u}`));
    const options: uPlot.Options = {
      width: Math.max(element.clientWidth, 200),
      height,
      title,
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true, range: (_u, min, max) => (range.current ? [range.current[0], range.current[1]] : [min, max]) },
        y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] },
      },
      axes: [
        { stroke, grid },
        { stroke, grid, values: fmt(unit), size: 60 },
        ...(series.some((s) => s.right)
          ? [{ side: 1 as const, scale: 'right', stroke, grid: { show: false }, values: fmt(rightUnit), size: 60 }]
          : []),
      ],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: colour(s.stroke),
          width: 2,
          scale: s.right ? 'right' : 'y',
          fill: bars ? colour(s.stroke) : undefined,
          paths: bars ? uPlot.paths.bars!({ size: [0.6, 40] }) : undefined,
          points: { show: x.length < 3 },
          spanGaps: true,
        })),
      ],
    };
    plot.current = new uPlot(options, [x, ...series.map((s) => s.values)] as uPlot.AlignedData, element);
    const resize = new ResizeObserver(() =>
      plot.current?.setSize({ width: Math.max(element.clientWidth, 200), height }),
    );
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // The chart is rebuilt when its shape changes; new data alone goes through setData below.
  }, [shape, height, title]);

  useEffect(() => {
    plot.current?.setData([x, ...series.map((s) => s.values)] as uPlot.AlignedData);
  }, [x, series]);

  return <div class="chart" ref={host} role="img" aria-label={title} />;
}
