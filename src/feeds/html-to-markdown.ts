/**
 * HTML from feeds → Discord markdown, built on html-to-text (htmlparser2 copes with the malformed
 * HTML feeds carry). Text taken from the HTML is escaped so it cannot ping, hide or fake anything;
 * the markup Herald generates is not. Inline markup is first written as private-use sentinels and
 * turned into `**`/`*` at the end, because only the finished text shows where whitespace landed.
 */
import { compile } from 'html-to-text';
import type { DomNode, FormatCallback, HtmlToTextOptions, SelectorDefinition } from 'html-to-text';
import { Parser, type Handler } from 'htmlparser2';

/** Options for {@link htmlToDiscordMarkdown}. */
export interface HtmlToMarkdownOptions {
  /** Absolute URL that relative links resolve against, or null to drop relative links. */
  baseUrl: string | null;
}

type InlineKind = 'bold' | 'italic' | 'strike' | 'underline';

const SENTINELS: Readonly<Record<InlineKind, { open: string; close: string; markup: string }>> = {
  bold: { open: '\uE000', close: '\uE001', markup: '**' },
  italic: { open: '\uE002', close: '\uE003', markup: '*' },
  strike: { open: '\uE004', close: '\uE005', markup: '~~' },
  underline: { open: '\uE006', close: '\uE007', markup: '__' },
};
type BlockTextBuilder = Parameters<FormatCallback>[2];

const SENTINEL_CHARS = /[\uE000-\uE00F]/g;
const ZWSP = '\u200b';

/** Per-conversion state, passed to formatters as html-to-text "metadata" (no module-level state). */
interface ConversionState {
  baseUrl: string | null;
  open: Record<InlineKind, number>;
  quoteDepth: number;
}

/**
 * Converts a feed item's HTML to Discord markdown: masked links with absolute URLs, bold/italic,
 * code, lists, quotes, headings as bold lines; images, tables, scripts and embeds dropped; text
 * escaped so it cannot mention anyone, open a spoiler or start a heading.
 */
export function htmlToDiscordMarkdown(html: string, options: HtmlToMarkdownOptions): string {
  if (!html.trim()) return '';
  const raw =
    convertSimpleHtml(html, options.baseUrl) ??
    runConverter(markdownConverter, html, newState(options.baseUrl));
  return tidy(resolveInlineMarkup(raw));
}

/**
 * Escapes plain text (a title, an author, a JSON Feed summary) for Discord: neutralizes
 * `@everyone`/`@here` and user, role, channel and command mentions, and escapes markdown
 * characters and line-start syntax (`#`, `-#`, `>`, list markers) so the text shows as written.
 */
export function escapeDiscordText(text: string): string {
  return text
    .replace(SENTINEL_CHARS, '')
    .split(/(\s+)/)
    .map((part, i) => (i % 2 === 1 ? part : escapeWord(part)))
    .join('');
}

/** Plain text of an HTML fragment (tags stripped, entities decoded, whitespace collapsed to single spaces). */
export function htmlToPlainText(html: string): string {
  if (!/[<&]/.test(html)) return collapseWhitespace(html);
  return collapseWhitespace(runConverter(plainTextConverter, html, newState(null)));
}

/** Plain text to Discord markdown: paragraphs kept (at most one blank line), everything escaped. */
export function plainTextToDiscordMarkdown(text: string): string {
  const normalized = text
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map((line) => line.replace(/[^\S\n]+/g, ' ').trim())
    .join('\n');
  return tidy(escapeDiscordText(normalized));
}

/**
 * The absolute http(s) URL of the first real picture in an HTML fragment (`src`, or `data-src`
 * for lazy-loaded images), skipping `data:` URIs and 1×1 tracking pixels; or null.
 */
export function firstImageUrl(html: string, baseUrl: string | null): string | null {
  // Parsing a whole article to find one tag is most of the cost of normalizing a feed: parse
  // only the <img> tags themselves, with the parser html-to-text uses (it decodes attributes).
  for (const match of html.matchAll(/<img\b[^>]*>/gi)) {
    const url = imageOfTag(match[0], baseUrl);
    if (url) return url;
  }
  return null;
}

