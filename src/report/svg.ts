/**
 * Pure, browser-safe SVG chart builders for the study's figures: grouped bar charts, line charts
 * (with an optional secondary right axis) and galleries of small images. Every function returns a
 * standalone SVG document as a string; nothing here touches Node APIs.
 */
import { encodeDivergingPng, encodeGreyPng, divergingColour, pngDataUri } from './png-encode.js';

// ---------------------------------------------------------------------------------------------
// Style
// ---------------------------------------------------------------------------------------------

/** Okabe–Ito colour-blind-safe palette (yellow darkened for contrast on white). */
export const PALETTE: readonly string[] = [
  '#0072B2', // blue
  '#E69F00', // orange
  '#009E73', // bluish green
  '#D55E00', // vermillion
  '#CC79A7', // reddish purple
  '#56B4E9', // sky blue
  '#000000', // black
  '#B59A00', // dark yellow
];

const FONT = "'DejaVu Sans', Verdana, 'Helvetica Neue', Arial, sans-serif";
const INK = '#222222';
const AXIS = '#444444';
const GRID = '#e3e3e3';
const MUTED = '#666666';
const TITLE_SIZE = 16;
const LABEL_SIZE = 13;
const TICK_SIZE = 11;
const LEGEND_SIZE = 12;
const PAD = 14;

export function seriesColour(i: number): string {
  return PALETTE[i % PALETTE.length]!;
}

