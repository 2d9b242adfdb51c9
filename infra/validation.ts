/**
 * Prop validation with messages that quote the bad value, so a typo in
 * `cdk deploy -c ...` fails at synthesis with the value and the rule.
 */
import { Duration, Token } from 'aws-cdk-lib';

export class PropsError extends Error {
  override readonly name = 'PropsError';
}

export function checkInteger(name: string, value: number, min: number, max: number): number {
  if (Token.isUnresolved(value)) return value;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new PropsError(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(value)}`);
  }
  return value;
}

export function checkDuration(name: string, value: Duration, minSeconds: number, maxSeconds: number): Duration {
  const seconds = value.toSeconds();
  if (seconds < minSeconds || seconds > maxSeconds) {
    throw new PropsError(`${name} must be between ${minSeconds} s and ${maxSeconds} s, got ${seconds} s (${value.toHumanString()})`);
  }
  return value;
}

export function checkPattern(name: string, value: string, pattern: RegExp, rule: string): string {
  if (Token.isUnresolved(value)) return value;
  if (!pattern.test(value)) throw new PropsError(`${name} ${rule}, got ${JSON.stringify(value)}`);
  return value;
}

export const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
