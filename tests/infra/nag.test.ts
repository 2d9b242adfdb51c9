import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { ExodetectStack, type ExodetectStackProps } from '../../infra/exodetect-stack.js';
import { testApp } from './template.js';

function nag(props: ExodetectStackProps) {
  const app = testApp();
  const stack = new ExodetectStack(app, 'Exo', props);
  const report = new AwsSolutionsChecks().validateScope(stack);
  const findings = report.violations.flatMap((v) =>
    v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`),
  );
  const acknowledgements = stack.node
    .findAll()
    .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
    .flatMap((m) => Object.entries(m.data as Record<string, string>))
    .filter(([id]) => id.includes('AwsSolutions'));
  return { report, findings, acknowledgements };
}

describe.each([
  ['default (SSE-S3)', {}],
  ['with a KMS key and a concrete environment', { useKmsKey: true, env: { account: '123456789012', region: 'eu-west-1' } }],
] as Array<[string, ExodetectStackProps]>)('cdk-nag AwsSolutions, %s', (_name, props) => {
  const { report, findings, acknowledgements } = nag({ notificationEmails: ['ops@example.org'], ...props });

  it('reports no unacknowledged finding', () => {
    expect(findings).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('gives every acknowledgement a specific reason, and wildcard acknowledgements name their finding', () => {
    expect(acknowledgements.length).toBeGreaterThan(10);
    for (const [id, reason] of acknowledgements) {
      expect(reason.length, id).toBeGreaterThan(40);
      if (id.includes('IAM5')) expect(id, 'IAM5 acknowledgements must be per finding').toMatch(/IAM5\[(Resource|Action)::.+\]$/);
    }
    expect(new Set(acknowledgements.map(([, reason]) => reason)).size).toBeGreaterThan(10);
  });
});

describe('cdk-nag catches what it should', () => {
  it('reports a finding when a grant widens beyond the acknowledged prefixes', () => {
    const app = testApp();
    const stack = new ExodetectStack(app, 'Exo');
    stack.storage.bucket.grantRead(stack.inference.detectFunction); // whole bucket, not acknowledged
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(report.success).toBe(false);
    expect(report.violations.map((v) => v.ruleName).join(' ')).toMatch(/AwsSolutions-IAM5/);
  });
});
