import { useId } from 'react';

export interface Series {
  key: string;
  label: string;
  color: string;
}

interface ChartProps {
  title: string;
  dates: string[];
  series: Series[];
  values: Record<string, number[]>;
  stacked?: boolean;
}

const W = 640;
const H = 260;
const PAD = { l: 40, r: 24, t: 12, b: 28 };

/** A maximum for the y axis that splits into 4 round steps. */
export function niceMax(n: number): number {
  const raw = Math.max(1, n) / 4;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  const step = (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * p;
  return Math.max(4, Math.ceil(step) * 4);
}

/** A small SVG chart: stacked areas (cumulative flow) or lines (burndown). */
export function Chart({ title, dates, series, values, stacked }: ChartProps) {
  const id = useId();
  const n = dates.length;
  const totals = dates.map((_, i) => series.reduce((s, x) => s + (values[x.key]?.[i] ?? 0), 0));
  const maxRaw = stacked ? Math.max(0, ...totals) : Math.max(0, ...series.flatMap((s) => values[s.key] ?? []));
  const max = niceMax(maxRaw);
  const x = (i: number) => PAD.l + (n <= 1 ? 0 : (i * (W - PAD.l - PAD.r)) / (n - 1));
  const y = (v: number) => H - PAD.b - (v * (H - PAD.t - PAD.b)) / max;
  const ticks = [0, max / 4, max / 2, (3 * max) / 4, max];
  const labelEvery = Math.max(1, Math.ceil(n / 6));

  let shapes: React.ReactNode[];
  if (stacked) {
    const base = new Array(n).fill(0) as number[];
    // Draw bottom series first: done at the bottom, like a classic CFD.
    shapes = [...series].reverse().map((s) => {
      const lower = [...base];
      const upper = base.map((b, i) => b + (values[s.key]?.[i] ?? 0));
      for (let i = 0; i < n; i++) base[i] = upper[i];
      const top = upper.map((v, i) => `${x(i)},${y(v)}`).join(' ');
      const bottom = lower
        .map((v, i) => `${x(i)},${y(v)}`)
        .reverse()
        .join(' ');
      return <polygon key={s.key} points={`${top} ${bottom}`} fill={s.color} opacity={0.85} />;
    });
  } else {
    shapes = series.map((s) => (
      <polyline
        key={s.key}
        points={(values[s.key] ?? []).map((v, i) => `${x(i)},${y(v)}`).join(' ')}
        fill="none"
        stroke={s.color}
        strokeWidth={2.5}
        strokeLinejoin="round"
      />
    ));
  }

  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby={`${id}-t ${id}-d`} preserveAspectRatio="xMidYMid meet">
        <title id={`${id}-t`}>{title}</title>
        <desc id={`${id}-d`}>
          {n === 0
            ? 'No data.'
            : `${dates[0]} to ${dates[n - 1]}. Last day: ${series.map((s) => `${s.label} ${values[s.key]?.[n - 1] ?? 0}`).join(', ')}.`}
        </desc>
        {ticks.map((t) => (
          <g key={t}>
            <line x1={PAD.l} x2={W - PAD.r} y1={y(t)} y2={y(t)} stroke="#d9dde5" strokeWidth={1} />
            <text x={PAD.l - 6} y={y(t) + 4} textAnchor="end" fontSize="13" fill="#4a5263">
              {Math.round(t)}
            </text>
          </g>
        ))}
        {shapes}
        {dates.map((d, i) =>
          i % labelEvery === 0 || i === n - 1 ? (
            <text key={d} x={x(i)} y={H - 8} textAnchor={i === n - 1 && n > 1 ? 'end' : i === 0 ? 'start' : 'middle'} fontSize="13" fill="#4a5263">
              {d.slice(5)}
            </text>
          ) : null,
        )}
      </svg>
      <figcaption className="legend">
        {series.map((s) => (
          <span key={s.key} className="legend-item">
            <span className="legend-swatch" style={{ background: s.color }} aria-hidden="true" />
            {s.label}
          </span>
        ))}
      </figcaption>
      <details className="chart-data">
        <summary>Show data for {title.toLowerCase()}</summary>
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Date</th>
                {series.map((s) => (
                  <th key={s.key} scope="col">
                    {s.label}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {dates.map((d, i) => (
                <tr key={d}>
                  <th scope="row">{d}</th>
                  {series.map((s) => (
                    <td key={s.key}>{values[s.key]?.[i] ?? 0}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}
