/**
 * HTML from feeds → Discord markdown, built on html-to-text (htmlparser2 copes with the malformed
 * HTML feeds carry). Text taken from the HTML is escaped so it cannot ping, hide or fake anything;
 * the markup Herald generates is not. Inline markup is first written as private-use sentinels and
 * turned into `**`/`*` at the end, because only the finished text shows where whitespace landed.
 */
import { compile } from 'html-to-text';
import type { DomNode, FormatCallback, HtmlToTextOptions, SelectorDefinition } from 'html-to-text';

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
  firstImage: string | null;
}

/**
 * Converts a feed item's HTML to Discord markdown: masked links with absolute URLs, bold/italic,
 * code, lists, quotes, headings as bold lines; images, tables, scripts and embeds dropped; text
 * escaped so it cannot mention anyone, open a spoiler or start a heading.
 */
export function htmlToDiscordMarkdown(html: string, options: HtmlToMarkdownOptions): string {
  if (!html.trim()) return '';
  const state = newState(options.baseUrl);
  const raw = runConverter(markdownConverter, html, state);
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
  const state = newState(baseUrl);
  // Parsing a whole article to find one tag is most of the cost of normalizing a feed: parse
  // only the <img> tags themselves (the parser still decodes their attributes).
  for (const match of html.matchAll(/<img\b[^>]*>/gi)) {
    runConverter(imageFinder, match[0], state);
    if (state.firstImage) return state.firstImage;
  }
  return null;
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

/** Resolves `href` against `base` and returns it only when it is an http(s) URL. */
export function absoluteHttpUrl(href: string | null | undefined, base: string | null): string | null {
  if (typeof href !== 'string') return null;
  const trimmed = href.trim();
  if (!trimmed || /^data:/i.test(trimmed)) return null;
  let url: URL;
  try {
    url = base ? new URL(trimmed, base) : new URL(trimmed);
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

function escapeWord(word: string): string {
  if (!word) return word;
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

function resolveInlineMarkup(text: string): string {
  let out = text;
  for (const { open, close, markup } of Object.values(SENTINELS)) {
    out = out.replaceAll(close + open, '');
    // An empty pair between two spaces (`a <b></b> b`) must not leave a double space behind.
    out = out.replace(
      new RegExp(`([^\\S\\n]?)${open}\\s*${close}([^\\S\\n]?)`, 'g'),
      (_m, a: string, b: string) => a || b,
    );
    const pair = new RegExp(`${open}(\\s*)([^${open}${close}]*?)(\\s*)${close}`, 'g');
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
  return text.replace(/[\s\u00a0\u200b]+/g, ' ').trim();
}

// ---------------------------------------------------------------------------------------------
// html-to-text formatters

function newState(baseUrl: string | null): ConversionState {
  return { baseUrl, open: { bold: 0, italic: 0, strike: 0, underline: 0 }, quoteDepth: 0, firstImage: null };
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
  const raw = textContent(elem.children);
  const code = neutralizeCode(raw.replace(/\s+/g, ' ').trim());
  if (!code) return;
  const fenced = code.includes('`')
    ? `\`\` ${code.replace(/`{2,}/g, (run) => run.split('').join(ZWSP))} \`\``
    : `\`${code}\``;
  const lead = /^\s/.test(raw) ? ' ' : '';
  const trail = /\s$/.test(raw) ? ' ' : '';
  builder.addInline(lead + fenced + trail, { noWordTransform: true });
};

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
  const raw = textContent(elem.children);
  const text = raw.replace(/[\s\u00a0]+/g, ' ').trim();
  if (!text) return;
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
  builder.addInline(lead + rendered + trail, { noWordTransform: true });
};

const captureImage: FormatCallback = (elem, _walk, builder) => {
  const state = stateOf(builder);
  if (state.firstImage) return;
  const width = attribute(elem, 'width');
  const height = attribute(elem, 'height');
  if (width === '1' || height === '1' || width === '0' || height === '0') return;
  for (const name of ['src', 'data-src', 'data-original']) {
    const url = absoluteHttpUrl(attribute(elem, name), state.baseUrl);
    if (url) {
      state.firstImage = url;
      return;
    }
  }
};

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

const imageFinder = compile({
  ...common,
  formatters: { captureImage },
  selectors: [{ selector: 'img', format: 'captureImage' }],
});
