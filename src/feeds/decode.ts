import { TextDecoder } from 'node:util';

/**
 * Characters of windows-1252 at bytes 0x80–0x9F (the rest of it is Latin-1). Node 20's TextDecoder
 * reads these bytes as C1 control characters instead, losing curly quotes, dashes and the euro
 * sign, so that encoding is decoded here; bytes 0x81, 0x8D, 0x8F, 0x90 and 0x9D stay as they are,
 * as in the WHATWG Encoding Standard.
 */
const WINDOWS_1252_HIGH =
  '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f' +
  '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

/** How far into the body the XML declaration may be looked for. */
const PROLOG_WINDOW = 1024;

/**
 * Turns a feed body into text. The first rule that applies wins:
 * 1. a byte order mark (UTF-8, UTF-16LE, UTF-16BE);
 * 2. bytes that are valid UTF-8 are read as UTF-8, whatever the server claims — servers label
 *    UTF-8 feeds as ISO-8859-1 far more often than they send Latin-1 text that happens to be
 *    valid UTF-8 (which needs unusual byte pairs such as "Ã©"), so this guess is right more often;
 * 3. the `charset` of the Content-Type header;
 * 4. the `encoding` of the XML declaration;
 * 5. windows-1252, what browsers read unlabelled Latin-1 text as.
 * A charset label `TextDecoder` does not know falls through to the next rule. The BOM is removed.
 */
export function decodeFeedBody(body: Uint8Array, contentType: string | null): string {
  const bom = byteOrderMark(body);
  if (bom) return new TextDecoder(bom.encoding).decode(body.subarray(bom.length));

  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body);
  } catch {
    // not UTF-8: the labels decide
  }

  for (const label of [charsetFromContentType(contentType), encodingFromProlog(body)]) {
    const decode = label ? decoderFor(label) : null;
    if (decode) return decode(body);
  }
  return decodeWindows1252(body);
}

function byteOrderMark(body: Uint8Array): { encoding: string; length: number } | null {
  const [b0, b1, b2] = body;
  if (b0 === 0xef && b1 === 0xbb && b2 === 0xbf) return { encoding: 'utf-8', length: 3 };
  if (b0 === 0xff && b1 === 0xfe) return { encoding: 'utf-16le', length: 2 };
  if (b0 === 0xfe && b1 === 0xff) return { encoding: 'utf-16be', length: 2 };
  return null;
}

function charsetFromContentType(contentType: string | null): string | null {
  const match = /;\s*charset\s*=\s*(?:"([^"]*)"|([^;\s]*))/i.exec(contentType ?? '');
  return match?.[1] ?? match?.[2] ?? null;
}

function encodingFromProlog(body: Uint8Array): string | null {
  // The declaration is ASCII in every encoding this rule can apply to, so latin1 reads it exactly.
  const head = Buffer.from(body.buffer, body.byteOffset, Math.min(body.byteLength, PROLOG_WINDOW)).toString(
    'latin1',
  );
  const match = /^\s*<\?xml\b[^>]*?\sencoding\s*=\s*(["'])([A-Za-z0-9._:-]+)\1/.exec(head);
  const label = match?.[2] ?? null;
  // A declaration we could read as ASCII proves the body is not UTF-16, whatever it says.
  return label && /^utf-?16/i.test(label) ? null : label;
}

function decoderFor(label: string): ((body: Uint8Array) => string) | null {
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(label.trim());
  } catch {
    return null;
  }
  // Labels such as iso-8859-1, latin1 and us-ascii all mean windows-1252 (WHATWG).
  if (decoder.encoding === 'windows-1252') return decodeWindows1252;
  return (body) => decoder.decode(body);
}

function decodeWindows1252(body: Uint8Array): string {
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength)
    .toString('latin1')
    .replace(/[\x80-\x9f]/g, (c) => WINDOWS_1252_HIGH[c.charCodeAt(0) - 0x80] ?? c);
}