/** Escapes text for XML content and attribute values; drops characters XML 1.0 forbids. */
export function escapeXml(s: string): string {
  return String(s)
    .replace(/[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** DejaVu Sans advance widths (per mille of the em) for ASCII 32..126. */
const ASCII_WIDTHS = [
  318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636, 636,
  636, 636, 636, 636, 636, 636, 636, 337, 337, 838, 838, 838, 531, 1000, 684, 686, 698, 770, 632,
  575, 775, 752, 295, 295, 656, 557, 863, 748, 787, 603, 787, 695, 635, 611, 732, 684, 989, 685,
  611, 685, 390, 337, 390, 838, 500, 500, 613, 635, 550, 635, 615, 352, 635, 634, 278, 278, 579,
  278, 974, 634, 612, 635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636, 337, 636, 838,
];

/** Estimated rendered width of `s` in px (DejaVu Sans metrics; a little generous elsewhere). */
export function textWidth(s: string, size: number, bold = false): number {
  let w = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    w += c >= 32 && c < 127 ? ASCII_WIDTHS[c - 32]! : c < 32 ? 0 : 800;
  }
  return (w / 1000) * size * (bold ? 1.1 : 1);
}

function r2(v: number): string {
  return String(Math.round(v * 100) / 100);
}

interface TextOpts {
  size?: number;
  anchor?: 'start' | 'middle' | 'end';
  bold?: boolean;
  fill?: string;
  rotate?: number;
  baseline?: 'middle' | 'hanging';
  cls?: string;
}

function text(x: number, y: number, s: string, o: TextOpts = {}): string {
  const attrs = [`x="${r2(x)}"`, `y="${r2(y)}"`];
  if (o.cls) attrs.push(`class="${o.cls}"`);
  if (o.size) attrs.push(`font-size="${o.size}"`);
  if (o.anchor && o.anchor !== 'start') attrs.push(`text-anchor="${o.anchor}"`);
  if (o.bold) attrs.push('font-weight="bold"');
  if (o.fill) attrs.push(`fill="${o.fill}"`);
  if (o.baseline === 'middle') attrs.push('dominant-baseline="central"');
  if (o.baseline === 'hanging') attrs.push('dominant-baseline="hanging"');
  if (o.rotate) attrs.push(`transform="rotate(${r2(o.rotate)} ${r2(x)} ${r2(y)})"`);
  return `<text ${attrs.join(' ')}>${escapeXml(s)}</text>`;
}

/** Short deterministic id suffix, so several inlined SVGs on one page do not share ids. */
function idHash(...parts: (string | number)[]): string {
  let h = 0x811c9dc5;
  for (const ch of parts.join('\u0000')) {
    h ^= ch.codePointAt(0)!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(36);
}

function svgDoc(width: number, height: number, title: string, body: string[]): string {
  const w = Math.ceil(width);
  const h = Math.ceil(height);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${escapeXml(title)}" font-family="${escapeXml(FONT)}" fill="${INK}">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect class="background" x="0" y="0" width="${w}" height="${h}" fill="#ffffff"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

/**
 * Greedy word wrap of `s` to lines no wider than `maxWidth` px (explicit '\n' honoured). A line
 * that does not fit is first broken after arrows ('→'), so "a → b" wraps as "a →" / "b".
 */
export function wrapText(s: string, size: number, maxWidth: number, bold = false): string[] {
  const out: string[] = [];
  const greedy = (para: string): void => {
    const words = para.split(/ +/).filter((w) => w.length > 0);
    let line = '';
    for (const w of words) {
      const cand = line ? `${line} ${w}` : w;
      if (line && textWidth(cand, size, bold) > maxWidth) {
        out.push(line);
        line = w;
      } else {
        line = cand;
      }
    }
    out.push(line);
  };
  for (const para of s.split('\n')) {
    if (textWidth(para, size, bold) <= maxWidth || !para.includes('→')) {
      greedy(para);
      continue;
    }
    const parts = para.split(/(?<=→)\s+/);
    for (const part of parts) greedy(part);
  }
  return out;
}

/** Width of the widest line of `lines`. */
function linesWidth(lines: string[], size: number, bold = false): number {
  return Math.max(0, ...lines.map((l) => textWidth(l, size, bold)));
}

// ---------------------------------------------------------------------------------------------
// Scales and ticks
// ---------------------------------------------------------------------------------------------

function niceNum(x: number, round: boolean): number {
  const e = Math.floor(Math.log10(x));
  const f = x / 10 ** e;
  let nf: number;
  if (round) nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  else nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return nf * 10 ** e;
}

/** Decimals needed to print multiples of `step` exactly. */
function stepDecimals(step: number): number {
  for (let d = 0; d < 10; d++) {
    const s = step * 10 ** d;
    if (Math.abs(s - Math.round(s)) < 1e-6 * Math.max(1, s)) return d;
  }
  return 10;
}

interface Axis {
  min: number;
  max: number;
  ticks: number[];
  format: (v: number) => string;
}

function fmtFixed(d: number): (v: number) => string {
  return (v) => {
    const s = v.toFixed(d);
    return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s;
  };
}

/** Tick format with SI suffixes (12k, 1.5M) for large values, exact at multiples of `step`. */
function siFormat(step: number): (v: number) => string {
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  return (v) => {
    const a = Math.abs(v);
    for (const [u, suffix] of units) {
      if (a >= u) return `${fmtFixed(stepDecimals(step / u))(v / u)}${suffix}`;
    }
    return fmtFixed(stepDecimals(step))(v);
  };
}

/**
 * Linear axis: nice ticks. Explicit bounds are kept as they are; free bounds snap out to a tick.
 */
function linearAxis(
  dataMin: number,
  dataMax: number,
  fixedMin: number | undefined,
  fixedMax: number | undefined,
  target = 6,
  pad = 0,
): Axis {
  const margin = Number.isFinite(dataMax - dataMin) ? (dataMax - dataMin) * pad : 0;
  // Pad, but never across zero (a non-negative quantity keeps a zero baseline).
  let lo = fixedMin ?? (dataMin >= 0 ? Math.max(0, dataMin - margin) : dataMin - margin);
  let hi = fixedMax ?? (dataMax <= 0 ? Math.min(0, dataMax + margin) : dataMax + margin);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) [lo, hi] = [0, 1];
  if (lo > hi) [lo, hi] = [hi, lo];
  if (lo === hi) {
    const d = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    if (fixedMin === undefined) lo -= d;
    if (fixedMax === undefined || fixedMin !== undefined) hi += d;
    if (lo === hi) hi = lo + 1;
  }
  const step = niceNum(niceNum(hi - lo, false) / (target - 1), true);
  if (fixedMin === undefined) lo = Math.floor(lo / step + 1e-9) * step;
  if (fixedMax === undefined) hi = Math.ceil(hi / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  }
  const big = Math.max(Math.abs(lo), Math.abs(hi));
  return {
    min: lo,
    max: hi,
    ticks,
    format: big >= 1e4 ? siFormat(step) : fmtFixed(stepDecimals(step)),
  };
}

function logAxis(dataMin: number, dataMax: number, fixedMin?: number, fixedMax?: number): Axis {
  let lo = fixedMin ?? dataMin;
  let hi = fixedMax ?? dataMax;
  if (!(lo > 0) || !Number.isFinite(lo)) lo = 1;
  if (!(hi > lo) || !Number.isFinite(hi)) hi = lo * 10;
  const l0 = Math.log10(lo);
  const l1 = Math.log10(hi);
  const min = 10 ** l0;
  const max = 10 ** l1;
  const decades = Math.log10(max / min);
  const mults = decades <= 1.2 ? [1, 2, 3, 5, 7] : decades <= 3.5 ? [1, 2, 5] : [1];
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of mults) {
      const t = m * 10 ** e;
      if (t >= min * (1 - 1e-9) && t <= max * (1 + 1e-9)) ticks.push(t);
    }
  }
  const format = (v: number): string => {
    if (v >= 1e6 || v < 1e-3) return v.toExponential(0);
    return String(Number(v.toPrecision(6)));
  };
  return { min, max, ticks, format };
}

/** Default value format for bar labels: 2 decimals for [0, 1] data, else 3 significant digits. */
function defaultValueFormat(values: number[]): (v: number) => string {
  const unit = values.every((v) => v >= -1 && v <= 1);
  if (unit) return (v) => v.toFixed(2);
  return (v) => {
    const a = Math.abs(v);
    if (a >= 1000) return String(Math.round(v));
    return String(Number(v.toPrecision(3)));
  };
}

// ---------------------------------------------------------------------------------------------
// Legend (laid out in centred rows under the title, never over the data)
// ---------------------------------------------------------------------------------------------

interface LegendItem {
  label: string;
  /** Draws the key centred vertically at y, spanning [x, x + keyWidth]. */
  key: (x: number, y: number) => string;
  keyWidth: number;
}

const LEGEND_ROW = 20;

function layoutLegend(
  items: LegendItem[],
  maxWidth: number,
): { rows: { item: LegendItem; w: number }[][]; height: number } {
  const rows: { item: LegendItem; w: number }[][] = [];
  let row: { item: LegendItem; w: number }[] = [];
  let rowW = 0;
  const GAP = 22;
  for (const item of items) {
    const w = item.keyWidth + 6 + textWidth(item.label, LEGEND_SIZE);
    if (row.length > 0 && rowW + GAP + w > maxWidth) {
      rows.push(row);
      row = [];
      rowW = 0;
    }
    rowW += (row.length ? GAP : 0) + w;
    row.push({ item, w });
  }
  if (row.length) rows.push(row);
  return { rows, height: rows.length * LEGEND_ROW };
}

function drawLegend(
  layout: ReturnType<typeof layoutLegend>,
  centreX: number,
  top: number,
): string[] {
  const out: string[] = ['<g class="legend">'];
  const GAP = 22;
  layout.rows.forEach((row, r) => {
    const total = row.reduce((s, e) => s + e.w, 0) + GAP * (row.length - 1);
    let x = centreX - total / 2;
    const y = top + r * LEGEND_ROW + LEGEND_ROW / 2;
    for (const { item, w } of row) {
      out.push(`<g class="legend-item">`);
      out.push(item.key(x, y));
      out.push(
        text(x + item.keyWidth + 6, y, item.label, {
          size: LEGEND_SIZE,
          baseline: 'middle',
          cls: 'legend-label',
        }),
      );
      out.push('</g>');
      x += w + GAP;
    }
  });
  out.push('</g>');
  return out;
}

function titleBlock(title: string, width: number): { svg: string[]; height: number } {
  if (!title) return { svg: [], height: 0 };
  const lines = wrapText(title, TITLE_SIZE, width - 2 * PAD, true);
  const svg = lines.map((l, i) =>
    text(width / 2, PAD + TITLE_SIZE + i * (TITLE_SIZE + 4), l, {
      size: TITLE_SIZE,
      anchor: 'middle',
      bold: true,
      cls: 'chart-title',
    }),
  );
  return { svg, height: lines.length * (TITLE_SIZE + 4) + 4 };
}

/** Luminance-based choice of label colour drawn on top of a fill. */
function inkOn(hex: string): string {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) return '#ffffff';
  const [r, g, b] = [m[1], m[2], m[3]].map((h) => parseInt(h!, 16) / 255) as [
    number,
    number,
    number,
  ];
  return 0.299 * r + 0.587 * g + 0.114 * b > 0.6 ? INK : '#ffffff';
}

