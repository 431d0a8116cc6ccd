import { readFileSync } from 'node:fs';
import { crc32 as zlibCrc32, inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  adler32,
  base64,
  crc32,
  divergingColour,
  encodeDivergingPng,
  encodeGreyPng,
  encodePng,
  pngDataUri,
  toGreyBytes,
} from './png-encode.js';
import { escapeXml, groupedBarChart, imageGallery, lineChart, textWidth, wrapText } from './svg.js';
import { markdownTable } from './table.js';

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/**
 * A strict-enough XML well-formedness check: balanced tags, quoted attributes, no raw '<' or
 * bare '&' in text or attribute values. Returns the element names in document order.
 */
function checkXml(xml: string): string[] {
  const names: string[] = [];
  const stack: string[] = [];
  const entity = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-f]+);/gi;
  const checkText = (t: string, where: string): void => {
    const bare = t.replace(entity, '');
    if (bare.includes('&') || bare.includes('<'))
      throw new Error(`bad ${where}: ${t.slice(0, 80)}`);
  };
  let i = 0;
  let root = 0;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    if (lt < 0) {
      checkText(xml.slice(i), 'text');
      break;
    }
    checkText(xml.slice(i, lt), 'text');
    const gt = xml.indexOf('>', lt);
    if (gt < 0) throw new Error('unterminated tag');
    const tag = xml.slice(lt + 1, gt);
    i = gt + 1;
    if (tag.startsWith('?') || tag.startsWith('!')) continue;
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      const open = stack.pop();
      if (open !== name) throw new Error(`mismatched </${name}>, open <${open}>`);
      continue;
    }
    const m = /^([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"]*")*)\s*(\/?)$/.exec(tag);
    if (!m) throw new Error(`malformed tag <${tag.slice(0, 120)}>`);
    for (const a of m[2]!.matchAll(/="([^"]*)"/g)) checkText(a[1]!, 'attribute');
    const attrNames = [...m[2]!.matchAll(/([\w:.-]+)="/g)].map((a) => a[1]);
    if (new Set(attrNames).size !== attrNames.length)
      throw new Error(`duplicate attribute in <${m[1]}>`);
    names.push(m[1]!);
    if (stack.length === 0) root++;
    if (!m[3]) stack.push(m[1]!);
  }
  if (stack.length) throw new Error(`unclosed: ${stack.join(', ')}`);
  if (root !== 1) throw new Error(`expected one root element, got ${root}`);
  return names;
}

function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

interface Chunk {
  type: string;
  data: Uint8Array;
  crc: number;
  crcOk: boolean;
}

function readChunks(png: Uint8Array): Chunk[] {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const chunks: Chunk[] = [];
  let p = 8;
  while (p < png.length) {
    const len = view.getUint32(p);
    const type = String.fromCharCode(...png.subarray(p + 4, p + 8));
    const data = png.subarray(p + 8, p + 8 + len);
    const crc = view.getUint32(p + 8 + len);
    const crcOk = zlibCrc32(png.subarray(p + 4, p + 8 + len)) === crc;
    chunks.push({ type, data, crc, crcOk });
    p += 12 + len;
  }
  return chunks;
}

function ihdr(png: Uint8Array): { width: number; height: number; depth: number; colour: number } {
  const c = readChunks(png).find((k) => k.type === 'IHDR')!;
  const v = new DataView(c.data.buffer, c.data.byteOffset, c.data.byteLength);
  return { width: v.getUint32(0), height: v.getUint32(4), depth: c.data[8]!, colour: c.data[9]! };
}

/** Raw samples of an unfiltered (filter 0 on every row) PNG made by our encoder. */
function decodeOwnPng(png: Uint8Array): Uint8Array {
  const chunks = readChunks(png);
  const idat = Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data));
  const raw = inflateSync(idat); // also verifies the Adler-32 trailer
  const { width, height, colour } = ihdr(png);
  const ch = colour === 0 ? 1 : colour === 2 ? 3 : 4;
  const stride = width * ch;
  expect(raw.length).toBe((stride + 1) * height);
  const out = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    expect(raw[y * (stride + 1)]).toBe(0);
    out.set(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)), y * stride);
  }
  return out;
}

function dataUris(svg: string): Uint8Array[] {
  return [...svg.matchAll(/href="data:image\/png;base64,([A-Za-z0-9+/=]+)"/g)].map(
    (m) => new Uint8Array(Buffer.from(m[1]!, 'base64')),
  );
}

