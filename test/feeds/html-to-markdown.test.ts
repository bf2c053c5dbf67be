import { describe, expect, it } from 'vitest';
import {
  absoluteHttpUrl,
  escapeDiscordText,
  firstImageUrl,
  htmlToDiscordMarkdown,
  htmlToPlainText,
  plainTextToDiscordMarkdown,
  truncateHtml,
} from '../../src/feeds/html-to-markdown';

const base = { baseUrl: 'https://blog.example/posts/1/' };
const md = (html: string) => htmlToDiscordMarkdown(html, base);

/** A mention Discord would resolve: `<@id>`, `<@!id>`, `<@&id>`, `<#id>`, `</name:id>`. */
const LIVE_MENTION = /<(?:@[!&]?|#|\/[\w-]+:)\d+>/;
const LIVE_EVERYONE = /@(?:everyone|here)/;

describe('htmlToDiscordMarkdown', () => {
  it('turns paragraphs into blocks separated by one blank line', () => {
    expect(md('<p>One</p>\n\n\n<p>Two</p><div>Three</div>')).toBe('One\n\nTwo\n\nThree');
  });

  it('collapses whitespace and turns <br> into a newline', () => {
    expect(md('<p>  lots   of\n\tspace<br>next   line  </p>')).toBe('lots of space\nnext line');
  });

  it('never leaves more than one blank line in a row', () => {
    expect(md('<p>a</p><p></p><p>&nbsp;</p><br><br><br><p>b</p>')).not.toMatch(/\n{3}/);
  });

  it('renders bold and italic with Discord markers, keeping spaces outside them', () => {
    expect(md('<p>Hello <b>bold </b>and<em> italic</em>!</p>')).toBe('Hello **bold** and *italic*!');
  });

  it('drops emphasis that has no text instead of printing empty markers', () => {
    expect(md('<p>a <strong></strong> b <em> </em> c</p>')).toBe('a b c');
  });

  it('merges adjacent bold runs into one', () => {
    expect(md('<p><b>two</b><b>parts</b></p>')).toBe('**twoparts**');
  });

  it('keeps links as masked links with absolute URLs', () => {
    expect(md('<p>Read <a href="../2/">the next post</a>.</p>')).toBe(
      'Read [the next post](https://blog.example/posts/2/).',
    );
  });

  it('shows a link whose text is its own address as a bare URL', () => {
    expect(md('<a href="https://x.example/a">https://x.example/a</a>')).toBe('https://x.example/a');
  });

  it('keeps only the text of javascript: links', () => {
    const out = md('<p><a href="javascript:alert(1)">click me</a></p>');
    expect(out).toBe('click me');
    expect(out).not.toContain('javascript');
  });

  it('does not let link text that looks like an address hide a different target', () => {
    const out = md('<a href="https://evil.example/login">https://bank.example/login</a>');
    expect(out).not.toMatch(/\[https:\/\/bank\.example\/login\]\(/);
    expect(out).toContain('https://evil.example/login');
  });

  it('escapes brackets in link text so it cannot close the link early', () => {
    const out = md('<a href="https://x.example/">a ] tricky [ text</a>');
    expect(out).toBe('[a \\] tricky \\[ text](https://x.example/)');
  });

  it('encodes parentheses in link targets so the masked link stays whole', () => {
    expect(md('<a href="https://x.example/wiki/A_(b)">wiki</a>')).toBe(
      '[wiki](https://x.example/wiki/A_%28b%29)',
    );
  });

  it('drops relative links when there is no base to resolve them', () => {
    expect(htmlToDiscordMarkdown('<a href="/x">text</a>', { baseUrl: null })).toBe('text');
  });

  it('renders inline code and code blocks with backticks, without escaping inside them', () => {
    expect(md('<p>Call <code>snake_case(*args)</code> now.</p>')).toBe('Call `snake_case(*args)` now.');
    expect(md('<pre><code class="language-python">def f():\n    return 1\n</code></pre>')).toBe(
      '```python\ndef f():\n    return 1\n```',
    );
  });

  it('uses a double-backtick span for inline code that contains a backtick', () => {
    expect(md('<code>a`b</code>')).toBe('`` a`b ``');
  });

  it('renders unordered and ordered lists, nested ones indented', () => {
    expect(md('<ul><li>one</li><li>two<ul><li>inner</li></ul></li></ul>')).toBe('- one\n- two\n  - inner');
    expect(md('<ol start="3"><li><p>three</p></li><li><p>four</p></li></ol>')).toBe('3. three\n4. four');
  });

  it('renders blockquotes with > on every line', () => {
    expect(md('<blockquote><p>first</p><p>second</p></blockquote><p>after</p>')).toBe(
      '> first\n> second\n\nafter',
    );
  });

  it('renders headings as bold lines, not # headings', () => {
    expect(md('<h2>Section title</h2><p>Body</p>')).toBe('**Section title**\n\nBody');
  });

  it('does not indent a heading whose text starts with whitespace or an empty anchor', () => {
    expect(md('<p>Intro</p><h2>\n  <a name="x" href="#x"></a>\n  Why it matters\n</h2>')).toBe(
      'Intro\n\n**Why it matters**',
    );
  });

  it('drops images, tables, scripts, styles and iframes', () => {
    const out = md(
      '<p>before</p><img src="a.png" alt="alt text"><table><tr><td>cell</td></tr></table>' +
        '<script>alert(1)</script><style>p{}</style><iframe src="https://x"></iframe><p>after</p>',
    );
    expect(out).toBe('before\n\nafter');
  });

  it('copes with unclosed tags', () => {
    expect(md('<p>unclosed <b>bold <i>and italic</p><div>next')).toBe(
      'unclosed **bold *and italic***\n\nnext',
    );
  });

  it('decodes entities', () => {
    expect(md('<p>Fish &amp; chips&nbsp;&#8217;n&#x2019; more</p>')).toBe('Fish & chips ’n’ more');
  });

  it('neutralizes @everyone and @here', () => {
    const out = md('<p>Hey @everyone and @here!</p>');
    expect(out).not.toMatch(LIVE_EVERYONE);
    expect(out.replaceAll('\u200b', '')).toBe('Hey @everyone and @here!');
  });

  it('neutralizes user, role, channel and command mentions written as text', () => {
    const out = md(
      '<p>&lt;@123456789012345678&gt; &lt;@!1&gt; &lt;@&amp;2&gt; &lt;#3&gt; &lt;/deploy:4&gt;</p>',
    );
    expect(out).not.toMatch(LIVE_MENTION);
    expect(out).not.toContain('<@');
  });

  it('neutralizes mentions inside code too', () => {
    const out = md('<pre>ping &lt;@123&gt; and @everyone</pre><code>&lt;@&amp;9&gt;</code>');
    expect(out).not.toMatch(LIVE_MENTION);
    expect(out).not.toMatch(LIVE_EVERYONE);
  });

  it('escapes spoilers and markdown written as text', () => {
    expect(md('<p>||spoiler|| **not bold** __not underlined__ ~~not struck~~ `not code`</p>')).toBe(
      '\\|\\|spoiler\\|\\| \\*\\*not bold\\*\\* \\_\\_not underlined\\_\\_ \\~\\~not struck\\~\\~ \\`not code\\`',
    );
  });

  it('escapes line-start syntax written as text: headings, subtext, quotes and list markers', () => {
    expect(md('<p># heading</p><p>-# subtext</p><p>&gt; quote</p><p>- item</p><p>1. first</p>')).toBe(
      '\\# heading\n\n\\-# subtext\n\n\\> quote\n\n\\- item\n\n1\\. first',
    );
  });

  it('leaves bare URLs in text unescaped so Discord still links them', () => {
    expect(md('<p>See https://x.example/a_b_c for more</p>')).toBe('See https://x.example/a_b_c for more');
  });

  it('returns an empty string for empty or whitespace-only HTML', () => {
    expect(md('')).toBe('');
    expect(md('  <p> </p> ')).toBe('');
  });
});

describe('escapeDiscordText', () => {
  it('escapes markdown and neutralizes mentions in plain text', () => {
    const out = escapeDiscordText('# Big @everyone <@123> **news** || _now_');
    expect(out).not.toMatch(LIVE_EVERYONE);
    expect(out).not.toMatch(LIVE_MENTION);
    expect(out.replaceAll('\u200b', '')).toBe('\\# Big @everyone <@123\\> \\*\\*news\\*\\* \\|\\| \\_now\\_');
  });

  it('keeps ordinary text and its whitespace unchanged', () => {
    expect(escapeDiscordText('Plain title, with punctuation: yes!\nSecond line')).toBe(
      'Plain title, with punctuation: yes!\nSecond line',
    );
  });
});

describe('htmlToPlainText', () => {
  it('strips tags, decodes entities and collapses whitespace', () => {
    expect(htmlToPlainText('Tom &amp; <b>Jerry</b>\n  <a href="/x">again</a>')).toBe('Tom & Jerry again');
  });
});

describe('plainTextToDiscordMarkdown', () => {
  it('keeps paragraphs, collapses blank runs and escapes the text', () => {
    expect(plainTextToDiscordMarkdown('First  *line*\n\n\n\n# Second')).toBe(
      'First \\*line\\*\n\n\\# Second',
    );
  });
});

describe('firstImageUrl', () => {
  it('finds the first real image, resolving it against the base', () => {
    const html =
      '<p><img src="data:image/gif;base64,AAAA"><img src="/t.gif" width="1" height="1"><img src="a.png"></p>';
    expect(firstImageUrl(html, 'https://blog.example/posts/1/')).toBe('https://blog.example/posts/1/a.png');
  });

  it('reads lazy-loaded images from data-src', () => {
    expect(firstImageUrl('<img src="data:," data-src="https://cdn.example/real.jpg">', null)).toBe(
      'https://cdn.example/real.jpg',
    );
  });

  it('returns null when there is no usable image', () => {
    expect(firstImageUrl('<p>No pictures</p>', 'https://x.example/')).toBeNull();
    expect(firstImageUrl('<img src="relative.png">', null)).toBeNull();
  });
});

describe('absoluteHttpUrl', () => {
  it('resolves relative references and accepts only http(s)', () => {
    expect(absoluteHttpUrl('img/a.png', 'https://x.example/blog/')).toBe('https://x.example/blog/img/a.png');
    expect(absoluteHttpUrl('ftp://x.example/a', null)).toBeNull();
    expect(absoluteHttpUrl('data:image/png;base64,AAAA', null)).toBeNull();
    expect(absoluteHttpUrl('  ', 'https://x.example/')).toBeNull();
  });
});

describe('truncateHtml', () => {
  it('returns short HTML unchanged', () => {
    expect(truncateHtml('<p>abc</p>', 100)).toBe('<p>abc</p>');
  });

  it('cuts before a tag so no tag or entity is split', () => {
    expect(truncateHtml('<p>abc</p><p class="x">def</p>', 14)).toBe('<p>abc</p>');
    expect(truncateHtml('fish &amp; chips', 8)).toBe('fish ');
  });
});
