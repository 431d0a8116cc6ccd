/**
 * A tiny, dependency-free PNG encoder (browser-safe: no Node imports, no zlib).
 *
 * The image data is wrapped in a zlib stream made of *stored* (uncompressed) deflate blocks, so
 * no compressor is needed; the files are larger than they could be, but the images we embed
 * (28×28 digits and the like) are tiny anyway.
 */

/** How the sample bytes handed to {@link encodePng} are laid out. */
export type PngColour = 'grey' | 'rgb' | 'rgba';

const CHANNELS: Record<PngColour, number> = { grey: 1, rgb: 3, rgba: 4 };
/** PNG colour-type codes (IHDR byte 9). */
const COLOUR_TYPE: Record<PngColour, number> = { grey: 0, rgb: 2, rgba: 6 };

export const PNG_SIGNATURE: readonly number[] = [137, 80, 78, 71, 13, 10, 26, 10];

let crcTable: Uint32Array | undefined;

function getCrcTable(): Uint32Array {
  if (crcTable) return crcTable;
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  crcTable = t;
  return t;
}

/** CRC-32 (ISO 3309 / PNG) of `bytes[start, end)`. */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  const t = getCrcTable();
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Adler-32 checksum (the zlib trailer) of `bytes`. */
export function adler32(bytes: Uint8Array): number {
  let a = 1;
  let b = 0;
  const MOD = 65521;
  // 5552 is the largest n such that the sums cannot overflow 2^32 before reduction.
  for (let i = 0; i < bytes.length;) {
    const end = Math.min(i + 5552, bytes.length);
    for (; i < end; i++) {
      a += bytes[i]!;
      b += a;
    }
    a %= MOD;
    b %= MOD;
  }
  return ((b << 16) | a) >>> 0;
}

/** A zlib stream (RFC 1950) holding `data` in stored (uncompressed) deflate blocks. */
export function zlibStored(data: Uint8Array): Uint8Array {
  const MAX = 65535;
  const nBlocks = Math.max(1, Math.ceil(data.length / MAX));
  const out = new Uint8Array(2 + nBlocks * 5 + data.length + 4);
  let p = 0;
  out[p++] = 0x78; // CMF: deflate, 32K window
  out[p++] = 0x01; // FLG: no dict, fastest; (0x78 * 256 + 0x01) % 31 === 0
  for (let b = 0; b < nBlocks; b++) {
    const start = b * MAX;
    const len = Math.min(MAX, data.length - start);
    out[p++] = b === nBlocks - 1 ? 1 : 0; // BFINAL, BTYPE = 00 (stored)
    out[p++] = len & 0xff;
    out[p++] = len >>> 8;
    out[p++] = ~len & 0xff;
    out[p++] = (~len >>> 8) & 0xff;
    out.set(data.subarray(start, start + len), p);
    p += len;
  }
  const ad = adler32(data);
  out[p++] = ad >>> 24;
  out[p++] = (ad >>> 16) & 0xff;
  out[p++] = (ad >>> 8) & 0xff;
  out[p++] = ad & 0xff;
  return out;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out, 4, 8 + data.length));
  return out;
}

/**
 * Encodes 8-bit samples as a PNG file.
 * @param samples row-major, `width * height * channels` bytes (1 for grey, 3 rgb, 4 rgba)
 */
export function encodePng(
  samples: Uint8Array,
  width: number,
  height: number,
  colour: PngColour = 'grey',
): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`encodePng: bad size ${width}x${height}`);
  }
  const ch = CHANNELS[colour];
  const stride = width * ch;
  if (samples.length !== stride * height) {
    throw new RangeError(
      `encodePng: expected ${stride * height} samples for ${width}x${height} ${colour}, got ${samples.length}`,
    );
  }
  // Each scanline is prefixed by its filter type (0 = None).
  const raw = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0;
    raw.set(samples.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  const ihdr = new Uint8Array(13);
  const hv = new DataView(ihdr.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = COLOUR_TYPE[colour];
  ihdr[10] = 0; // compression: deflate
  ihdr[11] = 0; // filter method
  ihdr[12] = 0; // no interlace
  const parts = [
    Uint8Array.from(PNG_SIGNATURE),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlibStored(raw)),
    chunk('IEND', new Uint8Array(0)),
  ];
  const total = parts.reduce((s, p) => s + p.length, 0);
  const png = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    png.set(p, off);
    off += p.length;
  }
  return png;
}

/** Value range of finite entries; [0, 0] when there are none. */
function finiteRange(pixels: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < pixels.length; i++) {
    const v = pixels[i]!;
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : [0, 0];
}