const SPACES = ['image', 'ae-encoding', 'ae-projection', 'vae-encoding', 'vae-projection'];

// ---------------------------------------------------------------------------------------------
// PNG encoder
// ---------------------------------------------------------------------------------------------

describe('png-encode', () => {
  it('crc32 and adler32 match zlib', () => {
    const bytes = new Uint8Array(100_000).map((_, i) => (i * 7919 + (i >> 3)) & 0xff);
    expect(crc32(bytes)).toBe(zlibCrc32(bytes));
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(adler32(new TextEncoder().encode('Wikipedia'))).toBe(0x11e60398);
    expect(adler32(new Uint8Array(0))).toBe(1);
    // Many 0xff bytes stress the modular reduction.
    const ff = new Uint8Array(200_000).fill(255);
    let a = 1;
    let b = 0;
    for (const v of ff) {
      a = (a + v) % 65521;
      b = (b + a) % 65521;
    }
    expect(adler32(ff)).toBe(((b << 16) | a) >>> 0);
  });

  it('writes a valid greyscale PNG whose stored-deflate IDAT inflates to the exact pixels', () => {
    const w = 7;
    const h = 5;
    const samples = new Uint8Array(w * h).map((_, i) => (i * 37) & 0xff);
    const png = encodePng(samples, w, h, 'grey');
    expect([...png.subarray(0, 8)]).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
    const chunks = readChunks(png);
    expect(chunks.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
    expect(chunks.every((c) => c.crcOk)).toBe(true);
    expect(ihdr(png)).toEqual({ width: w, height: h, depth: 8, colour: 0 });
    expect([...decodeOwnPng(png)]).toEqual([...samples]);
  });

  it('splits data over several stored blocks for large images, and handles rgb/rgba', () => {
    const w = 300;
    const h = 250; // 75,250 bytes of scanlines > one 65,535-byte stored block
    const grey = new Uint8Array(w * h).map((_, i) => (i ^ (i >> 8)) & 0xff);
    const png = encodePng(grey, w, h);
    expect(readChunks(png).every((c) => c.crcOk)).toBe(true);
    expect(decodeOwnPng(png)).toEqual(grey);

    const rgb = new Uint8Array(3 * 4 * 3).map((_, i) => i * 5);
    const prgb = encodePng(rgb, 4, 3, 'rgb');
    expect(ihdr(prgb).colour).toBe(2);
    expect(decodeOwnPng(prgb)).toEqual(rgb);

    const rgba = new Uint8Array(4 * 2 * 2).map((_, i) => 255 - i);
    const prgba = encodePng(rgba, 2, 2, 'rgba');
    expect(ihdr(prgba).colour).toBe(6);
    expect(decodeOwnPng(prgba)).toEqual(rgba);

    expect(() => encodePng(new Uint8Array(5), 2, 2)).toThrow(RangeError);
    expect(() => encodePng(new Uint8Array(0), 0, 0)).toThrow(RangeError);
  });

  it('maps real-valued and signed pixels', () => {
    expect([...toGreyBytes([0, 0.5, 1, 2, -1, NaN])]).toEqual([85, 128, 170, 255, 0, 0]);
    expect([...toGreyBytes([0, 0.5, 1])]).toEqual([0, 128, 255]);
    expect([...toGreyBytes([0, 1, 2], [0, 1])]).toEqual([0, 255, 255]);
    const grey = encodeGreyPng(new Float32Array([0, 0.25, 1, 0.5]), 2, 2);
    expect([...decodeOwnPng(grey)]).toEqual([0, 64, 255, 128]);

    expect(divergingColour(0)).toEqual([247, 247, 247]);
    const [r1, , b1] = divergingColour(1);
    const [r0, , b0] = divergingColour(-1);
    expect(r1).toBeGreaterThan(b1);
    expect(b0).toBeGreaterThan(r0);
    const signed = decodeOwnPng(encodeDivergingPng([-0.2, 0, 0.1, 0.2], 2, 2));
    expect([...signed.subarray(0, 3)]).toEqual(divergingColour(-1));
    expect([...signed.subarray(3, 6)]).toEqual([247, 247, 247]);
    expect([...signed.subarray(9, 12)]).toEqual(divergingColour(1));
    // All zero: all white, no division by zero.
    expect([...decodeOwnPng(encodeDivergingPng([0, 0], 2, 1))]).toEqual([
      247, 247, 247, 247, 247, 247,
    ]);
  });

  it('base64 matches Buffer for every length remainder', () => {
    for (const n of [0, 1, 2, 3, 4, 5, 1000, 5001]) {
      const bytes = new Uint8Array(n).map((_, i) => (i * 131 + 7) & 0xff);
      expect(base64(bytes)).toBe(Buffer.from(bytes).toString('base64'));
    }
    expect(pngDataUri(new Uint8Array([1, 2, 3]))).toBe('data:image/png;base64,AQID');
  });
});

// ---------------------------------------------------------------------------------------------
// SVG charts
// ---------------------------------------------------------------------------------------------

describe('svg helpers', () => {
  it('escapes XML text', () => {
    expect(escapeXml(`a<b>&"c"'d'`)).toBe('a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;');
    expect(escapeXml('bell\u0007')).toBe('bell');
  });

  it('estimates widths and wraps, breaking after arrows first', () => {
    expect(textWidth('iii', 10)).toBeLessThan(textWidth('WWW', 10));
    expect(textWidth('abc', 20)).toBeCloseTo(2 * textWidth('abc', 10));
    expect(wrapText('true 7 (0.99) → goal 3 (0.95)', 11, 120)).toEqual([
      'true 7 (0.99) →',
      'goal 3 (0.95)',
    ]);
    expect(wrapText('short', 11, 120)).toEqual(['short']);
    expect(wrapText('one\ntwo', 11, 500)).toEqual(['one', 'two']);
  });

  it('the browser-side modules import nothing from Node', () => {
    for (const f of ['svg.ts', 'png-encode.ts', 'table.ts', 'index.ts']) {
      const src = readFileSync(new URL(`./${f}`, import.meta.url), 'utf8');
      expect(src).not.toMatch(/from\s+['"](node:|fs|path|zlib|buffer|os)/);
      expect(src).not.toMatch(/\bBuffer\.|\bprocess\./);
    }
  });
});

describe('groupedBarChart', () => {
  const series = [
    { name: '1L', values: [0.92, 0.88, 0.91, 0.83, 0.9] },
    { name: '2L', values: [0.98, 0.95, 0.97, null, 0.96] },
    { name: 'LRL', values: [0.98, null, 0.98, 0.9, 0.97] },
  ];
  const svg = groupedBarChart({
    title: 'Accuracy <per> space & "arch"',
    yLabel: 'accuracy',
    groups: SPACES,
    series,
    yMin: 0,
    yMax: 1,
  });

  it('is well-formed and carries title, axis label, groups and legend', () => {
    const names = checkXml(svg);
    expect(names[0]).toBe('svg');
    expect(svg).toContain('Accuracy &lt;per&gt; space &amp; &quot;arch&quot;');
    expect(svg).not.toContain('<per>');
    expect(svg).toContain('>accuracy</text>');
    for (const g of SPACES) expect(svg).toContain(`>${g}</text>`);
    for (const s of series) expect(svg).toMatch(new RegExp(`class="legend-label"[^>]*>${s.name}<`));
    expect(svg).toContain('fill="#ffffff"'); // white background
    expect(svg).toMatch(/^<svg [^>]*width="760" height="\d+"/);
  });

  it('draws one bar per non-null value and marks missing ones', () => {
    expect(count(svg, 'class="bar"')).toBe(13);
    expect(count(svg, 'class="na"')).toBe(2);
    // Values printed on the bars with the default 2-decimal format.
    expect(count(svg, 'class="value-label"')).toBe(13);
    expect(svg).toContain('>0.83</text>');
    // Ticks 0.0 .. 1.0 with gridlines.
    for (const t of ['0.0', '0.2', '0.4', '0.6', '0.8', '1.0'])
      expect(svg).toContain(`>${t}</text>`);
  });

  it('bars have heights proportional to their values above a zero baseline', () => {
    const bars = [
      ...svg.matchAll(/class="bar"[^>]*y="([\d.]+)" width="[\d.]+" height="([\d.]+)"/g),
    ];
    const bottoms = new Set(bars.map((b) => Math.round(Number(b[1]) + Number(b[2]))));
    expect(bottoms.size).toBe(1);
    const h092 = Number(bars[0]![2]);
    const h088 = Number(bars[1]![2]);
    expect(h092 / h088).toBeCloseTo(0.92 / 0.88, 2);
  });

  it('honours valueFormat, showValues, negatives and empty input', () => {
    const s2 = groupedBarChart({
      title: 't',
      yLabel: 'y',
      groups: ['a', 'b'],
      series: [{ name: 's', values: [-2, 3] }],
      valueFormat: (v) => `${v}!`,
    });
    checkXml(s2);
    expect(s2).toContain('>-2!</text>');
    expect(s2).toContain('>3!</text>');
    const s3 = groupedBarChart({
      title: 't',
      yLabel: 'y',
      groups: ['a'],
      series: [{ name: 's', values: [1] }],
      showValues: false,
    });
    expect(count(s3, 'class="value-label"')).toBe(0);
    const empty = groupedBarChart({ title: 'nothing', yLabel: 'y', groups: [], series: [] });
    checkXml(empty);
    expect(count(empty, 'class="bar"')).toBe(0);
  });

  it('rotates group labels that do not fit', () => {
    const many = groupedBarChart({
      title: 'many',
      yLabel: 'y',
      groups: Array.from({ length: 12 }, (_, i) => `a-long-group-name-${i}`),
      series: [{ name: 's', values: Array.from({ length: 12 }, (_, i) => i) }],
      width: 500,
    });
    checkXml(many);
    expect(count(many, 'class="group-label"')).toBe(12);
    expect(many).toMatch(/class="group-label"[^>]*transform="rotate\(-30/);
  });
});

describe('lineChart', () => {
  const ks = [1, 2, 5, 10, 20, 50, 100, 784];
  const svg = lineChart({
    title: 'SVD sweep',
    xLabel: 'singular values kept',
    yLabel: 'accuracy',
    y2Label: 'robustness',
    xScale: 'log',
    yMin: 0,
    yMax: 1,
    series: [
      { name: 'clean', x: ks, y: ks.map((k) => 1 - 1 / (k + 1)) },
      { name: 'adversarial', x: ks, y: ks.map(() => 0.3), dashed: true },
      { name: 'robustness', x: ks, y: [3, 2.5, null, 2, 1.5, 1.2, 1.1, 1], axis: 'right' },
    ],
  });

  it('is well-formed with title, labels and legend', () => {
    checkXml(svg);
    for (const s of ['SVD sweep', 'singular values kept', 'accuracy', 'robustness']) {
      expect(svg).toContain(`>${s}</text>`);
    }
    expect(svg).toMatch(/class="legend-label"[^>]*>clean</);
    expect(svg).toMatch(/class="legend-label"[^>]*>adversarial</);
    expect(svg).toMatch(/class="legend-label"[^>]*>robustness \(right axis\)</);
  });

  it('draws lines (split at gaps), dashes, markers, a right axis and log ticks', () => {
    // clean + adversarial: one path each; robustness: split by the null into 2 runs.
    expect(count(svg, 'class="series-line"')).toBe(4);
    expect(count(svg, 'stroke-dasharray="6 4"')).toBe(2); // line + its legend key
    expect(count(svg, 'class="marker"')).toBe(8 + 8 + 7 + 3); // points + legend keys
    expect(svg).toContain('class="y2-axis"');
    for (const t of ['1', '10', '100'])
      expect(svg).toMatch(new RegExp(`class="tick-label"[^>]*>${t}<`));
  });

  it('has no right axis without right-axis series', () => {
    const s = lineChart({
      title: 't',
      xLabel: 'x',
      yLabel: 'y',
      series: [{ name: 'a', x: [0, 1, 2], y: [1, 2, 3] }],
    });
    checkXml(s);
    expect(s).not.toContain('y2-axis');
    expect(count(s, 'class="series-line"')).toBe(1);
    const empty = lineChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [] });
    checkXml(empty);
  });
});

describe('imageGallery', () => {
  const ramp = Array.from({ length: 28 * 28 }, (_, i) => (i % 28) / 27);
  const pert = new Float32Array(28 * 28).map((_, i) => ((i % 7) - 3) / 30);
  const svg = imageGallery({
    title: 'Adversarial examples',
    columns: ['original', 'perturbation', 'adversarial'],
    rows: [
      {
        label: 'FGSM',
        cells: [
          { pixels: ramp, width: 28, height: 28, caption: 'true 7 (0.99)' },
          { pixels: pert, width: 28, height: 28, signed: true },
          {
            pixels: ramp.map((v, i) => v + pert[i]!),
            width: 28,
            height: 28,
            caption: 'true 7 (0.99) → goal 3 (0.95)',
          },
        ],
      },
      { cells: [{ pixels: new Float32Array(4 * 2), width: 4, height: 2, caption: '<x&y>' }] },
    ],
    scale: 4,
  });

  it('is well-formed with headers, captions and one image per cell', () => {
    checkXml(svg);
    for (const h of ['original', 'perturbation', 'adversarial', 'Adversarial examples', 'FGSM']) {
      expect(svg).toContain(`>${h}</text>`);
    }
    expect(svg).toContain('&lt;x&amp;y&gt;');
    expect(svg).toContain('true 7 (0.99) →');
    expect(count(svg, '<image ')).toBe(4);
    expect(svg).toMatch(/<image [^>]*width="112" height="112"/);
    expect(svg).toContain('class="signed-key"');
  });

  it('embeds PNGs that decode to the cell pixels', () => {
    const pngs = dataUris(svg);
    expect(pngs).toHaveLength(4);
    for (const png of pngs) expect(readChunks(png).every((c) => c.crcOk)).toBe(true);
    expect(ihdr(pngs[0]!)).toEqual({ width: 28, height: 28, depth: 8, colour: 0 });
    const grey = decodeOwnPng(pngs[0]!);
    expect(grey[0]).toBe(0);
    expect(grey[27]).toBe(255);
    expect(ihdr(pngs[1]!).colour).toBe(2); // signed → RGB diverging
    expect(ihdr(pngs[3]!)).toMatchObject({ width: 4, height: 2 });
  });

  it('rejects cells whose pixel count does not match', () => {
    expect(() =>
      imageGallery({
        columns: ['a'],
        rows: [{ cells: [{ pixels: [1, 2, 3], width: 2, height: 2 }] }],
      }),
    ).toThrow(/expected 2x2/);
  });
});

// ---------------------------------------------------------------------------------------------
// Markdown tables
// ---------------------------------------------------------------------------------------------

describe('markdownTable', () => {
  it('right-aligns numeric columns, formats numbers and shows null as an em dash', () => {
    const t = markdownTable(
      ['space', '1L', 'n'],
      [
        ['image', 0.92123, 60000],
        ['ae|enc', null, 500],
      ],
      { digits: 2 },
    );
    expect(t).toBe(
      [
        '| space   |   1L |     n |',
        '| ------- | ---: | ----: |',
        '| image   | 0.92 | 60000 |',
        '| ae\\|enc |    — |   500 |',
        '',
      ].join('\n'),
    );
  });

  it('right-aligns formatted numbers but not labels that start with a digit', () => {
    const t = markdownTable(
      ['arch', 'test %'],
      [
        ['1L', '92.5 ± 0.4 [91.9, 93.0]'],
        ['2L', '—'],
      ],
    );
    expect(t.split('\n')[1]).toBe('| ---- | ----------------------: |');
  });

  it('defaults to 3 digits and pads short rows', () => {
    const t = markdownTable(['a', 'b'], [[1.23456], ['x', 2.5]]);
    expect(t.split('\n')[2]).toBe('| 1.235 |     — |');
    expect(t.split('\n')[1]).toBe('| ----- | ----: |');
    expect(t).toContain('| x     | 2.500 |');
  });
});

describe('intervals in figures', () => {
  it('bar charts draw one error bar per bar that has one, inside the axis range', () => {
    const svg = groupedBarChart({
      title: 't',
      yLabel: 'y',
      groups: ['a', 'b'],
      series: [
        {
          name: 's',
          values: [50, null],
          errors: [
            { lo: 40, hi: 112 },
            { lo: 1, hi: 2 },
          ],
        },
      ],
    });
    // The bar with no value gets no error bar; the axis grows to the error bar's top.
    expect(svg.match(/class="error-bar"/g)?.length).toBe(1);
    expect(svg).toContain('>150<');
  });
  it('line charts draw bands behind lines and layer overlapping lines', () => {
    const svg = lineChart({
      title: 't',
      xLabel: 'x',
      yLabel: 'y',
      layered: true,
      series: [
        { name: 'a', x: [0, 1, 2], y: [1, 2, 3], band: { lo: [0, 1, 2], hi: [2, 3, 4] } },
        { name: 'b', x: [0, 1, 2], y: [1, 2, 3] },
      ],
    });
    expect(svg.indexOf('series-band')).toBeLessThan(svg.indexOf('series-line'));
    const widths = [...svg.matchAll(/class="series-line"[^>]*stroke-width="([\d.]+)"/g)].map((m) =>
      Number(m[1]),
    );
    // Same points: the first line is wider, so it still shows around the second.
    expect(widths[0]).toBeGreaterThan(widths[1]);
  });
});
