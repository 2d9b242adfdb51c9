/**
 * A scale-bar label as read ("200 nm", "0.5 µm", "1 um", "50nm", "2 µm")
 * to a length in nm. OCR reads µ as u, p, y or "ju" and O for 0 often
 * enough that those readings are accepted; a reading that is not a number
 * followed by a length unit gives undefined, never a guess.
 */

export interface LabelLength {
  readonly nm: number;
  /** The number and unit as understood, e.g. "0.5 µm". */
  readonly text: string;
}

const UNIT_NM: Record<string, { nm: number; name: string }> = {
  nm: { nm: 1, name: 'nm' },
  um: { nm: 1000, name: 'µm' },
  mm: { nm: 1e6, name: 'mm' },
  a: { nm: 0.1, name: 'Å' },
};

/** OCR's usual readings of the micro sign, and of nm, mapped to the unit they stand for. */
function unitKey(raw: string): string | undefined {
  const u = raw.toLowerCase().replace(/\s+/g, '');
  if (u === 'nm' || u === 'rn' || u === 'nrn' || u === 'run') return 'nm';
  if (/^(µ|μ|u|p|y|ju|pu|µu|jj|iu|lu)m$/.test(u)) return 'um';
  if (u === 'mm') return 'mm';
  if (u === 'å' || u === 'a') return 'a';
  return undefined;
}

export function parseLabel(raw: string): LabelLength | undefined {
  const text = raw.replace(/[\r\n]+/g, ' ').trim();
  const match = /([0-9OoIl|.,]*[0-9][0-9OoIl|.,]*)\s*([a-zA-Zµμå]{1,3})\b/u.exec(text) ?? /([0-9OoIl|.,]*[0-9][0-9OoIl|.,]*)\s*([a-zA-Zµμå]{1,3})/u.exec(text);
  if (!match) return undefined;
  const digits = match[1]!
    .replace(/[Oo]/g, '0')
    .replace(/[Il|]/g, '1')
    .replace(/[.,]+$/, '')
    .replace(',', '.');
  if (!/^\d+(\.\d+)?$/.test(digits)) return undefined;
  const key = unitKey(match[2]!);
  if (!key) return undefined;
  const value = Number(digits);
  if (!(value > 0)) return undefined;
  const unit = UNIT_NM[key]!;
  return { nm: value * unit.nm, text: `${digits} ${unit.name}` };
}