// ---------------------------------------------------------------------------------------------
// Grouped bar chart
// ---------------------------------------------------------------------------------------------

export interface BarSeries {
  name: string;
  /** One value per group; null = no bar (drawn as a small "n/a"). */
  values: (number | null)[];
  /** Optional error bar per group (e.g. a 95% interval), in the units of `values`. */
  errors?: ({ lo: number; hi: number } | null)[];
}

export interface GroupedBarChartOptions {
  title: string;
  yLabel: string;
  /** Category labels along the x axis (e.g. spaces). */
  groups: string[];
  /** One series per legend entry (e.g. architectures), one bar per group. */
  series: BarSeries[];
  xLabel?: string;
  yMin?: number;
  yMax?: number;
  valueFormat?: (v: number) => string;
  /** Print values on the bars (default true; labels that do not fit are left out). */
  showValues?: boolean;
  width?: number;
  height?: number;
}

export function groupedBarChart(opts: GroupedBarChartOptions): string {
  const W = opts.width ?? 760;
  let H = opts.height ?? 440;
  const groups = opts.groups;
  const series = opts.series;
  const nG = Math.max(1, groups.length);
  const nS = Math.max(1, series.length);
  const values = series.flatMap((s) => [
    ...s.values
      .slice(0, groups.length)
      .filter((v): v is number => v !== null && Number.isFinite(v)),
    // Error bars count towards the axis range (only where a bar is drawn).
    ...(s.errors ?? [])
      .slice(0, groups.length)
      .flatMap((e, i) =>
        e && s.values[i] !== null && Number.isFinite(s.values[i]) ? [e.lo, e.hi] : [],
      )
      .filter((v) => Number.isFinite(v)),
  ]);
  const dataMin = values.length ? Math.min(0, ...values) : 0;
  const dataMax = values.length ? Math.max(0, ...values) : 1;
  const y = linearAxis(dataMin, dataMax, opts.yMin, opts.yMax);
  const fmt = opts.valueFormat ?? defaultValueFormat(values);
  const showValues = opts.showValues ?? true;

  const title = titleBlock(opts.title, W);
  const legend = layoutLegend(
    series.map((s, i) => ({
      label: s.name,
      keyWidth: 14,
      key: (x: number, cy: number) =>
        `<rect x="${r2(x)}" y="${r2(cy - 7)}" width="14" height="14" rx="2" fill="${seriesColour(i)}"/>`,
    })),
    W - 2 * PAD,
  );
  const tickLabelW = Math.max(...y.ticks.map((t) => textWidth(y.format(t), TICK_SIZE)), 10);
  const left = PAD + (opts.yLabel ? LABEL_SIZE + 10 : 0) + tickLabelW + 10;
  const right = PAD + 6;
  // Headroom above the plot so that value labels of the tallest bars sit outside them.
  const VSIZE = 10;
  const headroom = showValues ? VSIZE + 6 : 0;
  const top = PAD + title.height + (series.length ? legend.height + 10 : 0) + 8 + headroom;
  const plotW = W - left - right;
  const groupW = plotW / nG;

  // x labels: horizontal when they fit their group, else rotated.
  const labelW = Math.max(0, ...groups.map((g) => textWidth(g, LABEL_SIZE - 1)));
  const rotate = labelW > groupW - 8;
  const ANG = 30;
  const xLabelsH = rotate
    ? labelW * Math.sin((ANG * Math.PI) / 180) + (LABEL_SIZE - 1) + 14
    : LABEL_SIZE + 12;
  const bottom = PAD + xLabelsH + (opts.xLabel ? LABEL_SIZE + 12 : 0);
  let plotH = H - top - bottom;
  if (plotH < 160) {
    H += 160 - plotH;
    plotH = 160;
  }
  const plotX = left;
  const plotY = top;
  const sy = (v: number): number => plotY + plotH * (1 - (v - y.min) / (y.max - y.min));
  const clampY = (v: number): number => Math.min(y.max, Math.max(y.min, v));
  const base = y.min <= 0 && y.max >= 0 ? 0 : y.min > 0 ? y.min : y.max;
  const baseY = sy(base);

  const body: string[] = [...title.svg];
  if (series.length) body.push(...drawLegend(legend, W / 2, PAD + title.height + 4));

  // Grid and y axis.
  body.push('<g class="y-axis">');
  for (const t of y.ticks) {
    const ty = sy(t);
    body.push(
      `<line x1="${r2(plotX)}" y1="${r2(ty)}" x2="${r2(plotX + plotW)}" y2="${r2(ty)}" stroke="${GRID}" stroke-width="1"/>`,
    );
    body.push(
      `<line x1="${r2(plotX - 5)}" y1="${r2(ty)}" x2="${r2(plotX)}" y2="${r2(ty)}" stroke="${AXIS}" stroke-width="1"/>`,
    );
    body.push(
      text(plotX - 8, ty, y.format(t), {
        size: TICK_SIZE,
        anchor: 'end',
        baseline: 'middle',
        fill: MUTED,
        cls: 'tick-label',
      }),
    );
  }
  body.push(
    `<line x1="${r2(plotX)}" y1="${r2(plotY)}" x2="${r2(plotX)}" y2="${r2(plotY + plotH)}" stroke="${AXIS}" stroke-width="1"/>`,
  );
  if (opts.yLabel) {
    const lx = PAD + LABEL_SIZE / 2 + 2;
    body.push(
      text(lx, plotY + plotH / 2, opts.yLabel, {
        size: LABEL_SIZE,
        anchor: 'middle',
        baseline: 'middle',
        rotate: -90,
        cls: 'axis-label',
      }),
    );
  }
  body.push('</g>');

  // Bars.
  const inner = Math.min(groupW * 0.78, nS * 64);
  const barW = inner / nS;
  const gap = barW > 10 ? Math.min(3, barW * 0.08) : 0;
  body.push('<g class="bars">');
  series.forEach((s, si) => {
    const colour = seriesColour(si);
    groups.forEach((g, gi) => {
      const x = plotX + gi * groupW + (groupW - inner) / 2 + si * barW + gap / 2;
      const w = barW - gap;
      const cx = x + w / 2;
      const v = s.values[gi];
      if (v === null || v === undefined || !Number.isFinite(v)) {
        const rot = textWidth('n/a', 9) > w;
        body.push(
          text(cx, baseY - 4, 'n/a', {
            size: 9,
            anchor: rot ? 'start' : 'middle',
            fill: '#999999',
            rotate: rot ? -90 : 0,
            cls: 'na',
          }),
        );
        return;
      }
      const barY = sy(clampY(v));
      const y0 = Math.min(barY, baseY);
      const h = Math.abs(baseY - barY);
      const err = s.errors?.[gi];
      const hasErr = !!err && Number.isFinite(err.lo) && Number.isFinite(err.hi);
      const errText = hasErr ? ` (${fmt(err.lo)} to ${fmt(err.hi)})` : '';
      body.push(
        `<rect class="bar" data-series="${escapeXml(s.name)}" data-group="${escapeXml(g)}" x="${r2(x)}" y="${r2(y0)}" width="${r2(Math.max(0.5, w))}" height="${r2(h)}" fill="${colour}"><title>${escapeXml(`${s.name} · ${g}: ${fmt(v)}${errText}`)}</title></rect>`,
      );
      // The error bar's far end: value labels go beyond it.
      let vy = barY;
      if (hasErr) {
        const ylo = sy(clampY(err.lo));
        const yhi = sy(clampY(err.hi));
        const cap = Math.min(6, w * 0.35);
        body.push(
          `<path class="error-bar" d="M${r2(cx)},${r2(ylo)}L${r2(cx)},${r2(yhi)}M${r2(cx - cap)},${r2(ylo)}L${r2(cx + cap)},${r2(ylo)}M${r2(cx - cap)},${r2(yhi)}L${r2(cx + cap)},${r2(yhi)}" stroke="${INK}" stroke-width="1.3" fill="none"/>`,
        );
        vy = v >= base ? Math.min(barY, yhi) : Math.max(barY, ylo);
      }
      if (!showValues) return;
      const label = fmt(v);
      const tw = textWidth(label, VSIZE);
      const up = v >= base;
      const horizontal = tw <= w + 2;
      const need = horizontal ? VSIZE + 4 : tw + 6;
      const room = up ? vy - plotY + headroom : plotY + plotH - vy;
      if (room >= need) {
        // Outside the bar end.
        if (horizontal) {
          body.push(
            text(cx, up ? vy - 4 : vy + VSIZE + 3, label, {
              size: VSIZE,
              anchor: 'middle',
              fill: INK,
              cls: 'value-label',
            }),
          );
        } else {
          body.push(
            text(cx + VSIZE * 0.35, up ? vy - 4 : vy + 4, label, {
              size: VSIZE,
              anchor: up ? 'start' : 'end',
              fill: INK,
              rotate: -90,
              cls: 'value-label',
            }),
          );
        }
      } else if (h >= need + 2 && !hasErr) {
        // Inside the bar end.
        const ink = inkOn(colour);
        if (horizontal) {
          body.push(
            text(cx, up ? barY + VSIZE + 3 : barY - 4, label, {
              size: VSIZE,
              anchor: 'middle',
              fill: ink,
              cls: 'value-label',
            }),
          );
        } else {
          body.push(
            text(cx + VSIZE * 0.35, up ? barY + 4 : barY - 4, label, {
              size: VSIZE,
              anchor: up ? 'end' : 'start',
              fill: ink,
              rotate: -90,
              cls: 'value-label',
            }),
          );
        }
      }
    });
  });
  body.push('</g>');

  // Baseline and x labels.
  body.push('<g class="x-axis">');
  body.push(
    `<line x1="${r2(plotX)}" y1="${r2(baseY)}" x2="${r2(plotX + plotW)}" y2="${r2(baseY)}" stroke="${AXIS}" stroke-width="1"/>`,
  );
  if (base !== y.min) {
    body.push(
      `<line x1="${r2(plotX)}" y1="${r2(plotY + plotH)}" x2="${r2(plotX + plotW)}" y2="${r2(plotY + plotH)}" stroke="${AXIS}" stroke-width="1"/>`,
    );
  }
  groups.forEach((g, gi) => {
    const cx = plotX + (gi + 0.5) * groupW;
    const ly = plotY + plotH;
    if (gi > 0) {
      const sx = plotX + gi * groupW;
      body.push(
        `<line x1="${r2(sx)}" y1="${r2(ly)}" x2="${r2(sx)}" y2="${r2(ly + 5)}" stroke="${AXIS}" stroke-width="1"/>`,
      );
    }
    body.push(
      rotate
        ? text(cx + 4, ly + 14, g, {
            size: LABEL_SIZE - 1,
            anchor: 'end',
            rotate: -ANG,
            cls: 'group-label',
          })
        : text(cx, ly + LABEL_SIZE + 6, g, {
            size: LABEL_SIZE - 1,
            anchor: 'middle',
            cls: 'group-label',
          }),
    );
  });
  if (opts.xLabel) {
    body.push(
      text(plotX + plotW / 2, plotY + plotH + xLabelsH + LABEL_SIZE + 4, opts.xLabel, {
        size: LABEL_SIZE,
        anchor: 'middle',
        cls: 'axis-label',
      }),
    );
  }
  body.push('</g>');

  return svgDoc(W, H, opts.title, body);
}

