/**
 * Node-only rasterisation of the SVG figures (via @resvg/resvg-js) and atomic figure writing.
 */
import { existsSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { mkdirp } from '../util/atomic.js';

export interface SvgToPngOptions {
  /** Output pixels per SVG user unit (default 2, for crisp figures). */
  scale?: number;
  /** Extra font files (.ttf/.otf) to load besides the system fonts. */
  fontFiles?: string[];
}

/** Font files tried, in order, so that text renders even where fontconfig knows nothing. */
const KNOWN_FONTS = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf',
  '/usr/share/fonts/TTF/DejaVuSans.ttf',
  '/usr/share/fonts/TTF/DejaVuSans-Bold.ttf',
  '/usr/share/fonts/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf',
  '/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf',
  '/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf',
  '/Library/Fonts/Arial.ttf',
  'C:\\Windows\\Fonts\\arial.ttf',
];

type ResvgModule = typeof import('@resvg/resvg-js');
let resvgModule: Promise<ResvgModule> | undefined;

function loadResvg(): Promise<ResvgModule> {
  resvgModule ??= import('@resvg/resvg-js').catch((err: unknown) => {
    resvgModule = undefined;
    throw new Error(
      `svgToPng: cannot load @resvg/resvg-js (run npm install): ${(err as Error).message}`,
    );
  });
  return resvgModule;
}

/** Rasterises an SVG document to PNG bytes. Output size = SVG width/height × scale. */
export async function svgToPng(svg: string, opts: SvgToPngOptions = {}): Promise<Uint8Array> {
  const scale = opts.scale ?? 2;
  if (!(scale > 0) || !Number.isFinite(scale)) throw new RangeError(`svgToPng: bad scale ${scale}`);
  const { Resvg } = await loadResvg();
  const fontFiles = [...KNOWN_FONTS.filter((f) => existsSync(f)), ...(opts.fontFiles ?? [])];
  const dejavu = fontFiles.some((f) => /DejaVuSans\.ttf$/i.test(f));
  const resvg = new Resvg(svg, {
    background: '#ffffff',
    fitTo: scale === 1 ? { mode: 'original' } : { mode: 'zoom', value: scale },
    font: {
      // Scanning every system font is slow; only do it when no known font file was found.
      loadSystemFonts: !dejavu,
      fontFiles,
      ...(dejavu ? { defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' } : {}),
    },
    imageRendering: 1, // optimizeSpeed: nearest-neighbour for magnified pixel images
    shapeRendering: 2, // geometricPrecision (anti-aliased)
    textRendering: 1, // optimizeLegibility
  });
  const png = resvg.render().asPng();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

async function writeAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * Writes `<basePath>.svg` and `<basePath>.png` (each atomically: temp file, then rename),
 * creating the directory if needed. Returns the two paths.
 */
export async function writeFigure(
  basePath: string,
  svg: string,
  opts: SvgToPngOptions = {},
): Promise<{ svg: string; png: string }> {
  const svgPath = `${basePath}.svg`;
  const pngPath = `${basePath}.png`;
  mkdirp(dirname(svgPath));
  const png = await svgToPng(svg, opts);
  await writeAtomic(svgPath, svg);
  await writeAtomic(pngPath, png);
  return { svg: svgPath, png: pngPath };
}
