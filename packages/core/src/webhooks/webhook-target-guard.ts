import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { MarketkitError } from '../errors/marketkit-error.js';

/** Why a webhook URL was refused (`WEBHOOK_TARGET_REFUSED` details). */
export type TargetRefusal = 'scheme' | 'privateAddress' | 'unresolvable';

/** True for an address on the public internet: not private, loopback, link-local, multicast, reserved, … */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  return ipaddr.process(address).range() === 'unicast';
}

function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  return ipaddr.isValid(host) && ipaddr.process(host).range() === 'loopback';
}

/** The URL's host without IPv6 brackets. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

function refused(url: string, reason: TargetRefusal, address?: string): MarketkitError<'WEBHOOK_TARGET_REFUSED'> {
  const where = address === undefined ? '' : ` (${address})`;
  const why = {
    scheme: 'must be https (http only for a loopback host, with allowPrivateTargets)',
    privateAddress: `resolves to a private, loopback or link-local address${where}; set webhooks.allowPrivateTargets to allow it`,
    unresolvable: 'does not resolve',
  }[reason];
  return new MarketkitError('WEBHOOK_TARGET_REFUSED', {
    message: `Webhook URL refused: ${why}.`,
    details: { url, reason, ...(address === undefined ? {} : { address }) },
  });
}

/**
 * Checks a webhook URL before it is stored: https (http only to a loopback host when private targets are allowed),
 * and, unless private targets are allowed, a host whose every address (a literal one, or all the DNS gives) is
 * public. Throws `WEBHOOK_TARGET_REFUSED`.
 */
export async function checkWebhookTarget(raw: string, allowPrivate: boolean): Promise<void> {
  const url = new URL(raw);
  const host = hostOf(url);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowPrivate && isLoopbackHost(host))) {
    throw refused(raw, 'scheme');
  }
  if (allowPrivate) return;
  const addresses = isIP(host) ? [host] : await resolveAll(host).catch(() => undefined);
  if (addresses === undefined || addresses.length === 0) throw refused(raw, 'unresolvable');
  const bad = addresses.find((a) => !isPublicAddress(a));
  if (bad !== undefined) throw refused(raw, 'privateAddress', bad);
}

function resolveAll(host: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    dnsLookup(host, { all: true }, (error, addresses) => {
      if (error) reject(error);
      else resolve(addresses.map((a) => a.address));
    });
  });
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for `http.request` that refuses, at connect time, a host resolving to a non-public address: the socket
 * connects only to an address this function checked, so a DNS answer that changes after the endpoint was created
 * (DNS rebinding) cannot reach the private network. `undefined` (no check) when private targets are allowed.
 */
export function guardedLookup(allowPrivate: boolean) {
  if (allowPrivate) return undefined;
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const bad = addresses.find((a) => !isPublicAddress(a.address));
      if (bad !== undefined) {
        const e: NodeJS.ErrnoException = new Error(`${hostname} resolves to a non-public address (${bad.address})`);
        e.code = 'WEBHOOK_TARGET_REFUSED';
        return callback(e, []);
      }
      if (options.all === true) return callback(null, addresses);
      const first = addresses[0];
      if (first === undefined) return callback(Object.assign(new Error('no address'), { code: 'ENOTFOUND' }), []);
      return callback(null, first.address, first.family);
    });
  };
}

/** The refusal of a literal IP target at delivery time (a literal host is never looked up). @internal */
export function literalTargetRefusal(raw: string, allowPrivate: boolean): string | undefined {
  if (allowPrivate) return undefined;
  const host = hostOf(new URL(raw));
  return isIP(host) && !isPublicAddress(host) ? `refused: ${host} is not a public address` : undefined;
}