// ---------------------------------------------------------------------------------------------
// Line chart
// ---------------------------------------------------------------------------------------------

export interface LineSeries {
  name: string;
  x: number[];
  /** null = gap in the line. */
  y: (number | null)[];
  dashed?: boolean;
  /** Which y axis the series is measured on (default 'left'). */
  axis?: 'left' | 'right';
  /** Optional band (e.g. a 95% interval) drawn translucent behind the line; null = no band. */
  band?: { lo: (number | null)[]; hi: (number | null)[] };
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
  yMin?: number;
  yMax?: number;
  /** Label of the secondary (right) axis; shown when any series has axis 'right'. */
  y2Label?: string;
  y2Min?: number;
  y2Max?: number;
  xMin?: number;
  xMax?: number;
  /** 'log' for e.g. a sweep over the number of kept singular values. Default 'linear'. */
  xScale?: 'linear' | 'log';
  /** Explicit x tick positions (default: nice ticks). */
  xTicks?: number[];
  /** Draw point markers (default true). */
  markers?: boolean;
  /**
   * Keep overlapping lines visible: earlier series are drawn wider and translucent, later ones
   * narrower on top, so two lines on the same points show as a line inside a halo.
   */
  layered?: boolean;
  width?: number;
  height?: number;
}

type MarkerShape = 'circle' | 'square' | 'triangle' | 'diamond' | 'triangle-down';
const MARKERS: MarkerShape[] = ['circle', 'square', 'triangle', 'diamond', 'triangle-down'];

