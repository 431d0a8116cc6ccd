/**
 * Browser-safe figure and table builders. The Node-only rasteriser lives in `./render.js`
 * (import it directly where PNG output is wanted).
 */
export {
  PALETTE,
  escapeXml,
  groupedBarChart,
  imageGallery,
  lineChart,
  seriesColour,
  textWidth,
  wrapText,
  cellDataUri,
} from './svg.js';
export type {
  BarSeries,
  GalleryCell,
  GalleryRow,
  GroupedBarChartOptions,
  ImageGalleryOptions,
  LineChartOptions,
  LineSeries,
} from './svg.js';
export {
  adler32,
  base64,
  crc32,
  divergingColour,
  encodeDivergingPng,
  encodeGreyPng,
  encodePng,
  pngDataUri,
  toDivergingRgbBytes,
  toGreyBytes,
  zlibStored,
} from './png-encode.js';
export type { PngColour } from './png-encode.js';
export { markdownTable } from './table.js';
export type { MarkdownTableOptions } from './table.js';