/**
 * Maps real-valued pixels to 8-bit grey. Default range: [0, 1] when the data fit in it (the usual
 * normalised image), otherwise the data's own [min, max]. Values are clamped; NaN becomes 0.
 */
export function toGreyBytes(pixels: ArrayLike<number>, range?: [number, number]): Uint8Array {
  let [lo, hi] = range ?? finiteRange(pixels);
  if (!range && lo >= 0 && hi <= 1) [lo, hi] = [0, 1];
  const span = hi - lo;
  const out = new Uint8Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) {
    const v = pixels[i]!;
    if (!Number.isFinite(v)) {
      out[i] = v === Infinity ? 255 : 0;
      continue;
    }
    const t = span > 0 ? (v - lo) / span : 0;
    out[i] = Math.round(Math.min(1, Math.max(0, t)) * 255);
  }
  return out;
}

/** Blue-white-red stops (ColorBrewer RdBu, reversed so that negative = blue), t in [-1, 1]. */
const DIVERGING: readonly [number, readonly [number, number, number]][] = [
  [-1, [33, 102, 172]],
  [-0.5, [146, 197, 222]],
  [0, [247, 247, 247]],
  [0.5, [244, 165, 130]],
  [1, [178, 24, 43]],
];

/** RGB of the diverging map at t in [-1, 1] (clamped). */
export function divergingColour(t: number): [number, number, number] {
  const x = Number.isFinite(t) ? Math.min(1, Math.max(-1, t)) : 0;
  for (let i = 1; i < DIVERGING.length; i++) {
    const [t1, c1] = DIVERGING[i]!;
    if (x <= t1) {
      const [t0, c0] = DIVERGING[i - 1]!;
      const f = (x - t0) / (t1 - t0);
      return [0, 1, 2].map((k) => Math.round(c0[k]! + f * (c1[k]! - c0[k]!))) as [
        number,
        number,
        number,
      ];
    }
  }
  return [...DIVERGING[DIVERGING.length - 1]![1]] as [number, number, number];
}

/**
 * Maps signed pixels to RGB bytes with the blue-white-red map over [-m, m], where `m` defaults to
 * max |value| (all white when every value is 0).
 */
export function toDivergingRgbBytes(pixels: ArrayLike<number>, m?: number): Uint8Array {
  let mm = m;
  if (mm === undefined) {
    const [lo, hi] = finiteRange(pixels);
    mm = Math.max(Math.abs(lo), Math.abs(hi));
  }
  const out = new Uint8Array(pixels.length * 3);
  for (let i = 0; i < pixels.length; i++) {
    const v = pixels[i]!;
    const [r, g, b] = divergingColour(mm > 0 ? v / mm : 0);
    out[3 * i] = r;
    out[3 * i + 1] = g;
    out[3 * i + 2] = b;
  }
  return out;
}

/** Greyscale PNG of real-valued pixels (see {@link toGreyBytes} for the range). */
export function encodeGreyPng(
  pixels: ArrayLike<number>,
  width: number,
  height: number,
  range?: [number, number],
): Uint8Array {
  return encodePng(toGreyBytes(pixels, range), width, height, 'grey');
}

/** RGB PNG of signed pixels with the blue-white-red map over [-m, m] (m = max |value|). */
export function encodeDivergingPng(
  pixels: ArrayLike<number>,
  width: number,
  height: number,
  m?: number,
): Uint8Array {
  return encodePng(toDivergingRgbBytes(pixels, m), width, height, 'rgb');
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Standard base64 (with padding), without Buffer or btoa. */
export function base64(bytes: Uint8Array): string {
  const parts: string[] = [];
  let line = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i]!;
    const b = i + 1 < bytes.length ? bytes[i + 1]! : 0;
    const c = i + 2 < bytes.length ? bytes[i + 2]! : 0;
    const n = (a << 16) | (b << 8) | c;
    line +=
      B64[(n >>> 18) & 63]! +
      B64[(n >>> 12) & 63]! +
      (i + 1 < bytes.length ? B64[(n >>> 6) & 63]! : '=') +
      (i + 2 < bytes.length ? B64[n & 63]! : '=');
    if (line.length >= 4096) {
      parts.push(line);
      line = '';
    }
  }
  parts.push(line);
  return parts.join('');
}

/** `data:image/png;base64,...` URI of PNG bytes. */
export function pngDataUri(png: Uint8Array): string {
  return `data:image/png;base64,${base64(png)}`;
}
