// Bar charts (uPlot on a canvas) with the same figures in a table beside them, so the numbers
// reach screen readers and the accessibility check.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";

export type Bars = { label: string; color: string; values: (number | null)[] };

export function BarChart({ title, groups, bars, unit = "", max }: { title: string; groups: string[]; bars: Bars[]; unit?: string; max?: number }) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = host.current!;
    const width = Math.max(240, Math.min(480, el.clientWidth || 320));
    // Grouped bars: each bar its own x slot, a gap between groups, the label at the centre.
    const per = bars.length + 1;
    const xs = groups.flatMap((_, g) => bars.map((_, b) => g * per + b));
    const centres = groups.map((_, g) => g * per + (bars.length - 1) / 2);
    const data = bars.map((bar, b) => groups.flatMap((_, g) => bars.map((_, bi) => (bi === b ? bar.values[g] : null))));
    const top = Math.max(1, ...bars.flatMap((b) => b.values.map((v) => v ?? 0)));
    const plot = new uPlot(
      {
        width,
        height: 200,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: false, range: [-0.7, xs[xs.length - 1] + 0.7] }, y: { range: [0, max ?? top * 1.15] } },
        axes: [
          { splits: () => centres, values: (_u, ticks) => ticks.map((t) => groups[centres.indexOf(t)] ?? "") },
          { values: (_u, ticks) => ticks.map((t) => `${t}${unit}`), size: 64 },
        ],
        series: [{}, ...bars.map((b) => ({ label: b.label, fill: b.color, stroke: b.color, paths: uPlot.paths.bars!({ size: [0.9, 48] }), points: { show: false } }))],
      },
      [xs, ...data] as uPlot.AlignedData,
      el,
    );
    return () => plot.destroy();
  }, [JSON.stringify([groups, bars, max])]);
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={host} role="img" aria-label={`${title}: chart of the table below`} />
      <ul class="legend">
        {bars.map((b) => <li key={b.label}><span class="swatch" style={{ background: b.color }} aria-hidden="true" />{b.label}</li>)}
      </ul>
      <table class="compact">
        <thead><tr><th scope="col">Window</th>{bars.map((b) => <th scope="col" key={b.label}>{b.label}</th>)}</tr></thead>
        <tbody>
          {groups.map((g, gi) => (
            <tr key={g}><th scope="row">{g}</th>{bars.map((b) => <td key={b.label}>{b.values[gi] === null ? "—" : `${Math.round(b.values[gi]! * 10) / 10}${unit}`}</td>)}</tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
