/**
 * Lifts the text of an XML feed's long elements (descriptions, contents, summaries) out of the
 * document before rss-parser reads it; parse.ts puts it back into rss-parser's output afterwards.
 *
 * Why: those texts are most of a feed's bytes (24 of the bench's 31 KB, 263 of a 272 KB dev.to
 * feed), and sax, under rss-parser and xml2js, reads them one character at a time, building CDATA
 * sections by string concatenation. Found with `indexOf` and cut out with `slice`, they cost a
 * fraction of that.
 *
 * Only a content that xml2js would hand over unchanged is lifted: text and CDATA sections with
 * nothing else inside, escaped with the five XML entities and numeric references only (named HTML
 * entities and references sax refuses are left to sax, which has its own rules for them), and not
 * blank. Anything else is left where it is, and a document with a DOCTYPE (which can declare
 * entities) or a construct left open is not lifted at all, so the result is the same as without
 * lifting.
 */

/** The elements whose text is lifted: where feeds put HTML. */
export const LIFTED_ELEMENTS: readonly string[] = ['description', 'content:encoded', 'summary', 'content'];

/** A document with its long texts lifted out, and the way to put them back. */
export interface LiftedDocument {
  /** The document, each lifted content replaced by a token of its own. */
  readonly xml: string;
  /** The text a token stands for; any other string as it is. */
  textOf(value: string): string;
}

/** Starts and ends a token: private-use characters, so that a token reads as plain text. */
const TOKEN_START = '\uE000';
const TOKEN_END = '\uE001';
const TOKEN_START_CODE = 0xe000;

/**
 * The document with the text of every liftable {@link LIFTED_ELEMENTS} element replaced by a
 * token, or null when nothing was lifted (the document is then parsed as it is).
 */
export function liftTexts(xml: string): LiftedDocument | null {
  // Unguessable per call, so that no text of the feed can pose as a token.
  const prefix = `${TOKEN_START}${Math.random().toString(36).slice(2, 10)}:`;
  const texts = new Map<string, string>();
  const parts: string[] = [];
  let copiedUpTo = 0;
  let position = 0;
  for (;;) {
    const open = xml.indexOf('<', position);
    if (open < 0) break;
    const next = xml.charCodeAt(open + 1);
    if (next === EXCLAMATION) {
      const end = endOfDeclaration(xml, open);
      if (end < 0) return null;
      position = end;
      continue;
    }
    if (next === QUESTION) {
      const end = xml.indexOf('?>', open + 2);
      if (end < 0) return null;
      position = end + 2;
      continue;
    }
    if (next === SLASH) {
      position = open + 2;
      continue;
    }
    const tagEnd = endOfStartTag(xml, open + 1);
    if (tagEnd < 0) return null;
    position = tagEnd + 1;
    const name = liftedNameAt(xml, open + 1);
    if (name === null || xml.charCodeAt(tagEnd - 1) === SLASH) continue;
    const content = readContent(xml, tagEnd + 1, name);
    if (content === null) continue;
    const token = `${prefix}${texts.size}${TOKEN_END}`;
    texts.set(token, content.text);
    parts.push(xml.slice(copiedUpTo, tagEnd + 1), token);
    copiedUpTo = content.end;
    position = content.end;
  }
  if (texts.size === 0) return null;
  parts.push(xml.slice(copiedUpTo));
  return {
    xml: parts.join(''),
    textOf: (value) => (value.charCodeAt(0) === TOKEN_START_CODE ? (texts.get(value) ?? value) : value),
  };
}

const EXCLAMATION = 0x21;
const QUESTION = 0x3f;
const SLASH = 0x2f;
const GREATER = 0x3e;

/** The lifted names by their first character, longest first (`content:encoded` before `content`). */
const LIFTED_BY_FIRST_CODE: ReadonlyMap<number, readonly string[]> = new Map(
  [...new Set(LIFTED_ELEMENTS.map((name) => name.charCodeAt(0)))].map((code) => [
    code,
    LIFTED_ELEMENTS.filter((name) => name.charCodeAt(0) === code).sort((a, b) => b.length - a.length),
  ]),
);

/** The lifted element whose name starts at `index`, if any. */
function liftedNameAt(xml: string, index: number): string | null {
  for (const name of LIFTED_BY_FIRST_CODE.get(xml.charCodeAt(index)) ?? []) {
    if (!xml.startsWith(name, index)) continue;
    const after = xml.charCodeAt(index + name.length);
    if (after === GREATER || after === SLASH || after <= 0x20) return name;
  }
  return null;
}

/**
 * Past a `<!…` construct: a comment, a CDATA section or another declaration; -1 when it is left
 * open, or is a DOCTYPE, which may declare entities that only sax knows how to refuse.
 */
function endOfDeclaration(xml: string, open: number): number {
  if (xml.startsWith('<!--', open)) {
    const end = xml.indexOf('-->', open + 4);
    return end < 0 ? -1 : end + 3;
  }
  if (isCdataAt(xml, open)) {
    const end = xml.indexOf(']]>', open + 9);
    return end < 0 ? -1 : end + 3;
  }
  if (xml.slice(open + 2, open + 9).toUpperCase() === 'DOCTYPE') return -1;
  const end = xml.indexOf('>', open + 2);
  return end < 0 ? -1 : end + 1;
}