function marker(shape: MarkerShape, x: number, y: number, colour: string, r = 3.8): string {
  const common = `class="marker" fill="${colour}" stroke="#ffffff" stroke-width="1"`;
  switch (shape) {
    case 'circle':
      return `<circle ${common} cx="${r2(x)}" cy="${r2(y)}" r="${r2(r)}"/>`;
    case 'square':
      return `<rect ${common} x="${r2(x - r * 0.9)}" y="${r2(y - r * 0.9)}" width="${r2(r * 1.8)}" height="${r2(r * 1.8)}"/>`;
    case 'triangle': {
      const k = r * 1.2;
      return `<path ${common} d="M${r2(x)},${r2(y - k)}L${r2(x + k)},${r2(y + k * 0.8)}L${r2(x - k)},${r2(y + k * 0.8)}Z"/>`;
    }
    case 'triangle-down': {
      const k = r * 1.2;
      return `<path ${common} d="M${r2(x)},${r2(y + k)}L${r2(x + k)},${r2(y - k * 0.8)}L${r2(x - k)},${r2(y - k * 0.8)}Z"/>`;
    }
    case 'diamond': {
      const k = r * 1.25;
      return `<path ${common} d="M${r2(x)},${r2(y - k)}L${r2(x + k)},${r2(y)}L${r2(x)},${r2(y + k)}L${r2(x - k)},${r2(y)}Z"/>`;
    }
  }
}

