import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';

/** IPv4 ranges Herald never contacts unless private feeds are allowed: [first address, prefix length]. */
const BLOCKED_V4: readonly (readonly [string, number])[] = [
  ['0.0.0.0', 8], // "this network"; 0.0.0.0 reaches the local host on Linux
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT, often the provider's own infrastructure
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, including cloud metadata at 169.254.169.254
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation (TEST-NET-1)
  ['192.88.99.0', 24], // deprecated 6to4 relay anycast
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation (TEST-NET-2)
  ['203.0.113.0', 24], // documentation (TEST-NET-3)
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, including broadcast 255.255.255.255
];

const BLOCKED_V4_RANGES = BLOCKED_V4.map(([base, prefix]) => {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { network: ((parseIPv4(base) ?? 0) & mask) >>> 0, mask };
});

/**
 * True when `ip` is an address a user-supplied feed URL must not reach: loopback, private,
 * link-local, CGNAT, multicast, reserved and documentation ranges, and IPv6 forms that embed such
 * an IPv4 address. Anything that is not a valid IP address counts as blocked (fail closed).
 */
export function isBlockedAddress(ip: string): boolean {
  const address = ip.trim().replace(/^\[(.*)\]$/, '$1');
  const version = isIP(address);
  if (version === 4) return isBlockedV4(parseIPv4(address) ?? 0);
  if (version === 6) {
    const groups = parseIPv6(address);
    return groups === null || isBlockedV6(groups);
  }
  return true;
}

function isBlockedV4(value: number): boolean {
  return BLOCKED_V4_RANGES.some(({ network, mask }) => (value & mask) >>> 0 === network);
}

function isBlockedV6(g: readonly number[]): boolean {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const embeddedLow = ((g6 << 16) | g7) >>> 0;
  const upperFiveZero = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;
  // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (deprecated compatible, which also covers :: and ::1)
  if (upperFiveZero && (g5 === 0xffff || g5 === 0)) return isBlockedV4(embeddedLow);
  // 64:ff9b::/96, the well-known NAT64 prefix, reaches the embedded IPv4 address
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) {
    return isBlockedV4(embeddedLow);
  }
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) return true; // 64:ff9b:1::/48, local-use NAT64
  // 2002::/16, 6to4: the tunnel endpoint is the IPv4 address in the next 32 bits
  if (g0 === 0x2002) return isBlockedV4(((g1 << 16) | g2) >>> 0);
  if (g0 === 0x100 && g1 === 0 && g2 === 0 && g3 === 0) return true; // 100::/64 discard-only
  if (g0 === 0x2001 && g1 === 0xdb8) return true; // documentation
  if ((g0 & 0xfe00) === 0xfc00) return true; // fc00::/7 unique local
  if ((g0 & 0xffc0) === 0xfe80) return true; // fe80::/10 link-local
  if ((g0 & 0xffc0) === 0xfec0) return true; // fec0::/10 deprecated site-local
  if ((g0 & 0xff00) === 0xff00) return true; // ff00::/8 multicast
  return false;
}

function parseIPv4(address: string): number | null {
  const parts = address.split('.');
  if (parts.length !== 4) return null;
  let value = 0;
  for (const part of parts) {
    const octet = Number(part);
    if (!/^\d{1,3}$/.test(part) || octet > 255) return null;
    value = value * 256 + octet;
  }
  return value;
}

/** Eight 16-bit groups, with `::` expanded and a dotted IPv4 tail turned into two groups. */
function parseIPv6(address: string): number[] | null {
  let text = address.toLowerCase().replace(/%.*$/, '');
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    const v4 = parseIPv4(last);
    if (v4 === null) return null;
    text = `${text.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const toGroups = (part: string | undefined): number[] =>
    part ? part.split(':').map((group) => (/^[0-9a-f]{1,4}$/.test(group) ? parseInt(group, 16) : NaN)) : [];
  const head = toGroups(halves[0]);
  const rest = toGroups(halves[1]);
  const explicit = head.length + rest.length;
  if (halves.length === 1 ? explicit !== 8 : explicit > 7) return null;
  if ([...head, ...rest].some((group) => Number.isNaN(group))) return null;
  return [...head, ...new Array<number>(8 - explicit).fill(0), ...rest];
}

/** Raised inside the connection's DNS lookup when a name resolves to a blocked address. */
export class BlockedLookupError extends Error {
  /** Mirrors system errors so generic handlers can branch on it. */
  readonly code = 'EBLOCKEDADDRESS';
  constructor(
    readonly hostname: string,
    readonly address: string,
  ) {
    super(`${hostname} resolves to ${address}, a private or local network address`);
    this.name = 'BlockedLookupError';
  }
}

/**
 * Builds a `lookup` for undici's connector. It resolves every address of a name and refuses the
 * connection when any of them is blocked, so the address checked is the address connected to
 * (no window for a DNS answer to change in between). Names under the reserved `.invalid` top-level
 * domain fail locally, as RFC 6761 asks, without asking a DNS server.
 */
export function createGuardedLookup(options: {
  allowPrivateNetwork: boolean;
  /** The policy; defaults to `isBlockedAddress`. */
  isBlocked?: (ip: string) => boolean;
}): LookupFunction {
  const isBlocked = options.isBlocked ?? isBlockedAddress;
  return (hostname: string, lookupOptions: LookupOptions, callback) => {
    const name = hostname.replace(/\.$/, '').toLowerCase();
    if (name === 'invalid' || name.endsWith('.invalid')) {
      const error: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
      error.code = 'ENOTFOUND';
      error.syscall = 'getaddrinfo';
      process.nextTick(() => callback(error, ''));
      return;
    }
    const resolveOptions = {
      all: true as const,
      family: lookupOptions.family ?? 0,
      hints: lookupOptions.hints ?? 0,
    };
    dnsLookup(hostname, resolveOptions, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '');
      const blocked = options.allowPrivateNetwork
        ? undefined
        : addresses.find((entry) => isBlocked(entry.address));
      if (blocked) return callback(new BlockedLookupError(hostname, blocked.address), '');
      const first = addresses[0];
      if (lookupOptions.all) return callback(null, addresses);
      if (!first) {
        const empty: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
        empty.code = 'ENOTFOUND';
        return callback(empty, '');
      }
      return callback(null, first.address, first.family);
    });
  };
}
