/**
 * Parses the .NET TimeSpan strings host.json and Service Bus settings use
 * (`hh:mm:ss`, `d.hh:mm:ss`, `hh:mm:ss.fff`) and ISO 8601 durations (`PT1M`, `P1DT2H`), to milliseconds.
 */
export function parseDuration(value: string): number {
  const text = value.trim();
  const iso =
    /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i.exec(
      text,
    );
  if (iso && text.length > 1 && text.toUpperCase() !== 'PT') {
    const [, d, h, m, s] = iso;
    return Math.round(
      ((Number(d ?? 0) * 24 + Number(h ?? 0)) * 60 + Number(m ?? 0)) * 60_000 + Number(s ?? 0) * 1000,
    );
  }
  const span = /^(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,7}))?$/.exec(text);
  if (span) {
    const [, d, h, m, s, fraction] = span;
    const ms = fraction ? Number(`0.${fraction}`) * 1000 : 0;
    return Math.round(((Number(d ?? 0) * 24 + Number(h)) * 60 + Number(m)) * 60_000 + Number(s) * 1000 + ms);
  }
  throw new Error(`"${value}" is not a duration (expected hh:mm:ss, d.hh:mm:ss or ISO 8601 like PT1M)`);
}

/** Formats milliseconds as a .NET TimeSpan (`d.hh:mm:ss`), the form the Durable SDK parses. */
export function formatTimeSpan(ms: number): string {
  const totalSeconds = Math.floor(ms / 1000);
  const days = Math.floor(totalSeconds / 86_400);
  const pad = (n: number) => String(n).padStart(2, '0');
  const hours = Math.floor((totalSeconds % 86_400) / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  return `${days > 0 ? `${days}.` : ''}${pad(hours)}:${pad(minutes)}:${pad(seconds)}`;
}
