/**
 * A URL's credentials out of anything printed or written: `rediss://:PASSWORD@host:6380` →
 * `rediss://***@host:6380`. Works on any text (an error message quoting a URL, a malformed URL
 * that no parser accepts) and on passwords holding '@' or '/' (up to the last '@' of the token).
 */
export function redactUrl(text: string): string {
  return text.replace(/\/\/[^\s'"`]*@/g, '//***@');
}
