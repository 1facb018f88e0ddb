// An independent OpenID Provider (the `oidc-provider` npm package, version
// pinned in package.json) standing in for Keycloak in the web app's OIDC
// browser test (web/e2e/oidc.spec.ts). We only configure it: the sign-in,
// PKCE, codes, tokens and discovery are its own.
//
//   WEB_URL=http://127.0.0.1:3000 node provider.mjs
//
// Environment:
//   WEB_URL  the web app's public URL: the client's redirect URI is
//            ${WEB_URL}/auth/callback, its post-logout URI ${WEB_URL}/
//
// stdout carries exactly one line, `LISTENING <issuer>`, once the provider
// accepts connections; diagnostics go to stderr. The process exits on
// SIGTERM, SIGINT, or when its stdin closes.
//
// What it issues:
//  * client `ticketgw-web`: public (no secret), authorization code with PKCE
//    S256, refresh tokens;
//  * the sign-in and consent pages are oidc-provider's development
//    interactions: any login and password is accepted, the login becomes the
//    account's `sub` and `email`;
//  * access tokens for the resource `urn:ticketgw:api` (the default resource):
//    JWTs (RFC 9068, typ `at+jwt`), `aud` = `ticketgw`, ES256, carrying the
//    account's email and name.

import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import process from 'node:process';

import Provider from 'oidc-provider';

console.info = console.error; // eslint-disable-line no-console
console.log = console.error; // eslint-disable-line no-console

const CLIENT_ID = 'ticketgw-web';
const RESOURCE = 'urn:ticketgw:api';
const AUDIENCE = 'ticketgw';

function fail(message) {
  console.error(`provider.mjs: ${message}`);
  process.exit(2);
}

const webUrl = (process.env.WEB_URL ?? '').replace(/\/+$/, '');
if (!/^https?:\/\//.test(webUrl)) fail('WEB_URL must be set to the web app\'s URL');

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: `es256-${randomUUID()}`, alg: 'ES256', use: 'sig' };

function profile(sub) {
  const email = sub.includes('@') ? sub : `${sub}@oidc.test`;
  return { sub, email, email_verified: true, name: `OIDC ${email.split('@')[0]}` };
}

const server = createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    clients: [
      {
        client_id: CLIENT_ID,
        token_endpoint_auth_method: 'none',
        application_type: 'web',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [`${webUrl}/auth/callback`],
        post_logout_redirect_uris: [`${webUrl}/`],
        id_token_signed_response_alg: 'ES256',
      },
    ],
    async findAccount(ctx, sub) {
      return { accountId: sub, async claims() { return profile(sub); } };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    pkce: { required: () => true, methods: ['S256'] },
    scopes: ['openid', 'profile', 'email', 'offline_access'],
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => RESOURCE,
        useGrantedResource: async () => true,
        async getResourceServerInfo(ctx, resourceIndicator) {
          if (resourceIndicator !== RESOURCE) throw new Provider.errors.InvalidTarget();
          return {
            scope: 'openid profile email',
            audience: AUDIENCE,
            accessTokenTTL: 10 * 60,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },
    ttl: {
      AccessToken: 10 * 60,
      AuthorizationCode: 60,
      Grant: 60 * 60,
      IdToken: 10 * 60,
      Interaction: 10 * 60,
      RefreshToken: 60 * 60,
      Session: 60 * 60,
    },
    enabledJWA: { idTokenSigningAlgValues: ['ES256'] },
    async extraTokenClaims(ctx, token) {
      if (token.kind !== 'AccessToken' || !token.accountId) return undefined;
      const { email, name } = profile(token.accountId);
      return { email, name };
    },
    // Refresh tokens whenever the client may use them (it asks for offline_access).
    async issueRefreshToken(ctx, client, code) {
      return client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access');
    },
  });
  provider.proxy = false;
  provider.on('server_error', (ctx, err) => console.error('provider.mjs: server_error', err));
  server.on('request', provider.callback());
  process.stdout.write(`LISTENING ${issuer}\n`);
});
server.on('error', (err) => fail(`cannot listen: ${err.message}`));

function shutdown() {
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
process.stdin.on('end', shutdown);
process.stdin.on('close', shutdown);
process.stdin.resume();
