import { describe, expect, it } from 'vitest';
import {
  addressProblem,
  signWebhook,
  verifyWebhook,
  webhookUrlProblem,
} from '../../../shared/domain/webhooks.js';

// The Standard Webhooks specification's published test vector.
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const CONTENT = { id: 'msg_p5jXN8AQM9LWM0D4loKWxJek', timestamp: 1614265330, body: '{"test": 2432232314}' };
const SIGNATURE = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';

describe('webhook signatures', () => {
  it('should reproduce the Standard Webhooks test vector', () => {
    expect(signWebhook(SECRET, CONTENT)).toBe(SIGNATURE);
    expect(signWebhook(SECRET.slice('whsec_'.length), CONTENT)).toBe(SIGNATURE);
  });

  it('should verify what it signs, and nothing altered, stale or signed with another key', () => {
    const now = CONTENT.timestamp + 10;
    expect(verifyWebhook(SECRET, CONTENT, SIGNATURE, now)).toBe(true);
    expect(verifyWebhook(SECRET, CONTENT, `v1,bm90IGl0 ${SIGNATURE}`, now)).toBe(true);
    expect(verifyWebhook(SECRET, { ...CONTENT, body: '{"test": 2432232315}' }, SIGNATURE, now)).toBe(false);
    expect(verifyWebhook(SECRET, { ...CONTENT, id: 'msg_other' }, SIGNATURE, now)).toBe(false);
    expect(verifyWebhook(SECRET, CONTENT, SIGNATURE, CONTENT.timestamp + 301)).toBe(false);
    expect(verifyWebhook(SECRET, CONTENT, SIGNATURE.replace('v1', 'v2'), now)).toBe(false);
    expect(verifyWebhook('whsec_' + Buffer.alloc(32, 1).toString('base64'), CONTENT, SIGNATURE, now)).toBe(
      false,
    );
  });

  it('should refuse a secret that is not base64 of enough bytes', () => {
    expect(() => signWebhook('whsec_short', CONTENT)).toThrow(/at least 16 bytes/);
    expect(() => signWebhook('whsec_not base64 at all!!', CONTENT)).toThrow(/whsec_/);
  });
});

describe('webhook targets', () => {
  const strict = { allowHttp: false, allowLoopback: false };
  const local = { allowHttp: true, allowLoopback: true };

  it.each([
    ['http://127.0.0.1/hook', 'https'],
    ['https://127.0.0.1/hook', 'loopback'],
    ['https://localhost/hook', 'loopback'],
    ['https://api.localhost/hook', 'loopback'],
    ['https://[::1]/hook', 'loopback'],
    ['https://169.254.169.254/latest/meta-data', 'metadata'],
    ['https://168.63.129.16/machine', 'metadata'],
    ['https://[fd00:ec2::254]/', 'metadata'],
    ['https://10.1.2.3/hook', 'private'],
    ['https://172.16.0.1/hook', 'private'],
    ['https://172.31.255.255/hook', 'private'],
    ['https://192.168.1.1/hook', 'private'],
    ['https://100.64.0.1/hook', 'carrierGradeNat'],
    ['https://[fc00::1]/hook', 'uniqueLocal'],
    ['https://[fe80::1]/hook', 'linkLocal'],
    ['https://[ff02::1]/hook', 'multicast'],
    ['https://224.0.0.1/hook', 'multicast'],
    ['https://0.0.0.0/hook', 'unspecified'],
    ['https://[::ffff:127.0.0.1]/hook', 'loopback'],
    ['https://[::ffff:10.0.0.1]/hook', 'private'],
    ['https://[64:ff9b::7f00:1]/hook', 'rfc6052'],
    ['https://2130706433/hook', 'loopback'],
    ['https://0177.0.0.1/hook', 'loopback'],
    ['https://0x7f.1/hook', 'loopback'],
    ['https://017700000001/hook', 'loopback'],
    ['https://intranet/hook', 'not a public host name'],
    ['https://user:pass@example.org/hook', 'credentials'],
    ['http://example.org/hook', 'https'],
    ['ftp://example.org/hook', 'https'],
    ['not a url', 'not a URL'],
  ])('should refuse %s (%s)', (url, why) => {
    expect(webhookUrlProblem(url, strict)).toContain(why);
  });

  it.each(['https://example.org/hook', 'https://8.8.8.8/x', 'https://[2001:4860:4860::8888]/x'])(
    'should accept %s',
    (url) => {
      expect(webhookUrlProblem(url, strict)).toBeUndefined();
    },
  );

  it('should allow loopback and http only where the deployment allows them', () => {
    expect(webhookUrlProblem('http://127.0.0.1:9000/hook', local)).toBeUndefined();
    expect(webhookUrlProblem('http://localhost:9000/hook', local)).toBeUndefined();
    expect(webhookUrlProblem('http://[::1]:9000/hook', local)).toBeUndefined();
    expect(webhookUrlProblem('http://10.0.0.1/hook', local)).toContain('private');
    expect(webhookUrlProblem('http://169.254.169.254/', local)).toContain('metadata');
  });

  it('should judge resolved addresses the same way', () => {
    expect(addressProblem('10.0.0.7', strict)).toContain('private');
    expect(addressProblem('::ffff:192.168.0.1', strict)).toContain('private');
    expect(addressProblem('93.184.216.34', strict)).toBeUndefined();
    expect(addressProblem('example.org', strict)).toContain('not an IP address');
  });
});