/** Whether a CDATA section starts at `index` (sax reads the keyword in any case). */
function isCdataAt(xml: string, index: number): boolean {
  return xml.startsWith('<![CDATA[', index) || xml.slice(index, index + 9).toUpperCase() === '<![CDATA[';
}

/** A start tag's rest after `<`, up to its `>`; quoted values are skipped whole, as sax allows `<` and `>` in them. */
const START_TAG_REST = /[^"'>]*(?:(?:"[^"]*"|'[^']*')[^"'>]*)*>/y;

/** The index of the `>` closing a start tag; -1 when it is left open. */
function endOfStartTag(xml: string, from: number): number {
  START_TAG_REST.lastIndex = from;
  return START_TAG_REST.test(xml) ? START_TAG_REST.lastIndex - 1 : -1;
}

/**
 * An element's text from `start` to its end tag, as sax and xml2js would hand it over, with the
 * index of the end tag; null when the content is not liftable.
 */
function readContent(xml: string, start: number, name: string): { text: string; end: number } | null {
  const pieces: string[] = [];
  let position = start;
  for (;;) {
    const open = xml.indexOf('<', position);
    if (open < 0) return null;
    const escaped = decodeEscaped(xml.slice(position, open));
    if (escaped === null) return null;
    if (escaped !== '') pieces.push(escaped);
    if (isCdataAt(xml, open)) {
      const end = xml.indexOf(']]>', open + 9);
      if (end < 0) return null;
      pieces.push(xml.slice(open + 9, end));
      position = end + 3;
      continue;
    }
    if (xml.charCodeAt(open + 1) !== SLASH || !xml.startsWith(name, open + 2)) return null;
    if (closingTagEnd(xml, open + 2 + name.length) < 0) return null;
    const text = pieces.length === 1 ? (pieces[0] ?? '') : pieces.join('');
    // xml2js reads a blank element as empty but keeps a blank CDATA section: left to it.
    if (!/\S/.test(text)) return null;
    return { text, end: open };
  }
}

/** The index past `>` when `from` starts optional whitespace then `>`, else -1. */
function closingTagEnd(xml: string, from: number): number {
  let index = from;
  while (index < xml.length && xml.charCodeAt(index) <= 0x20) index++;
  return xml.charCodeAt(index) === GREATER ? index + 1 : -1;
}

/** An `&` that does not start one of the usual escapes. */
const UNUSUAL_REFERENCE = /&(?!(?:lt|gt|amp|quot|apos|#39);)/;
const REFERENCE = /&([^&;]*);?/g;
const NAMED: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/**
 * Escaped text decoded as sax decodes it, or null when it holds a reference sax reads by rules of
 * its own (a named HTML entity, a reference it refuses): such a content is left to sax.
 */
function decodeEscaped(text: string): string | null {
  if (!text.includes('&')) return text;
  // The usual escapes by native passes; `&amp;` last, so that `&amp;lt;` stays `&lt;`.
  if (!UNUSUAL_REFERENCE.test(text)) {
    return text
      .replaceAll('&lt;', '<')
      .replaceAll('&gt;', '>')
      .replaceAll('&quot;', '"')
      .replaceAll('&#39;', "'")
      .replaceAll('&apos;', "'")
      .replaceAll('&amp;', '&');
  }
  let refused = false;
  const decoded = text.replace(REFERENCE, (whole: string, reference: string) => {
    const value = whole.endsWith(';') ? referenceValue(reference) : null;
    if (value === null) refused = true;
    return value ?? whole;
  });
  return refused ? null : decoded;
}

/** What sax makes of `&reference;`, for the references whose reading is certain; null otherwise. */
function referenceValue(reference: string): string | null {
  const lower = reference.toLowerCase();
  const named = Object.hasOwn(NAMED, lower) ? NAMED[lower] : undefined;
  if (named !== undefined) return named;
  const hex = /^#x([0-9a-f]+)$/.exec(lower)?.[1];
  const decimal = /^#([0-9]+)$/.exec(lower)?.[1];
  const digits = hex ?? decimal;
  if (digits === undefined) return null;
  const radix = hex === undefined ? 10 : 16;
  const code = parseInt(digits, radix);
  // sax refuses a reference whose digits do not read back the same, leading zeros aside.
  if (code.toString(radix) !== (digits.replace(/^0+/, '') || '0')) return null;
  return isXmlChar(code) ? String.fromCodePoint(code) : null;
}

/** Whether a code point is an XML `Char`, as sax checks character references. */
function isXmlChar(code: number): boolean {
  return (
    code === 0x9 ||
    code === 0xa ||
    code === 0xd ||
    (code >= 0x20 && code <= 0xd7ff) ||
    (code >= 0xe000 && code <= 0xfffd) ||
    (code >= 0x10000 && code <= 0x10ffff)
  );
}
