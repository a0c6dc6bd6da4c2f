// The identity provider Hoop's end-to-end tests start: npm oidc-provider (OpenID Certified).
// Issues JWT access tokens for Hoop's audience by client credentials, with a "groups" claim per client,
// and serves the code flow with its development login form.
//   node server.mjs <port> '<clients JSON>'
// clients JSON: [{ "client_id": "...", "client_secret": "...", "groups": ["..."], "redirect_uris": ["..."] }]
import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? 0);
const clients = JSON.parse(process.argv[3] ?? '[]');
const audience = process.env.HOOP_AUDIENCE ?? 'urn:hoop:proxy';
const issuer = `http://127.0.0.1:${port}`;
const groupsOf = new Map(clients.map(c => [c.client_id, c.groups ?? []]));

const provider = new Provider(issuer, {
  clients: clients.map(c => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    grant_types: c.redirect_uris ? ['authorization_code', 'client_credentials'] : ['client_credentials'],
    response_types: c.redirect_uris ? ['code'] : [],
    redirect_uris: c.redirect_uris ?? [],
    scope: 'openid profile groups hoop',
  })),
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      getResourceServerInfo: () => ({ scope: 'hoop', audience, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } }),
      useGrantedResource: () => true,
    },
  },
  scopes: ['openid', 'profile', 'groups', 'hoop'],
  claims: { groups: ['groups'], profile: ['name', 'preferred_username'] },
  findAccount: (ctx, id) => ({
    accountId: id,
    claims: () => ({ sub: id, name: id, preferred_username: id, groups: groupsOf.get(id) ?? [] }),
  }),
  extraTokenClaims: (ctx, token) => ({ groups: groupsOf.get(token.clientId) ?? [] }),
  pkce: { required: () => true },
});
provider.proxy = false;

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
