/**
 * `-c key=value` context -> ExodetectStackProps. Values arrive as strings from
 * the command line and as JSON types from cdk.json; both are accepted, and a
 * malformed one fails with the key and the value.
 */
import { Duration } from 'aws-cdk-lib';
import type { ExodetectStackProps } from './exodetect-stack.js';
import { PropsError } from './validation.js';

export type ContextReader = (key: string) => unknown;

export function stackPropsFromContext(read: ContextReader): ExodetectStackProps {
  const str = (key: string): string | undefined => {
    const value = read(key);
    return value === undefined || value === null || value === '' ? undefined : String(value);
  };
  const num = (key: string): number | undefined => {
    const raw = str(key);
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value)) throw new PropsError(`context ${key} must be a number, got ${JSON.stringify(raw)}`);
    return value;
  };
  const bool = (key: string): boolean | undefined => {
    const raw = str(key);
    if (raw === undefined) return undefined;
    if (raw !== 'true' && raw !== 'false') throw new PropsError(`context ${key} must be true or false, got ${JSON.stringify(raw)}`);
    return raw === 'true';
  };
  const hours = (key: string): Duration | undefined => {
    const h = num(key);
    return h === undefined ? undefined : Duration.minutes(Math.round(h * 60));
  };
  const stringMap = (key: string): Record<string, string> | undefined => {
    const raw = read(key);
    if (raw === undefined || raw === null || raw === '') return undefined;
    let value: unknown = raw;
    if (typeof raw === 'string') {
      try {
        value = JSON.parse(raw);
      } catch {
        throw new PropsError(`context ${key} must be a JSON object of strings, got ${JSON.stringify(raw)}`);
      }
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.values(value).some((v) => typeof v !== 'string')) {
      throw new PropsError(`context ${key} must be a JSON object of strings, got ${JSON.stringify(raw)}`);
    }
    return value as Record<string, string>;
  };

  return {
    useKmsKey: bool('useKmsKey'),
    notificationEmails: str('notificationEmail')?.split(',').map((e) => e.trim()).filter(Boolean),
    mapMaxConcurrency: num('mapMaxConcurrency'),
    toleratedFailurePercentage: num('toleratedFailurePercentage'),
    detectItemsPerBatch: num('detectItemsPerBatch'),
    detectMemoryMb: num('detectMemoryMb'),
    detectReservedConcurrency: num('detectReservedConcurrency'),
    trainingDataset: str('trainingDataset'),
    trainingSchedule: str('trainingSchedule'),
    trainingScheduleEnabled: bool('trainingScheduleEnabled'),
    trainingInstanceType: str('trainingInstanceType'),
    trainingMaxRuntime: hours('trainingMaxRuntimeHours'),
    trainingMaxWait: hours('trainingMaxWaitHours'),
    trainingHyperparameters: stringMap('trainingHyperparameters'),
    trainingImageUri: str('trainingImageUri'),
  };
}
