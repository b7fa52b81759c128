// The peer of bench/token.sh: npm `oidc-provider` 9 with one confidential
// client allowed client_credentials (client_secret_basic, scope `api`), the
// in-memory adapter, and either opaque access tokens or RS256 JWT access
// tokens (resource indicators: every token is for one default resource
// server whose format is `jwt`).
//
// usage: node oidc-provider-server.mjs PORT opaque|jwt
// bench/token.sh copies this file next to its node_modules and runs it.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const [port, mode] = process.argv.slice(2);
if (!port || !['opaque', 'jwt'].includes(mode)) {
  console.error('usage: node oidc-provider-server.mjs PORT opaque|jwt');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const RESOURCE = 'urn:gatehouse:bench';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig', kid: 'bench-rs256' };

const resourceIndicators = mode === 'jwt'
  ? {
    enabled: true,
    defaultResource: async () => RESOURCE,
    useGrantedResource: async () => true,
    getResourceServerInfo: async () => ({
      scope: 'api',
      audience: RESOURCE,
      accessTokenTTL: 3600,
      accessTokenFormat: 'jwt',
      jwt: { sign: { alg: 'RS256' } },
    }),
  }
  : { enabled: false };

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'bench',
    client_secret: 'bench-secret',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'api',
  }],
  clientBasedCORS: () => true,
  scopes: ['api'],
  jwks: { keys: [jwk] },
  cookies: { keys: ['bench-only-cookie-key'] },
  ttl: { ClientCredentials: 3600 },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators,
  },
});

provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`oidc-provider ${mode} listening on ${issuer}`);
});
