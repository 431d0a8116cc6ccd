import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { svgToPng, writeFigure } from './render.js';
import { groupedBarChart, imageGallery, lineChart } from './svg.js';

// ---------------------------------------------------------------------------------------------
// A minimal PNG decoder (8-bit grey / rgb / rgba, non-interlaced, all five filters)
// ---------------------------------------------------------------------------------------------

interface Decoded {
  width: number;
  height: number;
  /** RGBA, row-major. */
  rgba: Uint8Array;
}

function decodePng(png: Uint8Array): Decoded {
  expect([...png.subarray(0, 8)]).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let p = 8;
  let width = 0;
  let height = 0;
  let colour = -1;
  const idat: Uint8Array[] = [];
  while (p < png.length) {
    const len = view.getUint32(p);
    const type = String.fromCharCode(...png.subarray(p + 4, p + 8));
    const data = png.subarray(p + 8, p + 8 + len);
    if (type === 'IHDR') {
      width = view.getUint32(p + 8);
      height = view.getUint32(p + 12);
      expect(data[8]).toBe(8);
      colour = data[9]!;
      expect(data[12]).toBe(0);
    } else if (type === 'IDAT') idat.push(data);
    p += 12 + len;
  }
  const ch = { 0: 1, 2: 3, 4: 2, 6: 4 }[colour as 0 | 2 | 4 | 6];
  if (!ch) throw new Error(`unsupported colour type ${colour}`);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * ch;
  const out = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= ch ? out[y * stride + x - ch]! : 0;
      const b = y > 0 ? out[(y - 1) * stride + x]! : 0;
      const c = x >= ch && y > 0 ? out[(y - 1) * stride + x - ch]! : 0;
      let pred = 0;
      if (f === 1) pred = a;
      else if (f === 2) pred = b;
      else if (f === 3) pred = (a + b) >> 1;
      else if (f === 4) {
        const pp = a + b - c;
        const pa = Math.abs(pp - a);
        const pb = Math.abs(pp - b);
        const pc = Math.abs(pp - c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      out[y * stride + x] = (line[x]! + pred) & 0xff;
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const s = out.subarray(i * ch, i * ch + ch);
    const [r, g, b, al] =
      ch === 1
        ? [s[0], s[0], s[0], 255]
        : ch === 2
          ? [s[0], s[0], s[0], s[1]]
          : ch === 3
            ? [s[0], s[1], s[2], 255]
            : [s[0], s[1], s[2], s[3]];
    rgba.set([r!, g!, b!, al!], i * 4);
  }
  return { width, height, rgba };
}

function pixel(d: Decoded, x: number, y: number): [number, number, number, number] {
  const i = (y * d.width + x) * 4;
  return [d.rgba[i]!, d.rgba[i + 1]!, d.rgba[i + 2]!, d.rgba[i + 3]!];
}

function distinctColours(d: Decoded): number {
  const set = new Set<number>();
  for (let i = 0; i < d.rgba.length; i += 4) {
    set.add(((d.rgba[i]! << 16) | (d.rgba[i + 1]! << 8) | d.rgba[i + 2]!) >>> 0);
  }
  return set.size;
}

function svgSize(svg: string): { width: number; height: number } {
  const m = /^<svg [^>]*width="(\d+)" height="(\d+)"/.exec(svg)!;
  return { width: Number(m[1]), height: Number(m[2]) };
}

/** Count of pixels in a box that are dark (text ink) or match a predicate. */
function countIn(
  d: Decoded,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  pred: (p: [number, number, number, number]) => boolean,
): number {
  let n = 0;
  for (let y = Math.max(0, y0); y < Math.min(d.height, y1); y++) {
    for (let x = Math.max(0, x0); x < Math.min(d.width, x1); x++) if (pred(pixel(d, x, y))) n++;
  }
  return n;
}

const dark = ([r, g, b]: [number, number, number, number]): boolean => r + g + b < 200;

// ---------------------------------------------------------------------------------------------

const bar = groupedBarChart({
  title: 'Accuracy per architecture and space',
  yLabel: 'accuracy',
  groups: ['image', 'ae-encoding', 'ae-projection', 'vae-encoding', 'vae-projection'],
  series: [
    { name: '1L', values: [0.92, 0.88, 0.91, 0.83, 0.9] },
    { name: '2L', values: [0.98, 0.95, 0.97, null, 0.96] },
    { name: 'LRL', values: [0.98, 0.96, 0.98, 0.9, 0.97] },
  ],
  yMin: 0,
  yMax: 1,
});

describe('svgToPng', () => {
  it('returns a PNG of the SVG size times the scale, with white background and colours', async () => {
    const { width, height } = svgSize(bar);
    for (const scale of [1, 2]) {
      const png = await svgToPng(bar, { scale });
      expect(png).toBeInstanceOf(Uint8Array);
      const d = decodePng(png);
      expect(d.width).toBe(width * scale);
      expect(d.height).toBe(height * scale);
      expect(pixel(d, 1, 1)).toEqual([255, 255, 255, 255]);
      expect(distinctColours(d)).toBeGreaterThan(3);
      // The three series colours are all present (Okabe–Ito blue, orange, green).
      const has = (rgb: [number, number, number]): boolean =>
        countIn(
          d,
          0,
          0,
          d.width,
          d.height,
          ([r, g, b]) => r === rgb[0] && g === rgb[1] && b === rgb[2],
        ) > 50;
      expect(has([0x00, 0x72, 0xb2])).toBe(true);
      expect(has([0xe6, 0x9f, 0x00])).toBe(true);
      expect(has([0x00, 0x9e, 0x73])).toBe(true);
    }
  });

  it('renders text (fonts are found): the title band has ink', async () => {
    const scale = 2;
    const d = decodePng(await svgToPng(bar, { scale }));
    // The title sits alone in the band y ∈ [14, 36] (user units), centred.
    const ink = countIn(d, 0, 14 * scale, d.width, 36 * scale, dark);
    expect(ink).toBeGreaterThan(500);
    // A text-only SVG also renders something.
    const textOnly =
      '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><rect width="120" height="40" fill="#fff"/><text x="10" y="28" font-size="20" font-family="sans-serif">Hello</text></svg>';
    const t = decodePng(await svgToPng(textOnly, { scale: 1 }));
    expect(countIn(t, 0, 0, t.width, t.height, dark)).toBeGreaterThan(50);
  });

  it('draws embedded gallery images (nearest-neighbour, diverging colours)', async () => {
    const n = 8;
    const signed = Array.from({ length: n * n }, (_, i) => (i % n < n / 2 ? -1 : 1));
    const svg = imageGallery({
      columns: ['perturbation'],
      rows: [{ cells: [{ pixels: signed, width: n, height: n, signed: true }] }],
      scale: 10,
    });
    const d = decodePng(await svgToPng(svg, { scale: 1 }));
    const m = /<image [^>]*x="([\d.]+)" y="([\d.]+)" width="80" height="80"/.exec(svg)!;
    const x = Math.round(Number(m[1]));
    const y = Math.round(Number(m[2]));
    const [lr, , lb] = pixel(d, x + 20, y + 40);
    const [rr, , rb] = pixel(d, x + 60, y + 40);
    expect(lb).toBeGreaterThan(lr + 60); // blue half
    expect(rr).toBeGreaterThan(rb + 60); // red half
  });

  it('renders line charts with a right axis', async () => {
    const svg = lineChart({
      title: 'SVD sweep',
      xLabel: 'k',
      yLabel: 'accuracy',
      y2Label: 'robustness',
      xScale: 'log',
      series: [
        { name: 'clean', x: [1, 10, 100], y: [0.5, 0.9, 0.98] },
        { name: 'robustness', x: [1, 10, 100], y: [3, 2, 1], axis: 'right', dashed: true },
      ],
    });
    const d = decodePng(await svgToPng(svg, { scale: 1.5 }));
    expect(d.width).toBe(Math.round(svgSize(svg).width * 1.5));
    expect(distinctColours(d)).toBeGreaterThan(3);
  });

  it('rejects a bad scale', async () => {
    await expect(svgToPng(bar, { scale: 0 })).rejects.toThrow(RangeError);
  });
});

describe('writeFigure', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('writes <base>.svg and <base>.png atomically, creating the folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'robustlab-fig-'));
    dirs.push(dir);
    const base = join(dir, 'nested', 'accuracy');
    const out = await writeFigure(base, bar);
    expect(out).toEqual({ svg: `${base}.svg`, png: `${base}.png` });
    expect(await readFile(out.svg, 'utf8')).toBe(bar);
    const png = new Uint8Array(await readFile(out.png));
    const d = decodePng(png);
    expect(d.width).toBe(svgSize(bar).width * 2);
    // No temporary files are left behind; overwriting works.
    await writeFigure(base, bar);
    expect((await readdir(join(dir, 'nested'))).sort()).toEqual(['accuracy.png', 'accuracy.svg']);
  });
});