/** The picture an `<img>` tag shows: skipping 1×1 and 0×0 tracking pixels, `src` then lazy-loading attributes. */
function imageOfTag(tag: string, baseUrl: string | null): string | null {
  let found: string | null = null;
  const parser = new Parser(
    {
      onopentag(name, attribs) {
        if (name !== 'img' || found !== null) return;
        const { width, height } = attribs;
        if (width === '1' || height === '1' || width === '0' || height === '0') return;
        for (const attribute of ['src', 'data-src', 'data-original']) {
          const url = absoluteHttpUrl(attribs[attribute], baseUrl);
          if (url) {
            found = url;
            return;
          }
        }
      },
    },
    { decodeEntities: true },
  );
  parser.end(tag);
  return found;
}

/**
 * The start of an HTML fragment, at most `maxChars` long, cut before a tag so no tag or entity is
 * split; the converter closes whatever the cut leaves open.
 */
export function truncateHtml(html: string, maxChars: number): string {
  if (html.length <= maxChars) return html;
  const head = html.slice(0, maxChars);
  const lastTag = head.lastIndexOf('<');
  return lastTag > 0 ? head.slice(0, lastTag) : head.replace(/&[#\w]*$/, '');
}

const ABSOLUTE_HTTP_URL = /^https?:\/\//i;

/** Resolves `href` against `base` and returns it only when it is an http(s) URL. */
export function absoluteHttpUrl(href: string | null | undefined, base: string | null): string | null {
  if (typeof href !== 'string') return null;
  const trimmed = href.trim();
  if (!trimmed || /^data:/i.test(trimmed)) return null;
  let url: URL;
  try {
    // A base changes nothing for an address with a scheme and `//`, and parsing it costs as much again.
    url = base && !ABSOLUTE_HTTP_URL.test(trimmed) ? new URL(trimmed, base) : new URL(trimmed);
  } catch {
    try {
      url = new URL(trimmed);
    } catch {
      return null;
    }
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
}

// ---------------------------------------------------------------------------------------------
// Escaping

const URL_IN_TEXT = /\bhttps?:\/\/[^\s<>]+/gi;

/**
 * A word without any of these characters (and not starting with a digit) comes out of
 * {@link escapeWord} unchanged: no markdown character, mention, URL scheme or line-start syntax.
 * Most words of an article are like that, and testing once is far cheaper than five rewrites.
 */
const NEEDS_ESCAPING = /[\\*_~`|[\]<>@#+:-]|^\d/;

function escapeWord(word: string): string {
  if (!word || !NEEDS_ESCAPING.test(word)) return word;
  let out = '';
  let last = 0;
  // A bare URL is autolinked by Discord as is; backslashes inside it would break the link.
  for (const m of word.matchAll(URL_IN_TEXT)) {
    out += escapeCharacters(word.slice(last, m.index)) + neutralizeMentions(m[0]);
    last = m.index + m[0].length;
  }
  out += escapeCharacters(word.slice(last));
  // Line-start syntax only acts when followed by a space, i.e. when it is a word of its own;
  // escaping it wherever it stands is harmless and does not need to know the final layout.
  if (/^#+$/.test(word) || word === '-#' || word === '-' || word === '+') return `\\${out}`;
  if (/^\d+[.)]$/.test(word)) return `${out.slice(0, -1)}\\${out.slice(-1)}`;
  return out;
}

function escapeCharacters(text: string): string {
  return neutralizeMentions(text.replace(/[\\*_~`|[\]>]/g, '\\$&'));
}

