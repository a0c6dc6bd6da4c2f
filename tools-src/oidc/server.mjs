// The identity provider Hoop's end-to-end tests start: npm oidc-provider (OpenID Certified).
// Issues JWT access tokens for Hoop's audience by client credentials, with a "groups" claim per client,
// and serves the code flow with its development login form (any user name, any password).
//   node server.mjs <port> '<clients JSON>' ['<accounts JSON>']
// clients JSON: [{ "client_id": "...", "client_secret": "...", "groups": ["..."], "redirect_uris": ["..."],
//                  "post_logout_redirect_uris": ["..."] }]
// accounts JSON: { "<user name>": ["<group>", ...] }: the groups people get in their ID token.
import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? 0);
const clients = JSON.parse(process.argv[3] ?? '[]');
const audience = process.env.HOOP_AUDIENCE ?? 'urn:hoop:proxy';
const issuer = `http://127.0.0.1:${port}`;
const groupsOf = new Map(clients.map(c => [c.client_id, c.groups ?? []]));
const accounts = JSON.parse(process.argv[4] ?? '{}');

const provider = new Provider(issuer, {
  clients: clients.map(c => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    grant_types: c.redirect_uris ? ['authorization_code', 'client_credentials'] : ['client_credentials'],
    response_types: c.redirect_uris ? ['code'] : [],
    redirect_uris: c.redirect_uris ?? [],
    post_logout_redirect_uris: c.post_logout_redirect_uris ?? [],
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
    claims: () => ({ sub: id, name: id, preferred_username: id, groups: accounts[id] ?? groupsOf.get(id) ?? [] }),
  }),
  extraTokenClaims: (ctx, token) => ({ groups: groupsOf.get(token.clientId) ?? [] }),
  pkce: { required: () => true },
  // Requested claims (groups) go into the ID token, as most providers can be set to do.
  conformIdTokenClaims: false,
});
provider.proxy = false;

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
