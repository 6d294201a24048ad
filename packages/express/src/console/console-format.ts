import { Money } from '@marketkit/core';

/** An amount in minor units for display, exactly (core's `Money.format`); unknown currencies as `<minor> <code>`. */
export function formatMinor(minor: bigint, currency: string, locale: string): string {
  try {
    return Money.fromMinor(minor, currency).format(locale);
  } catch {
    return `${minor} ${currency}`;
  }
}

/** A duration for people: `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return min % 60 === 0 ? `${h} h` : `${h} h ${min % 60} min`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 ? `${d} d` : `${d} d ${h % 24} h`;
}

/** A time as `2026-03-01 14:05 UTC`. */
export function formatTime(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/**
 * A decimal ratio (`'0.1234'`) as a percentage (`'12.34 %'`), by moving the decimal point: exact, no float. Anything
 * that is not a plain decimal is shown as is.
 */
export function formatRatio(ratio: string): string {
  const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(ratio);
  if (m === null) return ratio;
  const [, sign = '', int = '0', frac = ''] = m;
  const digits = `${int}${frac.padEnd(2, '0')}`;
  const point = int.length + 2;
  const whole = digits.slice(0, point).replace(/^0+(?=\d)/, '');
  const rest = digits.slice(point);
  return `${sign}${whole}${rest === '' ? '' : `.${rest}`} %`;
}
