import { describe, expect, it } from 'vitest';
import { BlockedLookupError, createGuardedLookup, isBlockedAddress } from '../../src/feeds/address-guard';

describe('isBlockedAddress', () => {
  it.each([
    ['127.0.0.1', 'IPv4 loopback'],
    ['127.255.255.254', 'the far end of 127/8'],
    ['0.0.0.0', 'the unspecified address'],
    ['0.1.2.3', '"this network"'],
    ['10.0.0.1', 'private 10/8'],
    ['172.16.0.1', 'the start of private 172.16/12'],
    ['172.31.255.255', 'the end of private 172.16/12'],
    ['192.168.1.1', 'private 192.168/16'],
    ['169.254.169.254', 'cloud metadata'],
    ['169.254.0.1', 'IPv4 link-local'],
    ['100.64.0.1', 'the start of CGNAT 100.64/10'],
    ['100.127.255.254', 'the end of CGNAT'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'SSDP multicast'],
    ['240.0.0.1', 'reserved 240/4'],
    ['255.255.255.255', 'broadcast'],
    ['192.0.0.170', 'IETF protocol assignments'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'the end of benchmarking 198.18/15'],
    ['192.0.2.10', 'documentation'],
    ['::1', 'IPv6 loopback'],
    ['::', 'the IPv6 unspecified address'],
    ['0:0:0:0:0:0:0:1', 'IPv6 loopback written out in full'],
    ['fc00::1', 'unique local fc00::/7'],
    ['fdff:ffff::1', 'unique local fd00::/8'],
    ['fe80::1', 'IPv6 link-local'],
    ['fe80::1%eth0', 'link-local with a zone'],
    ['febf::1', 'the end of fe80::/10'],
    ['fec0::1', 'deprecated site-local'],
    ['ff02::1', 'IPv6 multicast'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:7f00:1', 'IPv4-mapped loopback in hex'],
    ['::ffff:a9fe:a9fe', 'IPv4-mapped cloud metadata'],
    ['::ffff:10.1.2.3', 'IPv4-mapped private'],
    ['::127.0.0.1', 'IPv4-compatible loopback'],
    ['64:ff9b::127.0.0.1', 'NAT64 of loopback'],
    ['64:ff9b::a00:1', 'NAT64 of 10.0.0.1 in hex'],
    ['64:ff9b:1::1', 'local-use NAT64'],
    ['2002:7f00:1::', '6to4 of loopback'],
    ['2002:c0a8:101::1', '6to4 of 192.168.1.1'],
    ['2001:db8::1', 'IPv6 documentation'],
    ['[::1]', 'a bracketed URL host'],
    ['not an ip', 'something that is not an address'],
    ['', 'an empty string'],
    ['1.2.3', 'a short IPv4 form (not normalized here)'],
    ['1::2::3', 'an IPv6 address with two gaps'],
  ])('blocks %s (%s)', (ip) => {
    expect(isBlockedAddress(ip)).toBe(true);
  });

  it.each([
    ['1.1.1.1', 'a public resolver'],
    ['8.8.8.8', 'another public resolver'],
    ['93.184.215.14', 'a public web server'],
    ['172.15.255.255', 'just below 172.16/12'],
    ['172.32.0.1', 'just above 172.16/12'],
    ['100.63.255.255', 'just below CGNAT'],
    ['100.128.0.1', 'just above CGNAT'],
    ['169.253.255.255', 'just below link-local'],
    ['192.169.0.1', 'just above 192.168/16'],
    ['198.17.255.255', 'just below benchmarking'],
    ['198.20.0.1', 'just above benchmarking'],
    ['223.255.255.255', 'just below multicast'],
    ['11.0.0.1', 'just above 10/8'],
    ['2606:4700:4700::1111', 'public IPv6'],
    ['2001:4860:4860::8888', 'another public IPv6'],
    ['::ffff:1.1.1.1', 'IPv4-mapped public'],
    ['::ffff:808:808', 'IPv4-mapped public in hex'],
    ['64:ff9b::1.1.1.1', 'NAT64 of a public address'],
    ['2002:0101:0101::1', '6to4 of a public address'],
    ['fbff::1', 'just below fc00::/7'],
    ['fe00::1', 'just below link-local fe80::/10'],
  ])('allows %s (%s)', (ip) => {
    expect(isBlockedAddress(ip)).toBe(false);
  });
});

describe('createGuardedLookup', () => {
  const lookupAll = (allowPrivateNetwork: boolean, hostname: string) =>
    new Promise<unknown>((resolve, reject) => {
      createGuardedLookup({ allowPrivateNetwork })(hostname, { all: true }, (error, addresses) =>
        error ? reject(error) : resolve(addresses),
      );
    });

  it('refuses a name that resolves to a blocked address', async () => {
    const error: unknown = await lookupAll(false, 'localhost').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BlockedLookupError);
    expect(error).toMatchObject({ hostname: 'localhost' });
  });

  it('resolves the same name when private networks are allowed', async () => {
    const addresses = (await lookupAll(true, 'localhost')) as { address: string }[];
    expect(addresses.length).toBeGreaterThan(0);
    expect(addresses.every((entry) => isBlockedAddress(entry.address))).toBe(true);
  });

  it('answers single-address lookups the way net.connect asks for them', async () => {
    const answer = await new Promise<[unknown, unknown]>((resolve, reject) => {
      createGuardedLookup({ allowPrivateNetwork: true })('localhost', {}, (error, address, family) =>
        error ? reject(error) : resolve([address, family]),
      );
    });
    expect(answer[0]).toEqual(expect.any(String));
    expect([4, 6]).toContain(answer[1]);
  });

  it('fails names under .invalid locally', async () => {
    await expect(lookupAll(true, 'feeds.example.invalid')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });
});