/** `@everyone`/`@here` and `<@id>`, `<@&id>`, `<#id>`, `</cmd:id>`, custom emoji: a zero-width space breaks them. */
function neutralizeMentions(text: string): string {
  return text.replace(/@(everyone|here)/gi, `@${ZWSP}$1`).replace(/<(?=[@#/:]|a:)/g, `<${ZWSP}`);
}

/** Code is shown verbatim, so only pings and fence-breaking backtick runs are defused. */
function neutralizeCode(text: string): string {
  return neutralizeMentions(text.replace(SENTINEL_CHARS, ''));
}

// ---------------------------------------------------------------------------------------------
// Post-processing

/** Per kind of emphasis: its sentinels, its markup, and the two patterns resolveInlineMarkup applies (compiled once). */
const INLINE_PATTERNS = Object.values(SENTINELS).map(({ open, close, markup }) => ({
  open,
  close,
  markup,
  // An empty pair, with the spaces on either side of it.
  empty: new RegExp(`([^\\S\\n]?)${open}\\s*${close}([^\\S\\n]?)`, 'g'),
  pair: new RegExp(`${open}(\\s*)([^${open}${close}]*?)(\\s*)${close}`, 'g'),
}));

function resolveInlineMarkup(text: string): string {
  let out = text;
  for (const { open, close, markup, empty, pair } of INLINE_PATTERNS) {
    // Most text has no emphasis of a given kind; the three passes below would find nothing.
    if (!out.includes(open)) continue;
    out = out.replaceAll(close + open, '');
    // An empty pair between two spaces (`a <b></b> b`) must not leave a double space behind.
    out = out.replace(empty, (_m, a: string, b: string) => a || b);
    out = out.replace(
      pair,
      (_m, lead: string, inner: string, trail: string, offset: number, whole: string) => {
        // Whitespace moved out of the markup must not indent a line (a heading's leading newline).
        const atLineStart = offset === 0 || whole[offset - 1] === '\n';
        const before = atLineStart ? '' : lead;
        // Markup spanning lines does not render in Discord; keep the text, drop the emphasis.
        if (!inner || inner.includes('\n')) return before + inner + trail;
        return `${before}${markup}${inner}${markup}${trail}`;
      },
    );
  }
  return out.replace(SENTINEL_CHARS, '');
}

function tidy(text: string): string {
  return text
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

function collapseWhitespace(text: string): string {
  // Most titles have only single spaces, and replacing each by itself costs several times more
  // than looking for something else first.
  return (UNCOLLAPSED_WHITESPACE.test(text) ? text.replace(/[\s\u00a0\u200b]+/g, ' ') : text).trim();
}

/** What `replace(/[\s\u00a0\u200b]+/g, ' ')` would change: a run of two or more, or any but a space. */
const UNCOLLAPSED_WHITESPACE = /[\s\u200b]{2,}|[^\S ]|\u200b/;

// ---------------------------------------------------------------------------------------------
// Fast path. Most feed HTML is paragraphs, line breaks, emphasis, links, inline code and
// pictures. For exactly that subset, one streaming pass over htmlparser2's events (the parser
// html-to-text itself builds its DOM with) replays what the converter above does with the same
// formatters and html-to-text's block and whitespace rules, at a fraction of the cost: no DOM,
// no selector matching. Anything else (lists, quotes, headings, pre, tables, comments, scripts,
// unknown elements) makes it give up and the full converter runs instead, so the output never
// depends on which path was taken.

const FAST_INLINE: Readonly<Record<string, InlineKind>> = {
  b: 'bold',
  strong: 'bold',
  i: 'italic',
  em: 'italic',
  cite: 'italic',
  s: 'strike',
  del: 'strike',
  strike: 'strike',
  u: 'underline',
  ins: 'underline',
};
const FAST_CODE = new Set(['code', 'kbd', 'samp', 'tt']);
/** Elements whose content html-to-text walks without adding anything of its own. */
const FAST_TRANSPARENT = new Set(['span']);
/** Far below html-to-text's maxDepth (200), past which it would cut the text. */
const FAST_MAX_DEPTH = 100;

/** html-to-text's whitespace (the `whitespaceCharacters` option above). */
const WS = ' \\t\\r\\n\\f\\u200b\\u00a0';
const WORD_RE = new RegExp(`[^${WS}]+`, 'g');
const LEADING_WS_RE = new RegExp(`^[${WS}]`);
const TRAILING_WS_RE = new RegExp(`[${WS}]$`);
const HAS_WORD_RE = new RegExp(`[^${WS}]`);

/** The fast path met something only the full converter handles. */
class UnsupportedHtmlError extends Error {
  constructor(what: string) {
    super(`the fast path does not handle ${what}`);
    this.name = 'UnsupportedHtmlError';
  }
}

/** html-to-text's InlineTextBuilder with wrapping off: lines of words joined by single spaces. */
class WordLines {
  lines: string[][] = [];
  words: string[] = [];
  stashedSpace = false;

  push(word: string): void {
    this.words.push(word);
  }

  concat(word: string): void {
    const last = this.words.pop();
    this.words.push(last === undefined ? word : last + word);
  }

  newLine(count = 1): void {
    this.lines.push(this.words);
    for (let i = 1; i < count; i++) this.lines.push([]);
    this.words = [];
  }

  isEmpty(): boolean {
    return this.lines.length === 0 && this.words.length === 0;
  }

  /** Like html-to-text's clear(): the stashed space survives. */
  clear(): void {
    this.lines = [];
    this.words = [];
  }

  toString(): string {
    return [...this.lines, this.words].map((words) => words.join(' ')).join('\n');
  }
}

/** html-to-text's BlockStackItem. */
class TextBlock {
  readonly text = new WordLines();
  rawText = '';
  stashedLineBreaks = 0;
  constructor(public leadingLineBreaks: number) {}

  content(): string {
    return this.text.isEmpty() ? this.rawText : this.rawText + this.text.toString();
  }

  /** html-to-text's addText(): a finished child block joins this one. */
  append(text: string, leadingLineBreaks: number, trailingLineBreaks: number): void {
    const parentText = this.content();
    const lineBreaks = Math.max(this.stashedLineBreaks, leadingLineBreaks);
    this.text.clear();
    if (parentText) {
      this.rawText = parentText + '\n'.repeat(lineBreaks) + text;
    } else {
      this.rawText = text;
      this.leadingLineBreaks = lineBreaks;
    }
    this.stashedLineBreaks = trailingLineBreaks;
  }

  /** html-to-text's addInline() with its whitespace processor's shrinkWrapAdd(). */
  addInline(text: string, transform: (word: string) => string = (word) => word): void {
    if (text.length === 0 || (this.stashedLineBreaks && !HAS_WORD_RE.test(text))) return;
    if (this.stashedLineBreaks) this.text.newLine(this.stashedLineBreaks);
    const stashed = this.text.stashedSpace;
    let first = true;
    WORD_RE.lastIndex = 0;
    for (let match = WORD_RE.exec(text); match !== null; match = WORD_RE.exec(text)) {
      const word = transform(match[0]);
      if (first && !stashed && !LEADING_WS_RE.test(text)) this.text.concat(word);
      else this.text.push(word);
      first = false;
    }
    this.text.stashedSpace = (stashed && first) || TRAILING_WS_RE.test(text);
    this.stashedLineBreaks = 0;
  }

  /** html-to-text's addLiteral() for a string without newlines (the sentinels). */
  addLiteral(text: string): void {
    if (this.stashedLineBreaks) this.text.newLine(this.stashedLineBreaks);
    if (this.text.stashedSpace) this.text.push(text);
    else this.text.concat(text);
    this.text.stashedSpace = false;
    this.stashedLineBreaks = 0;
  }
}

type FastEvent =
  | { type: 'open'; name: string; attribs: Record<string, string> }
  | { type: 'close' }
  | { type: 'text'; text: string };

/** What an open element needs when it closes. */
type Frame =
  | { kind: 'block' }
  | { kind: 'inline'; emphasis: InlineKind | null }
  | { kind: 'capture'; name: string; href: string | null; events: FastEvent[]; depth: number };

/**
 * The raw converter output (sentinels unresolved) for HTML within the fast path's subset, or null
 * for anything else.
 */
function convertSimpleHtml(html: string, baseUrl: string | null): string | null {
  const converter = new SimpleHtmlConverter(baseUrl);
  const parser = new Parser(converter, { decodeEntities: true });
  try {
    parser.end(html);
    converter.flushText();
  } catch (error) {
    if (error instanceof UnsupportedHtmlError) return null;
    throw error;
  }
  return converter.result();
}

type CaptureFrame = Extract<Frame, { kind: 'capture' }>;

/**
 * htmlparser2 callbacks that run the formatters above on the fly. A class rather than closures:
 * one is made per summary, and methods cost nothing to create.
 */
class SimpleHtmlConverter implements Partial<Handler> {
  private readonly root = new TextBlock(1);
  private readonly blocks: TextBlock[] = [this.root];
  private readonly frames: Frame[] = [];
  private readonly open: Record<InlineKind, number> = { bold: 0, italic: 0, strike: 0, underline: 0 };
  private pendingText = '';
  private capture: CaptureFrame | null = null;

  constructor(private readonly baseUrl: string | null) {}

  result(): string {
    return this.root.content();
  }

  ontext(text: string): void {
    // Consecutive text events make one text node in html-to-text's DOM, escaped word by word.
    this.pendingText += text;
  }

  onopentag(name: string, attribs: Record<string, string>): void {
    this.flushText();
    // Even inside a link: script and style are not text nodes in the DOM, and a <body>
    // anywhere makes html-to-text convert only the body.
    if (name === 'script' || name === 'style' || name === 'body') throw new UnsupportedHtmlError(`<${name}>`);
    this.dispatch({ type: 'open', name, attribs });
  }

  onclosetag(): void {
    this.flushText();
    this.dispatch({ type: 'close' });
  }

  oncomment(): void {
    throw new UnsupportedHtmlError('comments');
  }

  oncdatastart(): void {
    throw new UnsupportedHtmlError('CDATA');
  }

  onprocessinginstruction(): void {
    throw new UnsupportedHtmlError('processing instructions');
  }

  flushText(): void {
    if (!this.pendingText) return;
    const text = this.pendingText;
    this.pendingText = '';
    this.dispatch({ type: 'text', text });
  }

  private top(): TextBlock {
    return this.blocks[this.blocks.length - 1]!;
  }

  private dispatch(event: FastEvent): void {
    const capture = this.capture;
    if (capture) {
      if (event.type === 'open') capture.depth += 1;
      else if (event.type === 'close') {
        if (capture.depth === 0) {
          this.capture = null;
          this.closeElement();
          return;
        }
        capture.depth -= 1;
      }
      capture.events.push(event);
      return;
    }
    if (event.type === 'text') this.top().addInline(event.text, escapeWord);
    else if (event.type === 'open') this.openElement(event.name, event.attribs);
    else this.closeElement();
  }

  private openElement(name: string, attribs: Record<string, string>): void {
    const frames = this.frames;
    if (frames.length >= FAST_MAX_DEPTH) throw new UnsupportedHtmlError('deep nesting');
    if (name === 'p') {
      this.blocks.push(new TextBlock(2));
      frames.push(BLOCK_FRAME);
    } else if (name === 'br') {
      this.top().text.newLine();
      frames.push(PLAIN_FRAME);
    } else if (name === 'img' || FAST_TRANSPARENT.has(name)) {
      frames.push(PLAIN_FRAME);
    } else if (Object.hasOwn(FAST_INLINE, name)) {
      const kind = FAST_INLINE[name]!;
      // As inlineFormatter: nested emphasis of one kind adds nothing.
      if (this.open[kind] > 0) {
        frames.push(PLAIN_FRAME);
      } else {
        this.open[kind] += 1;
        this.top().addLiteral(SENTINELS[kind].open);
        frames.push(EMPHASIS_FRAMES[kind]);
      }
    } else if (name === 'a' || FAST_CODE.has(name)) {
      // Links and code are rendered from their whole text, so their content is collected first.
      const href = name === 'a' ? absoluteHttpUrl(attribs.href, this.baseUrl) : null;
      this.capture = { kind: 'capture', name, href, events: [], depth: 0 };
      frames.push(this.capture);
    } else {
      throw new UnsupportedHtmlError(`<${name}>`);
    }
  }

  private closeElement(): void {
    const frame = this.frames.pop();
    if (!frame) return;
    if (frame.kind === 'block') {
      const block = this.blocks.pop()!;
      this.top().append(block.content(), block.leadingLineBreaks, Math.max(block.stashedLineBreaks, 2));
    } else if (frame.kind === 'inline') {
      if (frame.emphasis === null) return;
      this.top().addLiteral(SENTINELS[frame.emphasis].close);
      this.open[frame.emphasis] -= 1;
    } else {
      this.finishCapture(frame);
    }
  }

  private finishCapture(frame: CaptureFrame): void {
    if (frame.name === 'a' && frame.href === null) {
      // As formatAnchor: a link that cannot be followed keeps its words, markup and all.
      for (const event of frame.events) this.dispatch(event);
      return;
    }
    const raw = capturedText(frame.events);
    const inline = frame.href !== null ? anchorInline(frame.href, raw) : inlineCode(raw);
    if (inline) this.top().addInline(inline);
  }
}

const BLOCK_FRAME: Frame = { kind: 'block' };
const PLAIN_FRAME: Frame = { kind: 'inline', emphasis: null };
const EMPHASIS_FRAMES: Readonly<Record<InlineKind, Frame>> = {
  bold: { kind: 'inline', emphasis: 'bold' },
  italic: { kind: 'inline', emphasis: 'italic' },
  strike: { kind: 'inline', emphasis: 'strike' },
  underline: { kind: 'inline', emphasis: 'underline' },
};

/** textContent() over collected events: text, and a newline for each `<br>`. */
function capturedText(events: readonly FastEvent[]): string {
  let out = '';
  for (const event of events) {
    if (event.type === 'text') out += event.text;
    else if (event.type === 'open' && event.name === 'br') out += '\n';
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// html-to-text formatters

function newState(baseUrl: string | null): ConversionState {
  return { baseUrl, open: { bold: 0, italic: 0, strike: 0, underline: 0 }, quoteDepth: 0 };
}

function stateOf(builder: BlockTextBuilder): ConversionState {
  return (builder as BlockTextBuilder & { metadata: ConversionState }).metadata;
}

type Converter = (html: string) => string;

function runConverter(converter: Converter, html: string, state: ConversionState): string {
  // The typings omit the metadata argument that html-to-text passes on to formatters.
  return (converter as (html: string, metadata: ConversionState) => string)(html, state);
}

function textContent(nodes: readonly DomNode[] | undefined): string {
  let out = '';
  for (const node of nodes ?? []) {
    if (node.type === 'text') out += node.data ?? '';
    else if (node.type === 'tag' && node.name !== 'img' && node.name !== 'br')
      out += textContent(node.children);
    else if (node.type === 'tag' && node.name === 'br') out += '\n';
  }
  return out;
}

function attribute(elem: DomNode, name: string): string | undefined {
  const attribs = elem.attribs as Record<string, string> | undefined;
  const value = attribs?.[name];
  return typeof value === 'string' ? value : undefined;
}

function inlineFormatter(kind: InlineKind): FormatCallback {
  return (elem, walk, builder) => {
    const state = stateOf(builder);
    // Nested emphasis of one kind (`<b>a <b>b</b></b>`) would close the outer one early.
    if (state.open[kind] > 0) {
      walk(elem.children, builder);
      return;
    }
    state.open[kind] += 1;
    builder.addLiteral(SENTINELS[kind].open);
    walk(elem.children, builder);
    builder.addLiteral(SENTINELS[kind].close);
    state.open[kind] -= 1;
  };
}

const formatHeading: FormatCallback = (elem, walk, builder) => {
  builder.openBlock({ leadingLineBreaks: 2 });
  inlineFormatter('bold')(elem, walk, builder, {});
  builder.closeBlock({ trailingLineBreaks: 2 });
};

const formatParagraph: FormatCallback = (elem, walk, builder) => {
  // Paragraphs inside list items would otherwise put a blank line between every item.
  const breaks = elem.parent?.name === 'li' ? 1 : 2;
  builder.openBlock({ leadingLineBreaks: breaks });
  walk(elem.children, builder);
  builder.closeBlock({ trailingLineBreaks: breaks });
};

const formatBlockquote: FormatCallback = (elem, walk, builder) => {
  const state = stateOf(builder);
  builder.openBlock({ leadingLineBreaks: 2 });
  state.quoteDepth += 1;
  walk(elem.children, builder);
  state.quoteDepth -= 1;
  // Discord has no nested quotes: only the outermost quote gets the prefix.
  const prefix = state.quoteDepth === 0;
  builder.closeBlock({
    trailingLineBreaks: 2,
    blockTransform: (text) =>
      prefix
        ? text
            .split('\n')
            .filter((line) => line.trim() !== '')
            .map((line) => `> ${line}`)
            .join('\n')
        : text,
  });
};

function listFormatter(ordered: boolean): FormatCallback {
  return (elem, walk, builder) => {
    const items = elem.children.filter((child) => child.type === 'tag' && child.name === 'li');
    if (items.length === 0) return;
    const nested = elem.parent?.name === 'li';
    let index = ordered ? Number.parseInt(attribute(elem, 'start') ?? '1', 10) : 0;
    if (!Number.isFinite(index)) index = 1;
    builder.openList({ leadingLineBreaks: nested ? 1 : 2, interRowLineBreaks: 1 });
    for (const item of items) {
      builder.openListItem({ prefix: ordered ? `${index++}. ` : '- ' });
      walk(item.children, builder);
      builder.closeListItem();
    }
    builder.closeList({ trailingLineBreaks: nested ? 1 : 2 });
  };
}

const formatInlineCode: FormatCallback = (elem, _walk, builder) => {
  const inline = inlineCode(textContent(elem.children));
  if (inline) builder.addInline(inline, { noWordTransform: true });
};

/** Inline code for the text of a `<code>` element, with the spaces around it kept; null when empty. */
function inlineCode(raw: string): string | null {
  const code = neutralizeCode(raw.replace(/\s+/g, ' ').trim());
  if (!code) return null;
  const fenced = code.includes('`')
    ? `\`\` ${code.replace(/`{2,}/g, (run) => run.split('').join(ZWSP))} \`\``
    : `\`${code}\``;
  const lead = /^\s/.test(raw) ? ' ' : '';
  const trail = /\s$/.test(raw) ? ' ' : '';
  return lead + fenced + trail;
}

const formatPre: FormatCallback = (elem, _walk, builder) => {
  const code = neutralizeCode(textContent(elem.children))
    .replace(/^\n+|\s+$/g, '')
    .replace(/```/g, `\`${ZWSP}\`\``);
  if (!code.trim()) return;
  const codeChild = elem.children.find((child) => child.type === 'tag' && child.name === 'code');
  const classes = `${attribute(elem, 'class') ?? ''} ${codeChild ? (attribute(codeChild, 'class') ?? '') : ''}`;
  const language = /(?:^|\s)(?:language|lang)-([\w+-]{1,20})(?:\s|$)/.exec(classes)?.[1] ?? '';
  builder.openBlock({ leadingLineBreaks: 2, isPre: true });
  builder.addLiteral(`\`\`\`${language}\n${code}\n\`\`\``);
  builder.closeBlock({ trailingLineBreaks: 2 });
};

const formatAnchor: FormatCallback = (elem, walk, builder) => {
  const href = absoluteHttpUrl(attribute(elem, 'href'), stateOf(builder).baseUrl);
  if (!href) {
    // javascript:, mailto:, unresolvable relative links: keep the words, drop the target.
    walk(elem.children, builder);
    return;
  }
  const inline = anchorInline(href, textContent(elem.children));
  if (inline) builder.addInline(inline, { noWordTransform: true });
};

/** A link to `href` (absolute) showing `raw`, the anchor's text, with the spaces around it kept; null when it has no text. */
function anchorInline(href: string, raw: string): string | null {
  const text = raw.replace(/[\s\u00a0]+/g, ' ').trim();
  if (!text) return null;
  const lead = /^[\s\u00a0]/.test(raw) ? ' ' : '';
  const trail = /[\s\u00a0]$/.test(raw) ? ' ' : '';
  let rendered: string;
  if (sameAddress(text, href)) {
    rendered = neutralizeMentions(href);
  } else if (looksLikeAddress(text)) {
    // Text that reads as an address must not hide a different one: show where it really goes.
    rendered = `${escapeDiscordText(text)} (<${neutralizeMentions(href)}>)`;
  } else {
    rendered = `[${escapeDiscordText(text)}](${href.replace(/\(/g, '%28').replace(/\)/g, '%29')})`;
  }
  return lead + rendered + trail;
}

function addressKey(text: string): string {
  return text
    .trim()
    .toLowerCase()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//, '')
    .replace(/^www\./, '')
    .replace(/\/+$/, '');
}

function sameAddress(text: string, href: string): boolean {
  return text === href || addressKey(text) === addressKey(href);
}

function looksLikeAddress(text: string): boolean {
  return (
    /[a-z][a-z0-9+.-]*:\/\/|www\./i.test(text) || /^[\w-]+(\.[\w-]+)*\.[a-z]{2,}(\/\S*)?$/i.test(text.trim())
  );
}

const DROPPED = [
  'img',
  'picture',
  'svg',
  'video',
  'audio',
  'source',
  'track',
  'iframe',
  'object',
  'embed',
  'script',
  'style',
  'noscript',
  'template',
  'table',
  'button',
  'input',
  'select',
  'textarea',
  'head',
  'hr',
];

function selectors(definitions: Record<string, string>): SelectorDefinition[] {
  return Object.entries(definitions).map(([selector, format]) => ({ selector, format }));
}

const common: HtmlToTextOptions = {
  wordwrap: false,
  decodeEntities: true,
  // A non-breaking space collapses like any other: `<p>&nbsp;</p>` must not leave a blank-looking line.
  whitespaceCharacters: ' \t\r\n\f\u200b\u00a0',
  limits: { ellipsis: '…', maxDepth: 200 },
};

const markdownConverter = compile({
  ...common,
  // Escaping every word of text here keeps it apart from markup the formatters add as literals.
  encodeCharacters: escapeWord as unknown as Record<string, string>,
  formatters: {
    bold: inlineFormatter('bold'),
    italic: inlineFormatter('italic'),
    strike: inlineFormatter('strike'),
    underline: inlineFormatter('underline'),
    discordHeading: formatHeading,
    discordParagraph: formatParagraph,
    discordQuote: formatBlockquote,
    discordUl: listFormatter(false),
    discordOl: listFormatter(true),
    discordCode: formatInlineCode,
    discordPre: formatPre,
    discordAnchor: formatAnchor,
  },
  selectors: [
    ...selectors({
      a: 'discordAnchor',
      ...FAST_INLINE,
      h1: 'discordHeading',
      h2: 'discordHeading',
      h3: 'discordHeading',
      h4: 'discordHeading',
      h5: 'discordHeading',
      h6: 'discordHeading',
      p: 'discordParagraph',
      blockquote: 'discordQuote',
      ul: 'discordUl',
      ol: 'discordOl',
      code: 'discordCode',
      kbd: 'discordCode',
      samp: 'discordCode',
      tt: 'discordCode',
      pre: 'discordPre',
      figure: 'block',
      figcaption: 'block',
      dl: 'block',
      dt: 'block',
      dd: 'block',
      li: 'block',
    }),
    ...DROPPED.map((selector) => ({ selector, format: 'skip' })),
  ],
});

const plainTextConverter = compile({
  ...common,
  selectors: [
    { selector: 'a', options: { ignoreHref: true } },
    ...['h1', 'h2', 'h3', 'h4', 'h5', 'h6'].map((selector) => ({ selector, options: { uppercase: false } })),
    { selector: 'ul', options: { itemPrefix: '- ' } },
    ...DROPPED.map((selector) => ({ selector, format: 'skip' })),
  ],
});
