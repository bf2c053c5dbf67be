import { describe, expect, it } from 'vitest';
import { decodeFeedBody } from '../../src/feeds/decode';

/** Joins ASCII text and raw bytes into one body, the way a legacy-encoded feed arrives. */
function bytes(...parts: (string | number[])[]): Uint8Array {
  return Buffer.concat(
    parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'latin1') : Buffer.from(part))),
  );
}

// "Привет" in windows-1251; read as windows-1252 it would come out as "Ïðèâåò".
const PRIVET_1251 = [0xcf, 0xf0, 0xe8, 0xe2, 0xe5, 0xf2];
// "Привет" in koi8-r.
const PRIVET_KOI8R = [0xf0, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4];
// "Café Müller" in ISO-8859-1.
const CAFE_LATIN1 = [0x43, 0x61, 0x66, 0xe9, 0x20, 0x4d, 0xfc, 0x6c, 0x6c, 0x65, 0x72];

const title = (text: string) => /<title>(.*)<\/title>/s.exec(text)?.[1];

describe('decodeFeedBody', () => {
  it('reads windows-1251 named only by the Content-Type header', () => {
    const body = bytes('<rss><title>', PRIVET_1251, '</title></rss>');
    expect(title(decodeFeedBody(body, 'application/rss+xml; charset=windows-1251'))).toBe('Привет');
  });

  it('reads windows-1251 named only by the XML declaration', () => {
    const body = bytes(
      '<?xml version="1.0" encoding="windows-1251"?>\n<rss><title>',
      PRIVET_1251,
      '</title></rss>',
    );
    expect(title(decodeFeedBody(body, 'text/xml'))).toBe('Привет');
  });

  it('reads ISO-8859-1 named only by the Content-Type header', () => {
    const body = bytes('<rss><title>', CAFE_LATIN1, '</title></rss>');
    expect(title(decodeFeedBody(body, 'text/xml; charset="ISO-8859-1"'))).toBe('Café Müller');
  });

  it('reads curly quotes and dashes from a body labelled ISO-8859-1, as browsers do', () => {
    // Servers say ISO-8859-1 for windows-1252 text; 0x93/0x94/0x96 are “ ” – there.
    const body = bytes(
      '<rss><title>',
      [0x93, 0x48, 0x69, 0x94, 0x20, 0x96, 0x20, 0x80, 0x35],
      '</title></rss>',
    );
    expect(title(decodeFeedBody(body, 'text/xml; charset=iso-8859-1'))).toBe('“Hi” – €5');
  });

  it('reads ISO-8859-1 named only by the XML declaration', () => {
    const body = bytes(
      "<?xml version='1.0' encoding='iso-8859-1'?><rss><title>",
      CAFE_LATIN1,
      '</title></rss>',
    );
    expect(title(decodeFeedBody(body, null))).toBe('Café Müller');
  });

  it('prefers the Content-Type charset over the XML declaration', () => {
    const body = bytes('<?xml version="1.0" encoding="koi8-r"?><rss><title>', PRIVET_1251, '</title></rss>');
    expect(title(decodeFeedBody(body, 'text/xml; charset=windows-1251'))).toBe('Привет');
    const koi8 = bytes(
      '<?xml version="1.0" encoding="windows-1251"?><rss><title>',
      PRIVET_KOI8R,
      '</title></rss>',
    );
    expect(title(decodeFeedBody(koi8, 'text/xml; charset=KOI8-R'))).toBe('Привет');
  });

  it('falls through an unknown charset label to the XML declaration', () => {
    const body = bytes(
      '<?xml version="1.0" encoding="windows-1251"?><rss><title>',
      PRIVET_1251,
      '</title></rss>',
    );
    expect(title(decodeFeedBody(body, 'text/xml; charset=x-no-such-charset'))).toBe('Привет');
  });

  it('strips a UTF-8 byte order mark', () => {
    const body = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from('<rss><title>Привет</title></rss>'),
    ]);
    const text = decodeFeedBody(body, 'text/xml; charset=windows-1251');
    expect(text.startsWith('<rss>')).toBe(true);
    expect(title(text)).toBe('Привет');
  });

  it('follows a UTF-16 byte order mark in either byte order', () => {
    const xml = '<?xml version="1.0" encoding="utf-16"?><rss><title>Привет</title></rss>';
    const little = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(xml, 'utf16le')]);
    const big = Buffer.from(little).swap16();
    expect(decodeFeedBody(little, null)).toBe(xml);
    expect(decodeFeedBody(big, null)).toBe(xml);
  });

  // Deliberate: servers label UTF-8 feeds as Latin-1 far more often than they send Latin-1 text
  // that happens to form valid UTF-8, so bytes that are valid UTF-8 overrule the header.
  it('reads valid UTF-8 as UTF-8 even when the header claims ISO-8859-1', () => {
    const body = Buffer.from('<rss><title>Café Müller — Привет</title></rss>');
    expect(title(decodeFeedBody(body, 'application/rss+xml; charset=iso-8859-1'))).toBe(
      'Café Müller — Привет',
    );
  });

  it('falls back to windows-1252 when nothing names a charset', () => {
    // 0x80 is the euro sign in windows-1252 and a control character in ISO-8859-1.
    const body = bytes('<rss><title>', CAFE_LATIN1, [0x20, 0x80], '</title></rss>');
    expect(title(decodeFeedBody(body, 'application/rss+xml'))).toBe('Café Müller €');
  });

  it('ignores a UTF-16 declaration on a body whose declaration is readable as ASCII', () => {
    const body = bytes('<?xml version="1.0" encoding="UTF-16"?><rss><title>', CAFE_LATIN1, '</title></rss>');
    expect(title(decodeFeedBody(body, null))).toBe('Café Müller');
  });

  it('reads a JSON feed without any charset as UTF-8', () => {
    const json = JSON.stringify({ version: 'https://jsonfeed.org/version/1.1', title: 'Жизнь' });
    expect(decodeFeedBody(Buffer.from(json), 'application/feed+json')).toBe(json);
  });
});
