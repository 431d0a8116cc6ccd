/** Browser-safe Markdown table formatting. */

export interface MarkdownTableOptions {
  /** Decimals for non-integer numbers (default 3). Integers are printed as they are. */
  digits?: number;
}

type Cell = string | number | null | undefined;

function formatCell(v: Cell, digits: number): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : v > 0 ? '∞' : '−∞';
    return Number.isInteger(v) ? String(v) : v.toFixed(digits);
  }
  // Keep the table intact: escape pipes, fold newlines.
  return v.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** A string that reads as a number (e.g. "92.5 ± 0.4 [91.9, 93.0]", "12 s"): right-aligned too. */
const NUMBER_LIKE = /^[−+-]?\d[\d.,]*(%|\s|$)/;

function displayWidth(s: string): number {
  return [...s].length;
}

/**
 * A GitHub-flavoured Markdown table. Columns whose non-null cells are all numbers (or strings
 * that start as one) are right-aligned; null / undefined cells print as '—'. Cells are padded so the source reads well.
 */
export function markdownTable(
  headers: string[],
  rows: Cell[][],
  opts: MarkdownTableOptions = {},
): string {
  const digits = opts.digits ?? 3;
  const nCols = Math.max(headers.length, ...rows.map((r) => r.length));
  const numeric: boolean[] = [];
  for (let c = 0; c < nCols; c++) {
    const present = rows
      .map((r) => r[c])
      .filter((v) => v !== null && v !== undefined && v !== '—' && v !== 'n/a');
    numeric.push(
      present.length > 0 &&
        present.every((v) => typeof v === 'number' || NUMBER_LIKE.test(String(v))),
    );
  }
  const head = Array.from({ length: nCols }, (_, c) => formatCell(headers[c] ?? '', digits));
  const body = rows.map((r) => Array.from({ length: nCols }, (_, c) => formatCell(r[c], digits)));
  const widths = head.map((h, c) =>
    Math.max(3, displayWidth(h), ...body.map((r) => displayWidth(r[c]!))),
  );
  const pad = (s: string, c: number): string => {
    const fill = ' '.repeat(widths[c]! - displayWidth(s));
    return numeric[c] ? fill + s : s + fill;
  };
  const line = (cells: string[]): string => `| ${cells.map(pad).join(' | ')} |`;
  const sep = `| ${widths.map((w, c) => (numeric[c] ? '-'.repeat(w - 1) + ':' : '-'.repeat(w))).join(' | ')} |`;
  return [line(head), sep, ...body.map(line)].join('\n') + '\n';
}
