// A real OpenID Connect provider (oidc-provider 9.x) for nsight-lab's authentication tests.
//
// Started by tests/support/oidc_provider.py with one argument, the path of a JSON settings
// file (see DEFAULTS below). It listens on 127.0.0.1 only, prints one JSON line
// {"event": "ready", "issuer": ...} on stdout once it accepts connections, and exits by
// itself when its standard input closes (the test process went away) or when
// `max_lifetime_s` has passed, so a crashed test run never leaves it behind.
//
// What it offers, and why each exists:
// - a login page of our own with known users and passwords (the library's development
//   pages accept any password, which would make "wrong password" untestable);
// - consent granted automatically, as first-party IdP clients usually are configured;
// - device flow, refresh tokens (offline_access), revocation, client credentials;
// - JWT access tokens through resource indicators: every token is minted for one
//   resource server (our API), so its `aud` is the API and the gateway's jwt_authn can
//   validate it against the JWKS;
// - a tenancy claim (`tags_claim`, default nsight_tags) from the user's (or the machine
//   client's) tags, in access tokens, ID tokens and userinfo;
// - lifetimes and signing keys changeable while running, through /_test/* routes that
//   need the admin token from the settings (tests shorten a lifetime or rotate keys
//   without restarting the provider, so the gateway's remote JWKS refresh can be tested).
//
// No page references anything off this machine (the library's default pages load web
// fonts); every page here is plain HTML.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';

import Provider, { errors } from 'oidc-provider';
// The library's in-memory adapter class, on the module-wide store: every provider built
// here (one per key rotation) then shares sessions, grants and refresh tokens.
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';

const DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  // Serve HTTPS with these PEM files when set (the tests' throwaway CA signs them).
  tls: null,
  audience: 'https://nsight-lab.test/api',
  resource_scope: 'nsight',
  tags_claim: 'nsight_tags',
  signing_alg: 'RS256',
  ttl: {
    access_token: 300,
    id_token: 300,
    refresh_token: 3600,
    device_code: 600,
    session: 3600,
  },
  clients: [],
  users: [],
  admin_token: null,
  max_lifetime_s: 3600,
  // The polling interval announced with a device code (the library announces none,
  // which means 5 s to clients); tests poll faster.
  device_interval_s: 1,
};

function loadSettings(path) {
  const given = JSON.parse(fs.readFileSync(path, 'utf8'));
  const settings = { ...DEFAULTS, ...given, ttl: { ...DEFAULTS.ttl, ...(given.ttl || {}) } };
  if (!settings.admin_token) {
    throw new Error('settings.admin_token is required (it guards the /_test/* routes)');
  }
  return settings;
}

const settings = loadSettings(process.argv[2]);
const usersByName = new Map(settings.users.map((u) => [u.username, u]));
const clientTags = new Map(
  settings.clients.filter((c) => c.nsight_tags).map((c) => [c.client_id, c.nsight_tags]),
);
const counters = { jwks: 0, token: 0, revocation: 0, device_authorization: 0, authorization: 0 };
// Cookie keys must outlive a key rotation: the rotated provider reads the same cookies.
const cookieKeys = [crypto.randomBytes(32).toString('base64url')];

function escapeHtml(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:sans-serif;max-width:28em;margin:3em auto}label{display:block;margin:.6em 0}
input{font-size:1em;padding:.3em;width:100%}button{font-size:1em;padding:.4em 1em;margin-top:.8em}
.error{color:#a00}</style></head>
<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

function newSigningKey() {
  const alg = settings.signing_alg;
  const { privateKey } = alg.startsWith('ES')
    ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, alg, use: 'sig', kid: `test-${crypto.randomBytes(6).toString('hex')}` };
}

function account(accountId) {
  const user = usersByName.get(accountId);
  if (!user) return undefined;
  return {
    accountId,
    async claims() {
      const claims = {
        sub: accountId,
        name: user.name || accountId,
        preferred_username: accountId,
        email: user.email || `${accountId}@nsight-lab.test`,
        email_verified: true,
      };
      if (user.tags) claims[settings.tags_claim] = user.tags;
      return claims;
    },
  };
}

