// An independent OpenID Connect provider (the `oidc-provider` npm package,
// version pinned in package.json) for tg-auth's interoperability test
// (shared/auth/tests/oidc_interop.rs). It is not our code issuing the
// tokens: we only configure it.
//
//   node provider.mjs [port]        (or PORT=...; default 0 = any free port)
//
// Environment:
//   OIDC_CLIENT_SECRET  the confidential client's secret (required; the
//                       test generates one per run; it is never printed)
//   PORT                the port, when not given as the first argument
//
// stdout carries exactly one line, `LISTENING <issuer>`, once the provider
// accepts connections; diagnostics go to stderr. The process exits when its
// stdin closes (the test dropped it), on SIGTERM or SIGINT.
//
// What it issues:
//  * client `ticketgw-interop` (client_secret_basic), grants
//    `client_credentials` and CIBA (poll mode; any `login_hint` is
//    authenticated at once as that account, so the test gets a user's tokens
//    and an ID token without a browser);
//  * resource server `urn:ticketgw:api`: JWT access tokens (RFC 9068,
//    header typ `at+jwt`), `aud` = `ticketgw`, ES256; without a `resource`
//    parameter access tokens are opaque;
//  * every access token carries `roles: ['organizer']`,
//    `realm_access.roles: ['organizer']` and
//    `resource_access['ticketgw-interop'].roles: ['admin']` (a client role,
//    read only when the verifier is configured with that client id).

import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import process from 'node:process';

import Provider from 'oidc-provider';

// oidc-provider prints notices with console.info (stdout); keep stdout for
// the LISTENING line only.
console.info = console.error; // eslint-disable-line no-console
console.log = console.error; // eslint-disable-line no-console

const CLIENT_ID = 'ticketgw-interop';
const RESOURCE = 'urn:ticketgw:api';
const AUDIENCE = 'ticketgw';
const RESOURCE_SCOPE = 'tickets:read tickets:write';

function fail(message) {
  console.error(`provider.mjs: ${message}`);
  process.exit(2);
}

const portArg = process.argv[2] ?? process.env.PORT ?? '0';
const port = Number(portArg);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  fail(`invalid port ${JSON.stringify(portArg)}`);
}
const clientSecret = process.env.OIDC_CLIENT_SECRET;
if (!clientSecret || clientSecret.length < 16) {
  fail('OIDC_CLIENT_SECRET must be set (at least 16 characters)');
}

// A fresh ES256 signing key per run (public part served at jwks_uri).
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: `es256-${randomUUID()}`,
  alg: 'ES256',
  use: 'sig',
};

const tokenClaims = {
  roles: ['organizer'],
  realm_access: { roles: ['organizer'] },
  resource_access: { [CLIENT_ID]: { roles: ['admin'] } },
};

const server = createServer();
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: clientSecret,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials', 'urn:openid:params:grant-type:ciba'],
        response_types: [],
        redirect_uris: [],
        backchannel_token_delivery_mode: 'poll',
        id_token_signed_response_alg: 'ES256',
      },
    ],
    // Accounts exist for any subject; they carry no profile claims.
    async findAccount(ctx, sub) {
      return { accountId: sub, async claims() { return { sub }; } };
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: false },
      revocation: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => undefined,
        useGrantedResource: async () => false,
        async getResourceServerInfo(ctx, resourceIndicator) {
          if (resourceIndicator !== RESOURCE) {
            throw new Provider.errors.InvalidTarget();
          }
          return {
            scope: RESOURCE_SCOPE,
            audience: AUDIENCE,
            accessTokenTTL: 5 * 60,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
      ciba: {
        enabled: true,
        deliveryModes: ['poll'],
        async processLoginHint(ctx, loginHint) {
          return loginHint;
        },
        async processLoginHintToken() {
          throw new Provider.errors.InvalidRequest('login_hint_token is not supported');
        },
        async validateBindingMessage() {},
        async validateRequestContext() {},
        async verifyUserCode() {},
        // The "authentication device" approves at once: the scopes and the
        // resource requested are granted.
        async triggerAuthenticationDevice(ctx, request, account, client) {
          const grant = new provider.Grant({ clientId: client.clientId, accountId: account.accountId });
          grant.addOIDCScope('openid');
          if (request.resource) {
            for (const resource of [].concat(request.resource)) {
              grant.addResourceScope(resource, RESOURCE_SCOPE);
            }
          }
          await grant.save();
          await provider.backchannelResult(request, grant, { authTime: Math.floor(Date.now() / 1000) });
        },
      },
    },
    // Short lifetimes; set explicitly so the provider does not warn about defaults.
    ttl: {
      AccessToken: 5 * 60,
      BackchannelAuthenticationRequest: 2 * 60,
      ClientCredentials: 5 * 60,
      Grant: 10 * 60,
      IdToken: 5 * 60,
    },
    enabledJWA: {
      idTokenSigningAlgValues: ['ES256'],
    },
    async extraTokenClaims() {
      return tokenClaims;
    },
    // Client credentials and CIBA are all this provider serves.
    async issueRefreshToken() {
      return false;
    },
    renderError(ctx, out) {
      ctx.type = 'json';
      ctx.body = out;
    },
  });
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
// The test holds our stdin; when it goes away (test ended or crashed), so do we.
process.stdin.on('end', shutdown);
process.stdin.on('close', shutdown);
process.stdin.on('error', shutdown);
process.stdin.resume();
