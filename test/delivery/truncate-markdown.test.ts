import { describe, expect, it } from 'vitest';
import { truncateMarkdown } from '../../src/delivery/truncate-markdown';

/** True when every bold, italic, strike, spoiler and code marker in the text is paired. */
function balanced(markdown: string): boolean {
  const unescaped = markdown.replace(/\\./g, '').replace(/\[[^\]]*\]\([^)]*\)/g, '');
  const fences = unescaped.split('```').length - 1;
  const withoutBlocks = unescaped.replace(/```[\s\S]*?```/g, '');
  const count = (marker: string) => withoutBlocks.split(marker).length - 1;
  const bold = count('**');
  const single = withoutBlocks.replace(/\*\*/g, '').split('*').length - 1;
  return (
    fences % 2 === 0 && bold % 2 === 0 && single % 2 === 0 && count('||') % 2 === 0 && count('~~') % 2 === 0
  );
}

describe('truncateMarkdown', () => {
  it('leaves text within the limit untouched', () => {
    expect(truncateMarkdown('A short summary.', 350)).toBe('A short summary.');
  });

  it('cuts at a word boundary and ends with an ellipsis', () => {
    const cut = truncateMarkdown('The quick brown fox jumps over the lazy dog', 20);
    expect(cut).toBe('The quick brown fox…');
    expect(cut.length).toBeLessThanOrEqual(20);
  });

  it('never cuts inside a masked link', () => {
    const text =
      'Read [the full announcement of the release](https://example.com/a/very/long/path) today please';
    for (let limit = 5; limit < text.length; limit++) {
      const cut = truncateMarkdown(text, limit);
      expect(cut.length).toBeLessThanOrEqual(limit);
      const opened = cut.includes('[');
      if (opened) expect(cut).toContain('(https://example.com/a/very/long/path)');
    }
  });

  it('closes bold, italic and spoiler markers the cut leaves open', () => {
    const text =
      'Intro **bold words that go on and on** then *italic text that also goes on* and ||a spoiler here||';
    for (let limit = 8; limit < text.length; limit++) {
      const cut = truncateMarkdown(text, limit);
      expect(cut.length).toBeLessThanOrEqual(limit);
      expect(balanced(cut)).toBe(true);
    }
  });

  it('closes an open code block', () => {
    const text = 'Example:\n```\nconst a = 1;\nconst b = 2;\nconst c = 3;\n```\nafter';
    const cut = truncateMarkdown(text, 40);
    expect(cut.length).toBeLessThanOrEqual(40);
    expect(cut.endsWith('```')).toBe(true);
    expect(balanced(cut)).toBe(true);
  });

  it('does not treat escaped markers or underscores in URLs as formatting', () => {
    const text =
      'snake\\_case and https://example.com/some_path_here plus \\*stars\\* and more words at the end';
    const cut = truncateMarkdown(text, 70);
    expect(cut).toBe('snake\\_case and https://example.com/some_path_here plus \\*stars\\* and…');
  });

  it('cuts a single overlong word hard rather than returning nothing', () => {
    const cut = truncateMarkdown('x'.repeat(500), 100);
    expect(cut).toHaveLength(100);
    expect(cut.endsWith('…')).toBe(true);
  });
});