function configuration(jwks) {
  const ttl = (name) => () => settings.ttl[name];
  return {
    adapter: (model) => new MemoryAdapter(model, undefined, 5),
    clients: settings.clients.map(({ nsight_tags: _tags, ...metadata }) => metadata),
    jwks: { keys: jwks },
    cookies: { keys: cookieKeys },
    findAccount: (_ctx, sub) => account(sub),
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
      [settings.tags_claim]: [settings.tags_claim],
    },
    scopes: ['openid', 'offline_access', 'profile', 'email', settings.tags_claim],
    features: {
      devInteractions: { enabled: false },
      deviceFlow: {
        enabled: true,
        userCodeInputSource: async (ctx, form, _out, err) => {
          const message = err ? '<p class="error">That code is not valid. Try again.</p>' : '';
          ctx.body = page(
            'Connect a device',
            `${message}<p>Enter the code your device shows.</p>${form}` +
              '<button type="submit" form="op.deviceInputForm">Continue</button>',
          );
        },
        userCodeConfirmSource: async (ctx, form, client, _info, userCode) => {
          ctx.body = page(
            'Confirm the device',
            `<p>${escapeHtml(client.clientName || client.clientId)} asks for access.</p>` +
              `<p>Code: <code id="user-code">${escapeHtml(userCode)}</code></p>${form}` +
              '<button type="submit" form="op.deviceConfirmForm">Continue</button>' +
              '<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Abort</button>',
          );
        },
        successSource: async (ctx) => {
          ctx.body = page('Device connected', '<p id="device-ok">You can close this page.</p>');
        },
      },
      revocation: { enabled: true },
      introspection: { enabled: true },
      clientCredentials: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.body = page(
            'Sign out',
            `${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>`,
          );
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.body = page('Signed out', '<p>You are signed out.</p>');
        },
      },
      resourceIndicators: {
        enabled: true,
        // Clients that do not ask for a resource (most CLIs, Envoy's oauth2 filter) still
        // get a token for our API: there is only one resource server here.
        defaultResource: async () => settings.audience,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, resourceIndicator) => {
          if (resourceIndicator !== settings.audience) {
            throw new errors.InvalidTarget(`unknown resource ${resourceIndicator}`);
          }
          return {
            scope: settings.resource_scope,
            audience: settings.audience,
            accessTokenTTL: settings.ttl.access_token,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: settings.signing_alg } },
          };
        },
      },
    },
    extraTokenClaims: async (_ctx, token) => {
      if (token.accountId) {
        const user = usersByName.get(token.accountId);
        if (user?.tags) return { [settings.tags_claim]: user.tags };
        return undefined;
      }
      const tags = clientTags.get(token.clientId);
      return tags ? { [settings.tags_claim]: tags } : undefined;
    },
    issueRefreshToken: async (_ctx, client, code) =>
      client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    ttl: {
      AccessToken: () => settings.ttl.access_token,
      ClientCredentials: () => settings.ttl.access_token,
      IdToken: ttl('id_token'),
      RefreshToken: ttl('refresh_token'),
      DeviceCode: ttl('device_code'),
      Session: ttl('session'),
      Grant: ttl('session'),
      Interaction: () => 600,
      AuthorizationCode: () => 60,
    },
    pkce: { required: () => true },
    enabledJWA: {
      idTokenSigningAlgValues: [settings.signing_alg],
    },
    clientDefaults: { id_token_signed_response_alg: settings.signing_alg },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      const lines = Object.entries(out)
        .map(([k, v]) => `<p><b>${escapeHtml(k)}</b>: <span class="${escapeHtml(k)}">${escapeHtml(v)}</span></p>`)
        .join('');
      ctx.body = page('Sign-in failed', lines);
    },
  };
}

let keys = [newSigningKey()];
let provider;
let issuer;

function buildProvider() {
  const next = new Provider(issuer, configuration(keys));
  next.proxy = false;
  next.on('server_error', (_ctx, err) => log({ event: 'server_error', message: String(err) }));
  for (const name of ['grant.success', 'grant.error']) {
    next.on(name, (ctx, err) =>
      log({ event: name, route: ctx.oidc?.route, error: err ? String(err.message) : undefined }),
    );
  }
  next.use(async (ctx, nextMiddleware) => {
    await nextMiddleware();
    const route = ctx.oidc?.route;
    if (route in counters) counters[route] += 1;
    if (route === 'device_authorization' && ctx.status === 200 && ctx.body) {
      ctx.body = { ...ctx.body, interval: settings.device_interval_s };
    }
  });
  return next;
}

function log(record) {
  process.stderr.write(`${JSON.stringify({ ts: Date.now() / 1000, ...record })}\n`);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : {};
}

function send(res, status, body, type = 'text/html; charset=utf-8') {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
  res.end(body);
}

function loginForm(uid, details, error) {
  const client = escapeHtml(details.params.client_id);
  const message = error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : '';
  return page(
    'Sign in to nsight-lab test IdP',
    `${message}<p>Client <code>${client}</code> wants you to sign in.</p>
<form method="post" action="/interaction/${escapeHtml(uid)}/login" autocomplete="off">
<label>Username <input name="username" id="username" autofocus required></label>
<label>Password <input name="password" id="password" type="password" required></label>
<button type="submit" id="sign-in">Sign in</button></form>
<p><a href="/interaction/${escapeHtml(uid)}/abort">Cancel</a></p>`,
  );
}

