// Numbers, money and times as a merchant reads them, in the console's language.
import { lang } from './i18n.js';

const locale = () => (lang() === 'zh' ? 'zh-CN' : 'en-GB');

// Fen (分) as yuan: ¥1,234.50. Integer arithmetic until the last step.
export function yuan(fen) {
  if (fen === null || fen === undefined) return '—';
  const sign = fen < 0 ? '-' : '';
  const abs = Math.abs(fen);
  const whole = Math.floor(abs / 100).toLocaleString(locale());
  return `${sign}¥${whole}.${String(abs % 100).padStart(2, '0')}`;
}

export function count(n) {
  return n === null || n === undefined ? '—' : Number(n).toLocaleString(locale());
}

// Basis points as a percentage with one decimal: 1234 → 12.3%.
export function percent(bps) {
  if (bps === null || bps === undefined) return '—';
  return `${(bps / 100).toFixed(1)}%`;
}

export function dateTime(rfc3339) {
  if (!rfc3339) return '—';
  return new Date(rfc3339).toLocaleString(locale(), { hour12: false });
}

export function time(rfc3339) {
  if (!rfc3339) return '—';
  return new Date(rfc3339).toLocaleTimeString(locale(), { hour12: false });
}

// Seconds as m:ss (or h:mm:ss).
export function countdown(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return hours ? `${hours}:${String(minutes).padStart(2, '0')}:${rest}` : `${minutes}:${rest}`;
}

// The start of today and of `days` days ago, in the browser's time zone, as RFC 3339.
export function dayStart(daysAgo = 0) {
  const day = new Date();
  day.setHours(0, 0, 0, 0);
  day.setDate(day.getDate() - daysAgo);
  return day.toISOString();
}