export function lineChart(opts: LineChartOptions): string {
  const W = opts.width ?? 720;
  let H = opts.height ?? 440;
  const series = opts.series;
  const showMarkers = opts.markers ?? true;
  const hasRight = series.some((s) => s.axis === 'right');
  const hasLeft = series.some((s) => s.axis !== 'right');
  const logX = opts.xScale === 'log';

  const finite = (a: (number | null)[]): number[] =>
    a.filter((v): v is number => v !== null && Number.isFinite(v));
  const xs = series.flatMap((s) => finite(s.x)).filter((v) => !logX || v > 0);
  const withBand = (s: LineSeries) => [
    ...finite(s.y),
    ...(s.band ? [...finite(s.band.lo), ...finite(s.band.hi)] : []),
  ];
  const leftYs = series.filter((s) => s.axis !== 'right').flatMap(withBand);
  const rightYs = series.filter((s) => s.axis === 'right').flatMap(withBand);
  const ext = (a: number[]): [number, number] =>
    a.length ? [Math.min(...a), Math.max(...a)] : [0, 1];

  const [x0, x1] = ext(xs);
  const xAxis = logX
    ? logAxis(x0, x1, opts.xMin, opts.xMax)
    : linearAxis(x0, x1, opts.xMin, opts.xMax, 8);
  if (opts.xTicks) {
    xAxis.ticks = opts.xTicks.filter((t) => t >= xAxis.min && t <= xAxis.max);
    if (!logX) {
      const step = opts.xTicks.length > 1 ? Math.abs(opts.xTicks[1]! - opts.xTicks[0]!) : 1;
      xAxis.format = fmtFixed(stepDecimals(step));
    }
  }
  const [ly0, ly1] = ext(leftYs);
  const yAxis = linearAxis(ly0, ly1, opts.yMin, opts.yMax, 6, leftYs.length ? 0.04 : 0);
  const [ry0, ry1] = ext(rightYs);
  const y2Axis = hasRight ? linearAxis(ry0, ry1, opts.y2Min, opts.y2Max, 6, 0.04) : undefined;
  // Only right-axis series: the left axis carries no data, so it shows no ticks or label.
  const leftTicks = hasLeft || !hasRight;
  const yLabel = leftTicks ? opts.yLabel : '';

  const title = titleBlock(opts.title, W);
  const legendItems: LegendItem[] = series.map((s, i) => {
    const colour = seriesColour(i);
    const shape = MARKERS[i % MARKERS.length]!;
    return {
      label: hasRight && hasLeft && s.axis === 'right' ? `${s.name} (right axis)` : s.name,
      keyWidth: 28,
      key: (x: number, cy: number) =>
        `<line x1="${r2(x)}" y1="${r2(cy)}" x2="${r2(x + 28)}" y2="${r2(cy)}" stroke="${colour}" stroke-width="2.2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>` +
        (showMarkers ? marker(shape, x + 14, cy, colour) : ''),
    };
  });
  const legend = layoutLegend(legendItems, W - 2 * PAD);

  const tickW = (a: Axis): number =>
    Math.max(10, ...a.ticks.map((t) => textWidth(a.format(t), TICK_SIZE)));
  const left = leftTicks ? PAD + (yLabel ? LABEL_SIZE + 10 : 0) + tickW(yAxis) + 10 : PAD + 12;
  const lastXTickHalf = xAxis.ticks.length
    ? textWidth(xAxis.format(xAxis.ticks[xAxis.ticks.length - 1]!), TICK_SIZE) / 2
    : 0;
  const right = y2Axis
    ? PAD + (opts.y2Label ? LABEL_SIZE + 10 : 0) + tickW(y2Axis) + 10
    : PAD + Math.max(8, lastXTickHalf);
  const top = PAD + title.height + (series.length ? legend.height + 10 : 0) + 8;
  const bottom = PAD + TICK_SIZE + 10 + (opts.xLabel ? LABEL_SIZE + 12 : 0);
  const plotX = left;
  const plotY = top;
  const plotW = W - left - right;
  let plotH = H - top - bottom;
  if (plotH < 160) {
    H += 160 - plotH;
    plotH = 160;
  }
  // Data are inset a little from the y axes so that end markers do not sit on them.
  const INSET = 10;
  const dataW = plotW - 2 * INSET;
  const sx = (v: number): number =>
    plotX +
    INSET +
    (logX
      ? (dataW * Math.log(v / xAxis.min)) / Math.log(xAxis.max / xAxis.min)
      : (dataW * (v - xAxis.min)) / (xAxis.max - xAxis.min));
  const syFor =
    (a: Axis) =>
    (v: number): number =>
      plotY + plotH * (1 - (v - a.min) / (a.max - a.min));
  const sy = syFor(yAxis);
  const sy2 = y2Axis ? syFor(y2Axis) : sy;

  const body: string[] = [...title.svg];
  if (series.length) body.push(...drawLegend(legend, W / 2, PAD + title.height + 4));

  // Gridlines (left axis, or the right one when it alone has data; x ticks) and axes.
  body.push('<g class="grid">');
  for (const t of (leftTicks ? yAxis : y2Axis!).ticks) {
    const ty = (leftTicks ? sy : sy2)(t);
    body.push(
      `<line x1="${r2(plotX)}" y1="${r2(ty)}" x2="${r2(plotX + plotW)}" y2="${r2(ty)}" stroke="${GRID}" stroke-width="1"/>`,
    );
  }
  for (const t of xAxis.ticks) {
    const tx = sx(t);
    body.push(
      `<line x1="${r2(tx)}" y1="${r2(plotY)}" x2="${r2(tx)}" y2="${r2(plotY + plotH)}" stroke="${GRID}" stroke-width="1" stroke-opacity="0.7"/>`,
    );
  }
  body.push('</g>');

  body.push('<g class="y-axis">');
  for (const t of leftTicks ? yAxis.ticks : []) {
    const ty = sy(t);
    body.push(
      `<line x1="${r2(plotX - 5)}" y1="${r2(ty)}" x2="${r2(plotX)}" y2="${r2(ty)}" stroke="${AXIS}" stroke-width="1"/>`,
      text(plotX - 8, ty, yAxis.format(t), {
        size: TICK_SIZE,
        anchor: 'end',
        baseline: 'middle',
        fill: MUTED,
        cls: 'tick-label',
      }),
    );
  }
  body.push(
    `<line x1="${r2(plotX)}" y1="${r2(plotY)}" x2="${r2(plotX)}" y2="${r2(plotY + plotH)}" stroke="${AXIS}" stroke-width="1"/>`,
  );
  if (yLabel) {
    body.push(
      text(PAD + LABEL_SIZE / 2 + 2, plotY + plotH / 2, yLabel, {
        size: LABEL_SIZE,
        anchor: 'middle',
        baseline: 'middle',
        rotate: -90,
        cls: 'axis-label',
      }),
    );
  }
  body.push('</g>');

  if (y2Axis) {
    const ax = plotX + plotW;
    body.push('<g class="y2-axis">');
    for (const t of y2Axis.ticks) {
      const ty = sy2(t);
      body.push(
        `<line x1="${r2(ax)}" y1="${r2(ty)}" x2="${r2(ax + 5)}" y2="${r2(ty)}" stroke="${AXIS}" stroke-width="1"/>`,
        text(ax + 8, ty, y2Axis.format(t), {
          size: TICK_SIZE,
          baseline: 'middle',
          fill: MUTED,
          cls: 'tick-label',
        }),
      );
    }
    body.push(
      `<line x1="${r2(ax)}" y1="${r2(plotY)}" x2="${r2(ax)}" y2="${r2(plotY + plotH)}" stroke="${AXIS}" stroke-width="1"/>`,
    );
    if (opts.y2Label) {
      body.push(
        text(W - PAD - LABEL_SIZE / 2 - 2, plotY + plotH / 2, opts.y2Label, {
          size: LABEL_SIZE,
          anchor: 'middle',
          baseline: 'middle',
          rotate: 90,
          cls: 'axis-label',
        }),
      );
    }
    body.push('</g>');
  }

  body.push('<g class="x-axis">');
  body.push(
    `<line x1="${r2(plotX)}" y1="${r2(plotY + plotH)}" x2="${r2(plotX + plotW)}" y2="${r2(plotY + plotH)}" stroke="${AXIS}" stroke-width="1"/>`,
  );
  for (const t of xAxis.ticks) {
    const tx = sx(t);
    body.push(
      `<line x1="${r2(tx)}" y1="${r2(plotY + plotH)}" x2="${r2(tx)}" y2="${r2(plotY + plotH + 5)}" stroke="${AXIS}" stroke-width="1"/>`,
      text(tx, plotY + plotH + 8 + TICK_SIZE, xAxis.format(t), {
        size: TICK_SIZE,
        anchor: 'middle',
        fill: MUTED,
        cls: 'tick-label',
      }),
    );
  }
  if (opts.xLabel) {
    body.push(
      text(plotX + plotW / 2, plotY + plotH + 8 + TICK_SIZE + 10 + LABEL_SIZE, opts.xLabel, {
        size: LABEL_SIZE,
        anchor: 'middle',
        cls: 'axis-label',
      }),
    );
  }
  body.push('</g>');

  const lineWidth = (i: number): number =>
    opts.layered ? Math.round((2.2 + 1.3 * (series.length - 1 - i)) * 10) / 10 : 2.2;

  // Series, clipped to the plot area.
  const clipId = `plot-clip-${idHash(opts.title, W, H)}`;
  body.push(
    `<defs><clipPath id="${clipId}"><rect x="${r2(plotX - 6)}" y="${r2(plotY - 6)}" width="${r2(plotW + 12)}" height="${r2(plotH + 12)}"/></clipPath></defs>`,
  );
  body.push(`<g class="series" clip-path="url(#${clipId})">`);
  // Bands first, under every line.
  series.forEach((s, i) => {
    if (!s.band) return;
    const toY = s.axis === 'right' ? sy2 : sy;
    const ok = (k: number) =>
      Number.isFinite(s.x[k]) &&
      typeof s.band!.lo[k] === 'number' &&
      typeof s.band!.hi[k] === 'number' &&
      Number.isFinite(s.band!.lo[k]) &&
      Number.isFinite(s.band!.hi[k]) &&
      (!logX || s.x[k]! > 0);
    let run: number[] = [];
    const flush = () => {
      if (run.length >= 2) {
        const upper = run.map((k) => `${r2(sx(s.x[k]!))},${r2(toY(s.band!.hi[k]!))}`);
        const lower = run.map((k) => `${r2(sx(s.x[k]!))},${r2(toY(s.band!.lo[k]!))}`).reverse();
        body.push(
          `<path class="series-band" data-series="${escapeXml(s.name)}" d="M${[...upper, ...lower].join('L')}Z" fill="${seriesColour(i)}" fill-opacity="0.16" stroke="none"/>`,
        );
      } else if (run.length === 1) {
        const k = run[0];
        const cx = sx(s.x[k]!);
        body.push(
          `<path class="series-band" data-series="${escapeXml(s.name)}" d="M${r2(cx)},${r2(toY(s.band!.lo[k]!))}L${r2(cx)},${r2(toY(s.band!.hi[k]!))}" stroke="${seriesColour(i)}" stroke-opacity="0.5" stroke-width="6"/>`,
        );
      }
      run = [];
    };
    for (let k = 0; k < s.x.length; k++) {
      if (ok(k)) run.push(k);
      else flush();
    }
    flush();
  });
  series.forEach((s, i) => {
    const colour = seriesColour(i);
    const shape = MARKERS[i % MARKERS.length]!;
    const toY = s.axis === 'right' ? sy2 : sy;
    const n = Math.min(s.x.length, s.y.length);
    const pts: ([number, number] | null)[] = [];
    for (let k = 0; k < n; k++) {
      const xv = s.x[k]!;
      const yv = s.y[k];
      const ok =
        yv !== null &&
        yv !== undefined &&
        Number.isFinite(yv) &&
        Number.isFinite(xv) &&
        (!logX || xv > 0);
      pts.push(ok ? [sx(xv), toY(yv)] : null);
    }
    // Split into runs at gaps.
    const runs: [number, number][][] = [];
    let run: [number, number][] = [];
    for (const p of pts) {
      if (p) run.push(p);
      else if (run.length) {
        runs.push(run);
        run = [];
      }
    }
    if (run.length) runs.push(run);
    body.push(`<g class="line-series" data-series="${escapeXml(s.name)}">`);
    for (const rn of runs) {
      if (rn.length < 2) continue;
      const d = rn.map(([px, py], k) => `${k ? 'L' : 'M'}${r2(px)},${r2(py)}`).join('');
      body.push(
        `<path class="series-line" d="${d}" fill="none" stroke="${colour}" stroke-width="${lineWidth(i)}"${opts.layered && i < series.length - 1 ? ' stroke-opacity="0.75"' : ''} stroke-linejoin="round" stroke-linecap="round"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      );
    }
    if (showMarkers || runs.some((r) => r.length === 1)) {
      for (const rn of runs) {
        if (!showMarkers && rn.length > 1) continue;
        for (const [px, py] of rn) body.push(marker(shape, px, py, colour));
      }
    }
    body.push('</g>');
  });
  body.push('</g>');

  return svgDoc(W, H, opts.title, body);
}

// ---------------------------------------------------------------------------------------------
// Image gallery
// ---------------------------------------------------------------------------------------------

export interface GalleryCell {
  /** Row-major pixels, width*height of them (grey: [0, 1] or the data's range). */
  pixels: Float32Array | number[];
  width: number;
  height: number;
  caption?: string;
  /** Signed data (e.g. perturbations): blue-white-red over [-m, m], m = max |value|. */
  signed?: boolean;
}

export interface GalleryRow {
  /** Optional row header drawn to the left. */
  label?: string;
  cells: GalleryCell[];
}

export interface ImageGalleryOptions {
  title?: string;
  /** Column headers. */
  columns: string[];
  rows: GalleryRow[];
  /** Pixel magnification (default 3). */
  scale?: number;
}

/** PNG data URI for one gallery cell (grey, or diverging RGB when signed). */
export function cellDataUri(cell: GalleryCell): string {
  const { pixels, width, height } = cell;
  if (pixels.length !== width * height) {
    throw new RangeError(
      `imageGallery: cell has ${pixels.length} pixels, expected ${width}x${height}`,
    );
  }
  const png = cell.signed
    ? encodeDivergingPng(pixels, width, height)
    : encodeGreyPng(pixels, width, height);
  return pngDataUri(png);
}

export function imageGallery(opts: ImageGalleryOptions): string {
  const scale = opts.scale ?? 3;
  const rows = opts.rows;
  const nCols = Math.max(opts.columns.length, ...rows.map((r) => r.cells.length), 0);
  const CAP = 11;
  const CAP_LINE = CAP + 3;
  const HEAD = 12;
  const COL_GAP = 18;
  const ROW_GAP = 14;

  // Column widths: the widest image, widened for captions up to a limit, then wrap.
  const colW: number[] = [];
  for (let c = 0; c < nCols; c++) {
    const imgW = Math.max(0, ...rows.map((r) => (r.cells[c] ? r.cells[c]!.width * scale : 0)));
    const limit = Math.max(imgW, 150);
    const capW = Math.max(
      0,
      ...rows.map((r) =>
        r.cells[c]?.caption ? linesWidth(wrapText(r.cells[c]!.caption!, CAP, limit), CAP) : 0,
      ),
    );
    const headW = linesWidth(wrapText(opts.columns[c] ?? '', HEAD, limit, true), HEAD, true);
    colW.push(Math.max(imgW, capW, headW, 20));
  }
  const labelW = Math.min(
    130,
    Math.max(0, ...rows.map((r) => (r.label ? textWidth(r.label, HEAD, true) : 0))),
  );
  const labelCol = labelW > 0 ? labelW + 12 : 0;
  const gridW = colW.reduce((s, w) => s + w, 0) + COL_GAP * Math.max(0, nCols - 1);
  const anySigned = rows.some((r) => r.cells.some((c) => c.signed));
  const legendW = anySigned ? 330 : 0;
  let W = Math.max(PAD * 2 + labelCol + gridW, legendW + 2 * PAD);
  const titleText = opts.title ?? '';
  if (titleText) W = Math.max(W, Math.min(textWidth(titleText, TITLE_SIZE, true) + 4 * PAD, 900));
  const title = titleBlock(titleText, W);
  const x0 = (W - (labelCol + gridW)) / 2 + labelCol;

  const body: string[] = [...title.svg];
  let yy = PAD + title.height + (titleText ? 6 : 0);

  // Column headers.
  const headLines = opts.columns.map((h, c) => wrapText(h, HEAD, colW[c] ?? 100, true));
  const headH = Math.max(0, ...headLines.map((l) => l.length)) * (HEAD + 3);
  const colX: number[] = [];
  {
    let x = x0;
    for (let c = 0; c < nCols; c++) {
      colX.push(x);
      x += colW[c]! + COL_GAP;
    }
  }
  body.push('<g class="column-headers">');
  headLines.forEach((lines, c) => {
    lines.forEach((l, k) => {
      body.push(
        text(colX[c]! + colW[c]! / 2, yy + HEAD + k * (HEAD + 3), l, {
          size: HEAD,
          anchor: 'middle',
          bold: true,
          cls: 'column-header',
        }),
      );
    });
  });
  body.push('</g>');
  if (headH) yy += headH + 8;

  body.push('<g class="cells">');
  for (const row of rows) {
    const imgH = Math.max(0, ...row.cells.map((c) => c.height * scale));
    const capLines = row.cells.map((cell, c) =>
      cell.caption ? wrapText(cell.caption, CAP, colW[c]!) : [],
    );
    const capH = Math.max(0, ...capLines.map((l) => l.length)) * CAP_LINE;
    if (row.label) {
      const lines = wrapText(row.label, HEAD, labelW, true);
      const ly = yy + imgH / 2 - ((lines.length - 1) * (HEAD + 3)) / 2;
      lines.forEach((l, k) =>
        body.push(
          text(x0 - 12, ly + k * (HEAD + 3), l, {
            size: HEAD,
            anchor: 'end',
            bold: true,
            baseline: 'middle',
            cls: 'row-label',
          }),
        ),
      );
    }
    row.cells.forEach((cell, c) => {
      const w = cell.width * scale;
      const h = cell.height * scale;
      const ix = colX[c]! + (colW[c]! - w) / 2;
      const iy = yy + (imgH - h) / 2;
      body.push(
        `<image class="cell-image" x="${r2(ix)}" y="${r2(iy)}" width="${r2(w)}" height="${r2(h)}" preserveAspectRatio="none" image-rendering="optimizeSpeed" style="image-rendering:pixelated" href="${cellDataUri(cell)}"/>`,
        `<rect x="${r2(ix - 0.5)}" y="${r2(iy - 0.5)}" width="${r2(w + 1)}" height="${r2(h + 1)}" fill="none" stroke="#bbbbbb" stroke-width="1"/>`,
      );
      capLines[c]!.forEach((l, k) =>
        body.push(
          text(colX[c]! + colW[c]! / 2, yy + imgH + 6 + CAP + k * CAP_LINE, l, {
            size: CAP,
            anchor: 'middle',
            fill: '#333333',
            cls: 'caption',
          }),
        ),
      );
    });
    yy += imgH + (capH ? capH + 6 : 0) + ROW_GAP;
  }
  body.push('</g>');

  if (anySigned) {
    // Colour key for signed cells.
    const barW = 160;
    const bx = (W - barW) / 2;
    const by = yy + 2;
    const keyId = `diverging-key-${idHash(titleText, W, yy)}`;
    const stops = [-1, -0.5, 0, 0.5, 1]
      .map((t) => {
        const [r, g, b] = divergingColour(t);
        return `<stop offset="${r2((t + 1) / 2)}" stop-color="rgb(${r},${g},${b})"/>`;
      })
      .join('');
    body.push(
      '<g class="signed-key">',
      `<defs><linearGradient id="${keyId}" x1="0" y1="0" x2="1" y2="0">${stops}</linearGradient></defs>`,
      `<rect x="${r2(bx)}" y="${r2(by)}" width="${barW}" height="10" fill="url(#${keyId})" stroke="#bbbbbb" stroke-width="0.5"/>`,
      text(bx - 6, by + 5, '−m', { size: CAP, anchor: 'end', baseline: 'middle', fill: MUTED }),
      text(bx + barW + 6, by + 5, '+m', { size: CAP, baseline: 'middle', fill: MUTED }),
      text(bx + barW / 2, by + 10 + 4 + CAP, 'signed images: m = max |value| of each image', {
        size: CAP - 1,
        anchor: 'middle',
        fill: MUTED,
      }),
      '</g>',
    );
    yy += 10 + 4 + CAP + 8;
  }

  const H = yy + PAD - ROW_GAP / 2;
  return svgDoc(W, H, titleText || 'image gallery', body);
}
