import { describe, expect, it } from 'vitest';
import { redactUrl } from './redact-url.js';

describe('redactUrl', () => {
  it('masks the credentials of Redis URLs, alone or inside a message', () => {
    expect(redactUrl('rediss://:s3cret@host:6380')).toBe('rediss://***@host:6380');
    expect(redactUrl('redis://user:pw@10.0.0.1:6379/2')).toBe('redis://***@10.0.0.1:6379/2');
    expect(redactUrl("--queue: 'rediss://:p@ss/w0rd@host:1' is not a URL")).toBe(
      "--queue: 'rediss://***@host:1' is not a URL",
    );
    expect(redactUrl('reproduce --queue rediss://:a@h:1 --out x@y')).toBe(
      'reproduce --queue rediss://***@h:1 --out x@y',
    );
  });

  it('leaves URLs without credentials alone', () => {
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(redactUrl('no url here')).toBe('no url here');
  });
});
