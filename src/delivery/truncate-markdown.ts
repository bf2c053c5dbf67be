const ELLIPSIS = '…';

/** Markers that open and close inline formatting; longest first so `**` wins over `*`. */
const TOGGLES = ['```', '**', '__', '~~', '||', '`', '*', '_'] as const;
type Toggle = (typeof TOGGLES)[number];

/** A masked link `[text](url)` is cut whole or not at all. */
const MASKED_LINK = /\[(?:[^\]\\\n]|\\.)*\]\(<?[^)\s>]+>?\)/y;
/** Discord does not read markdown inside a bare URL, so neither do we. */
const BARE_URL = /<?https?:\/\/[^\s<>]+>?/y;

interface CutPoint {
  /** Text before this index is kept. */
  index: number;
  /** Formatting open at that point, innermost last. */
  open: Toggle[];
}

/**
 * Cuts Discord markdown to at most `limit` characters at a word boundary, never inside a masked
 * link or an escape, closing any bold, italic, spoiler or code that the cut leaves open, and
 * ending with an ellipsis. Text within the limit comes back unchanged.
 */
export function truncateMarkdown(markdown: string, limit: number): string {
  if (markdown.length <= limit) return markdown;
  if (limit <= ELLIPSIS.length) return ELLIPSIS.slice(0, limit);

  const cuts = scanCutPoints(markdown, limit);
  for (let i = cuts.length - 1; i >= 0; i--) {
    const cut = cuts[i]!;
    const kept = markdown.slice(0, cut.index).trimEnd();
    const closing = closersFor(cut.open);
    const result = `${kept}${ELLIPSIS}${closing}`;
    if (result.length <= limit && kept.length > 0) return result;
  }
  // One unbroken word longer than the limit: cut it hard, outside any markup.
  return hardCut(markdown, limit);
}

function scanCutPoints(text: string, limit: number): CutPoint[] {
  const cuts: CutPoint[] = [];
  const open: Toggle[] = [];
  let i = 0;
  while (i < text.length && i <= limit) {
    const inCodeBlock = open.at(-1) === '```';
    const inInlineCode = open.at(-1) === '`';
    const char = text[i]!;

    if (/\s/.test(char)) {
      cuts.push({ index: i, open: [...open] });
      i++;
      continue;
    }
    if (inCodeBlock || inInlineCode) {
      const closer = inCodeBlock ? '```' : '`';
      if (text.startsWith(closer, i)) {
        open.pop();
        i += closer.length;
      } else {
        i++;
      }
      continue;
    }
    if (char === '\\') {
      i += 2;
      continue;
    }
    if (char === 'h' || char === '<') {
      BARE_URL.lastIndex = i;
      const url = BARE_URL.exec(text);
      if (url) {
        i += url[0].length;
        continue;
      }
    }
    if (char === '[') {
      MASKED_LINK.lastIndex = i;
      const link = MASKED_LINK.exec(text);
      if (link) {
        i += link[0].length;
        continue;
      }
    }
    const toggle = TOGGLES.find((marker) => text.startsWith(marker, i));
    if (toggle) {
      if (open.at(-1) === toggle) open.pop();
      else if (!open.includes(toggle)) open.push(toggle);
      i += toggle.length;
      continue;
    }
    i++;
  }
  return cuts;
}

function closersFor(open: readonly Toggle[]): string {
  return [...open]
    .reverse()
    .map((marker) => (marker === '```' ? '\n```' : marker))
    .join('');
}

function hardCut(text: string, limit: number): string {
  const plain = text.replace(/[\\`*_~|[\]()<>]/g, '');
  return `${plain.slice(0, Math.max(0, limit - ELLIPSIS.length))}${ELLIPSIS}`;
}
