import { readFileSync } from 'node:fs';

export const fixtureText = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
export const fixture = (name: string): any => JSON.parse(fixtureText(name));
