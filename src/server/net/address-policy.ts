import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/**
 * Hosts the server may reach although they resolve to non-public addresses: exact host names
 * (case-insensitive, no wildcards) and IP addresses or CIDR ranges.
 */
export interface AllowList {
  readonly hostnames: ReadonlySet<string>;
  readonly ranges: ReadonlyArray<[Address, number]>;
}

/** The setting that fills the allow-list, named in refusal messages so an operator knows what to change. */
const ALLOW_SETTING = '--allow-host (server option allowHosts)';

/**
 * Compiles allow-list entries such as 'localhost', '127.0.0.1', '10.0.0.0/8', '::1' or '[fd00::]/8'.
 * Throws a plain Error naming the entry when one is neither a host name nor an address: this is configuration,
 * checked once at startup, not client input.
 */
export function compileAllowList(entries: readonly string[]): AllowList {
  const hostnames = new Set<string>();
  const ranges: Array<[Address, number]> = [];
  for (const raw of entries) {
    const entry = raw.trim().toLowerCase().replace(/^\[([^\]]*)\]/, '$1');
    if (ipaddr.isValidCIDR(entry)) {
      const [address, bits] = ipaddr.parseCIDR(entry);
      ranges.push(address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()
        ? [(address as ipaddr.IPv6).toIPv4Address(), Math.max(0, bits - 96)]
        : [address, bits]);
    } else if (ipaddr.isValid(entry)) {
      const address = unmapped(ipaddr.parse(entry));
      ranges.push([address, address.kind() === 'ipv4' ? 32 : 128]);
    } else if (/^[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?\.?$/.test(entry)) {
      hostnames.add(withoutTrailingDot(entry));
    } else {
      throw new Error(`Expected a host name, IP address or CIDR range in ${ALLOW_SETTING} but received ${JSON.stringify(raw)}`);
    }
  }
  return { hostnames, ranges };
}

export const EMPTY_ALLOW_LIST: AllowList = compileAllowList([]);

/** Whether `hostname` (as in a URL: lower-case, IPv6 without brackets) is allow-listed by name. */
export function isHostnameAllowed(hostname: string, allow: AllowList): boolean {
  return allow.hostnames.has(withoutTrailingDot(hostname.toLowerCase()));
}

/**
 * Why the server must not connect to `address`, as a phrase for a message ("a loopback address"), or undefined
 * when it is an ordinary public unicast address or allow-listed. Only plain unicast passes: special-purpose
 * ranges are refused wholesale, and IPv6 forms that carry an IPv4 address (mapped, IPv4-compatible, NAT64
 * 64:ff9b::/96) are judged by that IPv4 address, since the kernel or a translator delivers them there.
 */
export function addressRefusal(addressText: string, allow: AllowList = EMPTY_ALLOW_LIST): string | undefined {
  if (!ipaddr.isValid(addressText)) return 'not a valid IP address';
  const address = ipaddr.parse(addressText);
  const comparable = unmapped(address);
  if (allow.ranges.some(([range, bits]) => range.kind() === comparable.kind() && comparable.match(range, bits))) return undefined;
  return address.kind() === 'ipv4' ? ipv4Refusal(address as ipaddr.IPv4) : ipv6Refusal(address as ipaddr.IPv6, allow);
}

/**
 * Checks every address a host resolved to; one bad address is enough to refuse, because the connection could
 * land on any of them. Returns a whole sentence fragment such as "localhost resolves to ::1, a loopback address
 * (allow it with server.allowHosts)", or undefined when all are acceptable.
 */
export function hostRefusal(hostname: string, addresses: readonly string[], allow: AllowList): string | undefined {
  if (isHostnameAllowed(hostname, allow)) return undefined;
  const isLiteral = ipaddr.isValid(hostname);
  for (const address of addresses) {
    const reason = addressRefusal(address, allow);
    if (reason === undefined) continue;
    const subject = isLiteral ? `${hostname} is` : `${hostname} resolves to ${address},`;
    return `${subject} ${reason} (allow it with ${ALLOW_SETTING})`;
  }
  return undefined;
}

const IPV4_RANGE_NAMES: Record<string, string> = {
  unspecified: 'an unspecified address',
  broadcast: 'the broadcast address',
  multicast: 'a multicast address',
  linkLocal: 'a link-local address',
  loopback: 'a loopback address',
  carrierGradeNat: 'a carrier-grade NAT address',
  private: 'a private address',
  reserved: 'a reserved address',
};

const IPV6_RANGE_NAMES: Record<string, string> = {
  unspecified: 'an unspecified address',
  multicast: 'a multicast address',
  linkLocal: 'a link-local address',
  loopback: 'a loopback address',
  uniqueLocal: 'a unique-local address',
  deprecatedSiteLocal: 'a site-local address',
  reserved: 'a reserved address',
  rfc6052: 'a NAT64 address',
  '6to4': 'a 6to4 tunnel address',
  teredo: 'a Teredo tunnel address',
};

function ipv4Refusal(address: ipaddr.IPv4): string | undefined {
  const range = address.range();
  if (range === 'unicast') return undefined;
  return IPV4_RANGE_NAMES[range] ?? `a special-purpose address (${range})`;
}

function ipv6Refusal(address: ipaddr.IPv6, allow: AllowList): string | undefined {
  const embedded = embeddedIPv4(address);
  if (embedded !== undefined) {
    const reason = addressRefusal(embedded.toString(), allow);
    return reason === undefined ? undefined : `${reason} (as ${embedded.toString()})`;
  }
  const range = address.range();
  if (range === 'unicast') return undefined;
  return IPV6_RANGE_NAMES[range] ?? `a special-purpose address (${range})`;
}

/** The IPv4 address an IPv6 address stands for, in the forms a host or a NAT64 gateway would deliver to it. */
function embeddedIPv4(address: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const p = address.parts;
  const lastTwo = (): ipaddr.IPv4 => new ipaddr.IPv4([p[6]! >> 8, p[6]! & 0xff, p[7]! >> 8, p[7]! & 0xff]);
  const zeros = (from: number, to: number): boolean => p.slice(from, to).every((part) => part === 0);
  // ::ffff:a.b.c.d (IPv4-mapped): a socket to it is an IPv4 socket.
  if (address.isIPv4MappedAddress()) return lastTwo();
  // ::a.b.c.d (deprecated IPv4-compatible); :: and ::1 are left to range().
  if (zeros(0, 6) && (p[6] !== 0 || p[7]! > 1)) return lastTwo();
  // ::ffff:0:a.b.c.d (RFC 6145 translated).
  if (zeros(0, 4) && p[4] === 0xffff && p[5] === 0) return lastTwo();
  // 64:ff9b::a.b.c.d (RFC 6052 well-known NAT64 prefix).
  if (p[0] === 0x64 && p[1] === 0xff9b && zeros(2, 6)) return lastTwo();
  return undefined;
}

/** ::ffff:a.b.c.d is an IPv4 address in IPv6 clothing; match it against IPv4 ranges. */
function unmapped(address: Address): Address {
  return address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()
    ? (address as ipaddr.IPv6).toIPv4Address()
    : address;
}

function withoutTrailingDot(hostname: string): string {
  return hostname.endsWith('.') ? hostname.slice(0, -1) : hostname;
}
