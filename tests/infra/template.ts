/**
 * Synthesises the stack for template assertions: bundling is skipped
 * (aws:cdk:bundling-stacks = []), so no esbuild or native copies run here;
 * the synthesis smoke test covers bundling.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll } from 'vitest';
import { ExodetectStack, type ExodetectStackProps } from '../../infra/exodetect-stack.js';

// An App without an outdir stages its assets (a 22 MB layer zip among them) in a new temp folder that nothing
// removes: every test run left ~1 GB in /tmp. These apps stage in one folder per test file, removed after it.
let outdirRoot: string | undefined;
let apps = 0;
afterAll(() => {
  if (outdirRoot) rmSync(outdirRoot, { recursive: true, force: true });
  outdirRoot = undefined;
});

/** An App for tests: bundling skipped, its assembly in a folder removed when the test file ends. */
export function testApp(context: Record<string, unknown> = {}): App {
  outdirRoot ??= mkdtempSync(join(tmpdir(), 'exodetect-cdk-test-'));
  return new App({ outdir: join(outdirRoot, `app-${apps++}`), context: { 'aws:cdk:bundling-stacks': [], ...context } });
}

export function synthStack(props: ExodetectStackProps = {}): { app: App; stack: ExodetectStack; template: Template } {
  const app = testApp({ '@aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2': true });
  const stack = new ExodetectStack(app, 'Exo', props);
  return { app, stack, template: Template.fromStack(stack) };
}

export const logicalId = (stack: Stack, construct: { node: { defaultChild?: unknown } }): string =>
  stack.getLogicalId(construct.node.defaultChild as never);

type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };

/** Every policy statement attached to a role (inline default policies), by the role's logical id. */
export function statementsOfRole(template: Template, roleLogicalId: string): Statement[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((p: any) => (p.Properties.Roles as unknown[]).some((r: any) => r.Ref === roleLogicalId))
    .flatMap((p: any) => p.Properties.PolicyDocument.Statement as Statement[]);
}

/** A resource rendered the way a person reads it: `<Bucket>/batches/*`, `<Bucket>`, `arn:...`. */
export function renderResource(resource: unknown, bucketLogicalId: string): string {
  if (typeof resource === 'string') return resource;
  const r = resource as Record<string, any>;
  if (r['Fn::GetAtt']) return r['Fn::GetAtt'][0] === bucketLogicalId ? '<Bucket>' : `<${r['Fn::GetAtt'][0]}>`;
  if (r.Ref) return `<${r.Ref}>`;
  if (r['Fn::Join']) return (r['Fn::Join'][1] as unknown[]).map((p) => renderResource(p, bucketLogicalId)).join(r['Fn::Join'][0]);
  return JSON.stringify(resource);
}

/** S3 access of a role as `action resource` lines, e.g. `s3:GetObject <Bucket>/models/*`. */
export function s3AccessOf(template: Template, roleLogicalId: string, bucketLogicalId: string): string[] {
  const lines: string[] = [];
  for (const s of statementsOfRole(template, roleLogicalId)) {
    const actions = ([] as string[]).concat(s.Action).filter((a) => a.startsWith('s3:'));
    const resources = ([] as unknown[]).concat(s.Resource).map((r) => renderResource(r, bucketLogicalId));
    const prefixes = (s.Condition as any)?.StringLike?.['s3:prefix'] as string[] | undefined;
    for (const a of actions) for (const r of resources) lines.push(prefixes ? `${a} ${r} prefix=${prefixes.join(',')}` : `${a} ${r}`);
  }
  return lines.sort();
}
