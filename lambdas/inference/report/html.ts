/** HTML escaping and number formatting for the report page. */

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escape text for element content and quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch]!);
}

/** A relative URL from a relative path: each segment percent-encoded, slashes kept. */
export function relativeUrl(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

/** Fixed decimals, thousands separated; an en dash for missing values. */
export function formatNumber(value: number | null | undefined, digits = 0): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '\u2013';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function formatPercent(share: number | null | undefined, digits = 1): string {
  if (share === null || share === undefined || !Number.isFinite(share)) return '\u2013';
  return `${(share * 100).toFixed(digits)}%`;
}