// Consent is granted for everything asked, as for a first-party client.
async function grantConsent(req, res, details) {
  const { prompt: { details: missing }, params, session } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  if (missing.missingResourceScopes) {
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
  }
  const grantId = await grant.save();
  const consent = details.grantId ? {} : { grantId };
  await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
}

async function interaction(req, res, url) {
  const match = url.pathname.match(/^\/interaction\/([\w-]+)(\/login|\/abort)?$/);
  if (!match) return send(res, 404, page('Not found', ''));
  const [, uid, action] = match;
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, page('Interaction mismatch', ''));
  if (action === '/abort') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'the user cancelled the sign-in',
    }, { mergeWithLastSubmission: false });
  }
  if (details.prompt.name === 'consent') return grantConsent(req, res, details);
  if (req.method === 'GET') return send(res, 200, loginForm(uid, details));
  if (action !== '/login' || req.method !== 'POST') return send(res, 405, page('Not allowed', ''));
  const form = await readForm(req);
  const user = usersByName.get(form.get('username') || '');
  const given = Buffer.from(form.get('password') || '');
  const expected = Buffer.from(user?.password || '');
  const ok = user && given.length === expected.length && crypto.timingSafeEqual(given, expected);
  if (!ok) {
    log({ event: 'login.failed', username: form.get('username') });
    return send(res, 401, loginForm(uid, details, 'Wrong username or password.'));
  }
  log({ event: 'login.success', username: user.username });
  return provider.interactionFinished(req, res, {
    login: { accountId: user.username },
  }, { mergeWithLastSubmission: false });
}

async function admin(req, res, url) {
  if (req.headers['x-test-admin'] !== settings.admin_token) {
    return send(res, 403, '{"error":"admin token required"}', 'application/json');
  }
  const reply = (body) => send(res, 200, JSON.stringify(body), 'application/json');
  if (url.pathname === '/_test/state' && req.method === 'GET') {
    return reply({
      issuer,
      kids: keys.map((k) => k.kid),
      ttl: settings.ttl,
      counters,
    });
  }
  if (url.pathname === '/_test/ttl' && req.method === 'POST') {
    const body = await readJson(req);
    for (const [name, value] of Object.entries(body)) {
      if (!(name in settings.ttl) || !Number.isInteger(value) || value <= 0) {
        return send(res, 400, JSON.stringify({ error: `bad ttl ${name}=${value}` }), 'application/json');
      }
      settings.ttl[name] = value;
    }
    return reply({ ttl: settings.ttl });
  }
  if (url.pathname === '/_test/rotate-keys' && req.method === 'POST') {
    // The new key signs from now on; the old one stays published for verification
    // unless `drop_old` (then tokens signed before the rotation no longer verify).
    const body = await readJson(req);
    const fresh = newSigningKey();
    keys = body.drop_old ? [fresh] : [fresh, ...keys];
    provider = buildProvider();
    log({ event: 'keys.rotated', kids: keys.map((k) => k.kid) });
    return reply({ kid: fresh.kid, kids: keys.map((k) => k.kid) });
  }
  return send(res, 404, '{"error":"no such test route"}', 'application/json');
}

async function handle(req, res) {
  const url = new URL(req.url, issuer);
  try {
    if (url.pathname.startsWith('/_test/')) return await admin(req, res, url);
    if (url.pathname.startsWith('/interaction/')) return await interaction(req, res, url);
    return provider.callback()(req, res);
  } catch (err) {
    log({ event: 'handler_error', path: url.pathname, message: String(err?.stack || err) });
    if (!res.headersSent) send(res, 400, page('Sign-in failed', `<p class="error">${escapeHtml(err.message)}</p>`));
    return undefined;
  }
}

const server = settings.tls
  ? https.createServer(
    { cert: fs.readFileSync(settings.tls.cert), key: fs.readFileSync(settings.tls.key) },
    handle,
  )
  : http.createServer(handle);

function shutdown(reason) {
  log({ event: 'stopping', reason });
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
}

process.stdin.on('end', () => shutdown('stdin closed'));
process.stdin.on('error', () => shutdown('stdin error'));
process.stdin.resume();
process.on('SIGTERM', () => shutdown('SIGTERM'));
setTimeout(() => shutdown('max_lifetime_s reached'), settings.max_lifetime_s * 1000).unref();

server.listen(settings.port, settings.host, () => {
  const { port } = server.address();
  const scheme = settings.tls ? 'https' : 'http';
  issuer = settings.issuer || `${scheme}://${settings.host}:${port}`;
  provider = buildProvider();
  process.stdout.write(`${JSON.stringify({ event: 'ready', issuer, port, kids: keys.map((k) => k.kid) })}\n`);
});
