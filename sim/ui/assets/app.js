// lifecycle-sim training UI. Plain JavaScript, no build step.
//
// Every page reads what it shows from the simulator's APIs, the same ones a tool calls: the LCS
// look-alike from /_portal/lcs (and the LCS public API for export), the PPAC look-alike from the
// BAP admin API, the conceptual page and the trainer controls from /_sim. GET /_sim/events says
// when something changed; the page then reads again.
'use strict';

const PAGE = (location.pathname.replace(/^\/_ui\/?/, '').split('/')[0]) || 'lcs';
const params = new URLSearchParams(location.search);
const BAP = '/providers/Microsoft.BusinessAppPlatform';
const API_VERSION = 'api-version=2021-04-01';
// The client id of a well-known public client (Azure PowerShell), as tools sign in with it.
const CLIENT_ID = '1950a258-227b-4e31-a9cf-717495945fc2';

const state = {
  clock: null,
  tenants: [],
  tenant: null,
  operations: [],
  scenarios: [],
  token: null,
  tokenFor: null,
  // The control token prompt while it is open, and whether the trainer dismissed it.
  askingControlToken: null,
  controlTokenDeclined: false,
  // Set by the page: the environment it shows (for "to end of running operation" and switches).
  focusEnvironment: null,
  administrator: null,
  // Simulator hints split off the portal's words while drawing the page (see portal()).
  hints: [],
};

// ---- small DOM helpers ----

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, '');
    else node.setAttribute(key, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
const $ = (selector) => document.querySelector(selector);

function button(label, onclick, attrs = {}) {
  return el('button', { type: 'button', class: 'btn', onclick, ...attrs }, label);
}

// A drop-down menu (a button that opens a list of groups of items), closed again by a choice,
// Escape or a click elsewhere.
function menu(label, id, groups) {
  const list = el('div', { class: 'menu-list', role: 'menu', id: `${id}-menu`, hidden: true },
    groups.map(([heading, items]) => el('div', { class: 'menu-group', role: 'group', 'aria-label': heading },
      el('div', { class: 'menu-heading' }, heading), items)));
  const opener = button(`${label} ▾`, () => {
    const open = list.hidden;
    list.hidden = !open;
    opener.setAttribute('aria-expanded', String(open));
    if (open) list.querySelector('button:not(:disabled)')?.focus();
  }, { id, 'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-controls': `${id}-menu` });
  const close = () => { list.hidden = true; opener.setAttribute('aria-expanded', 'false'); };
  list.addEventListener('click', (e) => { if (e.target.closest('button')) close(); });
  list.addEventListener('keydown', (e) => { if (e.key === 'Escape') { close(); opener.focus(); } });
  return el('div', { class: 'menu' }, opener, list);
}
// One listener for every menu: a click outside an open menu closes it.
document.addEventListener('click', (e) => {
  for (const open of document.querySelectorAll('.menu-list:not([hidden])')) {
    const wrap = open.parentElement;
    if (!wrap.contains(e.target)) {
      open.hidden = true;
      wrap.querySelector('[aria-haspopup]')?.setAttribute('aria-expanded', 'false');
    }
  }
});

function facts(pairs) {
  return el('dl', { class: 'facts' }, pairs.filter(Boolean).map(([k, v]) => [el('dt', {}, k), el('dd', {}, v ?? '–')]));
}

function chip(text, kind) {
  return el('span', { class: `chip ${kind || ''}` }, text);
}

function stateKind(text) {
  const t = String(text || '').toLowerCase();
  if (/(fail|error|blocked)/.test(t)) return 'bad';
  if (/(progress|running|provision|deploying|copying|settingup|pending|installing|preparing|restoring)/.test(t)) return 'run';
  if (/(deployed|succeeded|ready|completed|linked|enabled|running)/.test(t)) return 'ok';
  return '';
}

// The words an API uses for a state, as the portals print them: "NotSetUp" -> "Not set up".
function words(text) {
  if (text === null || text === undefined) return '–';
  const t = String(text);
  if (!/^[A-Z][a-z]+(?:[A-Z][a-z]*)+$/.test(t)) return t;
  const spaced = t.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
  return spaced.charAt(0).toUpperCase() + spaced.slice(1);
}

// BAP's geographies as PPAC names them (the list's "Region" column and the details card agree).
const GEOGRAPHIES = {
  unitedstates: 'United States', europe: 'Europe', asia: 'Asia', australia: 'Australia', india: 'India',
  japan: 'Japan', canada: 'Canada', unitedkingdom: 'United Kingdom', southamerica: 'South America',
  france: 'France', germany: 'Germany', switzerland: 'Switzerland', norway: 'Norway', korea: 'Korea',
  southafrica: 'South Africa', uae: 'United Arab Emirates', singapore: 'Singapore', sweden: 'Sweden',
};
function geography(location) {
  return GEOGRAPHIES[String(location || '').toLowerCase()] || location || '–';
}

// A simulator hint in an API message ("... (here: PATCH /_sim/...)") belongs to the trainer, not
// to the portal's own words: split it off.
function portalWords(text) {
  const hints = [];
  const clean = String(text || '').replace(/\s*\(here: ([^)]*)\)/g, (_, hint) => { hints.push(hint); return ''; });
  return { text: clean, hints };
}

// What a portal page says: the API's text without simulator hints (they go to the trainer bar),
// and finance and operations environments by their names rather than their ids, as the portals
// name them.
function portal(text) {
  const { text: clean, hints } = portalWords(text);
  for (const hint of hints) if (!state.hints.includes(hint)) state.hints.push(hint);
  let named = clean;
  for (const p of state.tenant?.lcsProjects || []) {
    for (const e of p.environments) named = named.split(e.id).join(e.name);
  }
  return named;
}

// The tenant's own virtual now (a tenant may run ahead of the shared clock).
function tenantNow() {
  return (state.tenant && state.tenant.now) || (state.clock && state.clock.now);
}

// How far the selected tenant's clock runs ahead of the shared one, in milliseconds.
function tenantOffset() {
  return Date.parse(tenantNow()) - Date.parse(state.clock.now);
}

function when(ts) {
  if (!ts) return '–';
  return new Date(ts).toLocaleString('en-GB', {
    timeZone: 'UTC', weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit',
  }) + ' UTC';
}

function humanKind(kind) {
  return String(kind || '').split('.').map((part) => part.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase())
    .join(': ').replace(/^./, (c) => c.toUpperCase());
}

// ---- talking to the simulator ----

class Refusal extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function refusalOf(status, data) {
  if (data && typeof data === 'object') {
    if (data.error && typeof data.error === 'object') return new Refusal(status, data.error.code || 'Error', data.error.message || '');
    if (typeof data.error === 'string') return new Refusal(status, data.error, data.error_description || '');
    if (data.IsSuccess === false || data.ErrorMessage) return new Refusal(status, 'LcsError', data.ErrorMessage || 'The LCS API refused the request.');
    if (data.Message) return new Refusal(status, data.Code || 'Error', data.Message);
  }
  return new Refusal(status, `HTTP ${status}`, typeof data === 'string' ? data : 'The request failed.');
}

async function call(method, path, body, opts = {}) {
  const headers = {};
  if (opts.auth !== false) headers.authorization = `Bearer ${await token()}`;
  let payload;
  if (opts.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    payload = new URLSearchParams(body).toString();
  } else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload });
  } catch {
    throw new Refusal(0, 'Unreachable', 'The simulator does not answer at this address. Start it again; this page reconnects by itself.');
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (response.status === 401 && opts.auth !== false && !opts.retried) {
    state.token = null;
    return call(method, path, body, { ...opts, retried: true });
  }
  // A simulator started with --control-token: ask the trainer for it, keep it in the cookie the
  // control plane reads (EventSource cannot send headers), and send the request again.
  const code = data && data.error && data.error.code;
  if (response.status === 401 && CONTROL_TOKEN_CODES.includes(code) && await askControlToken(code)) {
    return call(method, path, body, opts);
  }
  if (!response.ok || (data && data.IsSuccess === false)) throw refusalOf(response.status, data);
  return { status: response.status, data, headers: response.headers };
}

// ---- the control token (a simulator started with --control-token) ----

const CONTROL_TOKEN_CODES = ['ControlTokenRequired', 'ControlTokenInvalid'];
const CONTROL_TOKEN_COOKIE = 'lifecycle-sim-control-token';
const CONTROL_TOKEN_SHAPE = /^[A-Za-z0-9._~+\/=-]{1,256}$/;

/** Asks the trainer for the control token; true once one is set, false if they dismissed it. */
function askControlToken(code) {
  if (state.controlTokenDeclined) return Promise.resolve(false);
  if (state.askingControlToken) return state.askingControlToken;
  state.askingControlToken = new Promise((resolve) => {
    let set = false;
    const input = el('input', {
      id: 'control-token', type: 'password', autocomplete: 'off', spellcheck: 'false',
      // Enter uses the token, as in a sign-in form.
      onkeydown: (e) => { if (e.key === 'Enter') d.querySelector('.actions .primary:not([disabled])')?.click(); },
    });
    const d = dialog('Control token', [
      el('p', {}, code === 'ControlTokenInvalid'
        ? 'That is not the control token this simulator was started with. Enter the one given to it with --control-token (or LIFECYCLE_SIM_CONTROL_TOKEN).'
        : 'This simulator guards its control plane: it was started with --control-token (or LIFECYCLE_SIM_CONTROL_TOKEN). Enter that token to use the pages and the trainer controls.'),
      field('Control token', input),
    ], [
      { label: 'Cancel' },
      {
        label: 'Use this token', primary: true, enabled: () => CONTROL_TOKEN_SHAPE.test(input.value),
        run: () => {
          document.cookie = `${CONTROL_TOKEN_COOKIE}=${input.value}; path=/_sim; SameSite=Strict`;
          set = true;
          resolve(true);
          // The event stream was refused without the token; open it again.
          listen();
        },
      },
    ]);
    // Closed without a token (Cancel, Escape): stop asking until the trainer asks for it.
    d.addEventListener('close', () => {
      if (set) return;
      state.controlTokenDeclined = true;
      resolve(false);
    }, { once: true });
  }).finally(() => { state.askingControlToken = null; });
  return state.askingControlToken;
}

const sim = async (method, path, body) => (await call(method, `/_sim${path}`, body, { auth: false })).data;
const api = async (method, path, body) => (await call(method, path, body)).data;

/** The user the pages act as: the tenant's first Global admin, else its first user. */
function actor() {
  const users = state.tenant?.users || [];
  return (users.find((u) => u.roles.includes('Global admin')) || users[0])?.upn;
}

async function token() {
  const tenant = state.tenant;
  const upn = actor();
  if (!tenant || !upn) throw new Refusal(0, 'NoTenant', 'Pick a tenant with a user in the trainer controls, or load a scenario.');
  const key = `${tenant.id}|${upn}`;
  if (state.token && state.tokenFor === key) return state.token;
  const { data } = await call('POST', `/${tenant.id}/oauth2/token`, {
    grant_type: 'password', username: upn, password: 'training', client_id: CLIENT_ID,
    resource: 'https://lcsapi.lcs.dynamics.com',
  }, { auth: false, form: true });
  state.token = data.access_token;
  state.tokenFor = key;
  return state.token;
}

// ---- notices ----

function say(text) {
  const status = $('#status');
  status.replaceChildren(el('div', {}, text));
  clearTimeout(say.timer);
  say.timer = setTimeout(() => status.replaceChildren(), 6000);
}

function refuse(error, what) {
  const notice = $('#notice');
  const code = error instanceof Refusal ? error.code : 'Error';
  const box = el('div', { class: 'message error', role: 'alert' },
    el('div', {},
      el('strong', {}, what ? `${what} was refused: ` : 'Refused: '),
      el('code', { class: 'code' }, code), ' — ', el('span', { class: 'reason' }, portal(error.message))),
    portalWords(error.message).hints.map((hint) => el('div', { class: 'hint' }, `Fix it here: ${hint}`)),
    CONTROL_TOKEN_CODES.includes(code)
      ? button('Enter the control token', () => { state.controlTokenDeclined = false; notice.replaceChildren(); schedule(); })
      : null,
    button('Dismiss', () => notice.replaceChildren(), { 'aria-label': 'Dismiss this message' }));
  notice.replaceChildren(box);
}

/** Runs an action; shows its refusal, then reads everything again. */
async function act(what, fn) {
  try {
    $('#notice').replaceChildren();
    const result = await fn();
    schedule();
    return result;
  } catch (error) {
    refuse(error, what);
    schedule();
    return undefined;
  }
}

// ---- the dialog ----

/** Opens the dialog: `fields` are nodes, `actions` are {label, primary, run, enabled}. */
function dialog(title, fields, actions) {
  const d = $('#dialog');
  const error = el('div', { class: 'dialog-error', role: 'alert' });
  const buttons = actions.map((a) => {
    const b = button(a.label, async () => {
      if (!a.run) return d.close();
      b.disabled = true;
      try {
        const next = await a.run();
        if (next !== 'keep') d.close();
        schedule();
      } catch (e) {
        error.replaceChildren(el('div', { class: 'message error' }, el('code', {}, e.code || 'Error'), ' — ', e.message));
      } finally {
        b.disabled = false;
        if (a.enabled) b.disabled = !a.enabled();
      }
    }, { class: `btn ${a.primary ? 'primary' : ''}` });
    if (a.enabled) b.disabled = !a.enabled();
    a.node = b;
    return b;
  });
  d.replaceChildren(el('h2', { id: 'dialog-title' }, title), ...fields, error, el('div', { class: 'actions' }, buttons));
  const refreshButtons = () => actions.forEach((a) => { if (a.enabled) a.node.disabled = !a.enabled(); });
  d.oninput = refreshButtons;
  d.onchange = refreshButtons;
  if (!d.open) d.showModal();
  (d.querySelector('input, select') || buttons[0])?.focus();
  return d;
}

function field(label, control) {
  return el('label', { class: 'field' }, el('span', {}, label), control);
}

function select(id, options, selected) {
  return el('select', { id }, options.map(([value, label]) => el('option', { value, selected: value === selected }, label)));
}

function message(title, text) {
  return dialog(title, [el('p', {}, text)], [{ label: 'OK', primary: true }]);
}

// ---- operations as progress bars ----

function opBar(op, now, { showError = true } = {}) {
  // Each stage is as wide as its planned duration, so the filled part is the operation's
  // progress, whatever state it is in (a failed setup at 5 % shows 5 %).
  const total = Math.max(1, op.stages.reduce((sum, s) => sum + (s.durationSeconds || 0), 0));
  const segments = op.stages.map((s) => {
    const fill = s.state === 'succeeded' ? 100 : (s.state === 'running' || s.state === 'failed') ? (s.progress || 0) : 0;
    return el('div', { class: `seg ${s.state}`, style: `width:${(100 * (s.durationSeconds || 0)) / total}%`, title: `${s.name}: ${words(s.state)}` },
      el('div', { class: 'fill', style: `width:${fill}%` }));
  });
  const label = humanKind(op.kind);
  return el('div', { class: `op ${op.state}`, 'data-operation': op.id },
    el('div', { class: 'op-head' },
      el('strong', {}, label),
      chip(words(op.state), stateKind(op.state)),
      el('span', { class: 'progress-text' }, `${op.progress}%`),
      el('span', { class: 'muted' }, op.state === 'running' ? `ends ${when(op.endsAt)}` : `started ${when(op.startedAt)}`)),
    el('div', {
      class: 'timeline', role: 'progressbar', 'aria-label': `${label} progress`,
      'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(op.progress),
    }, segments, op.state === 'running' ? el('div', { class: 'now', style: `left:${Math.min(100, op.progress)}%` }) : null),
    el('ol', { class: 'stages' }, op.stages.map((s) => el('li', { class: s.state }, `${s.name} — ${words(s.state)}`))),
    showError && op.error ? el('div', { class: 'message error' }, el('code', {}, op.error.code), ' — ', portalWords(op.error.message).text) : null);
}

// ---- trainer controls ----

function remembered(key) {
  try { return JSON.parse(localStorage.getItem(`lifecycle-sim.${state.tenant.id}.${key}`)); } catch { return null; }
}
function remember(key, value) {
  try { localStorage.setItem(`lifecycle-sim.${state.tenant.id}.${key}`, JSON.stringify(value)); } catch { /* private mode */ }
}

/** The user the failure switches act on: the administrator of the environment in view. */
function subject() {
  const users = state.tenant?.users || [];
  const upn = state.administrator || actor();
  return users.find((u) => u.upn.toLowerCase() === String(upn).toLowerCase());
}

/** What integration setup checks (capacity, license, admin roles), as the tenant states it. */
function prerequisites() {
  return state.tenant.integrationPrerequisites;
}

function switches() {
  const t = state.tenant;
  if (!t) return {};
  const free = t.capacity.databaseMb - t.capacityUsed.databaseMb;
  const user = subject();
  const { freeDatabaseMb, license, adminRoles } = prerequisites();
  return {
    capacity: { on: free < freeDatabaseMb, detail: `${(free / 1024).toFixed(1)} GB database capacity free` },
    license: { on: !!user && !user.licenses.includes(license), detail: user ? `${user.upn}: ${user.licenses.includes(license) ? 'licensed' : 'no license'}` : '' },
    roles: { on: !!user && !user.roles.some((r) => adminRoles.includes(r)), detail: user ? `roles: ${user.roles.join(', ') || 'none'}` : '' },
    governance: { on: !!t.governance.restrictEnvironmentCreationToAdmins, detail: t.governance.restrictEnvironmentCreationToAdmins ? 'only admins may create environments' : 'everyone may create environments' },
  };
}

const SWITCH_LABELS = {
  capacity: ['Take capacity away', 'Give capacity back'],
  license: ['Remove license', 'Give license back'],
  roles: ['Remove admin roles', 'Give admin roles back'],
  governance: ['Restrict governance', 'Lift governance restriction'],
};

async function toggle(name) {
  const t = state.tenant;
  const now = switches()[name];
  const user = subject();
  const { license, adminRoles } = prerequisites();
  const path = `/tenants/${t.id}`;
  const users = user ? `${path}/users/${encodeURIComponent(user.upn)}` : null;
  await act(SWITCH_LABELS[name][now.on ? 1 : 0], async () => {
    if (name === 'capacity') {
      const used = Math.ceil(t.capacityUsed.databaseMb);
      if (!now.on) {
        remember('databaseMb', t.capacity.databaseMb);
        await sim('PATCH', `${path}/capacity`, { databaseMb: used });
      } else {
        await sim('PATCH', `${path}/capacity`, { databaseMb: Math.max(remembered('databaseMb') || 0, used + 2048) });
      }
    } else if (name === 'license') {
      if (!users) throw new Refusal(0, 'NoUser', 'This tenant has no user to take the license from.');
      const licenses = now.on ? [...user.licenses, license] : user.licenses.filter((l) => l !== license);
      await sim('PATCH', users, { licenses });
    } else if (name === 'roles') {
      if (!users) throw new Refusal(0, 'NoUser', 'This tenant has no user to take the roles from.');
      if (!now.on) {
        remember(`roles.${user.upn}`, user.roles.filter((r) => adminRoles.includes(r)));
        await sim('PATCH', users, { roles: user.roles.filter((r) => !adminRoles.includes(r)) });
      } else {
        const back = remembered(`roles.${user.upn}`);
        await sim('PATCH', users, { roles: [...user.roles, ...(back && back.length ? back : ['Power Platform admin'])] });
      }
    } else {
      await sim('PATCH', `${path}/governance`, { restrictEnvironmentCreationToAdmins: !now.on });
    }
    say(`${SWITCH_LABELS[name][now.on ? 1 : 0]}: done`);
  });
}

function runningOperation() {
  const running = state.operations.filter((o) => o.state === 'running' && o.endsAt);
  const mine = running.filter((o) => o.target && o.target.id === state.focusEnvironment);
  const pool = mine.length ? mine : running;
  return pool.sort((a, b) => Date.parse(a.endsAt) - Date.parse(b.endsAt))[0];
}

async function advance(body, what) {
  await act(what, async () => {
    // Told in the selected tenant's time, as the clock bar shows it.
    const offset = tenantOffset();
    const result = await sim('POST', '/clock/advance', body);
    const done = result.completed.map((o) => `${humanKind(o.kind)} ${o.state}`);
    const now = new Date(Date.parse(result.now) + offset).toISOString();
    say(`Virtual time is now ${when(now)}${done.length ? `; ${done.join(', ')}` : ''}`);
  });
}

function setupTrainer() {
  for (const a of document.querySelectorAll('#trainer nav a')) {
    if (a.dataset.page === PAGE) a.setAttribute('aria-current', 'page');
    a.addEventListener('click', (e) => {
      if (!state.tenant) return;
      e.preventDefault();
      location.href = `${a.getAttribute('href')}?tenant=${state.tenant.id}`;
    });
  }
  $('#clock-play').addEventListener('click', () => act('Play/pause', () => sim('PATCH', '/clock', { paused: !state.clock.paused })));
  $('#clock-speed').addEventListener('change', (e) => act('Speed', () => sim('PATCH', '/clock', { scale: Number(e.target.value) })));
  $('#jump-15').addEventListener('click', () => advance({ by: '15m' }, '+15 min'));
  $('#jump-90').addEventListener('click', () => advance({ by: '90m' }, '+90 min'));
  $('#jump-end').addEventListener('click', () => {
    const op = runningOperation();
    if (!op) return;
    // The operation ends on the tenant's clock; the shared clock moves to the same moment.
    const to = new Date(Date.parse(op.endsAt) - tenantOffset()).toISOString().replace('.000Z', 'Z');
    advance({ to }, 'To end of running operation');
  });
  $('#tenant').addEventListener('change', (e) => go({ tenant: e.target.value }));
  $('#scenario').addEventListener('change', (e) => { $('#scenario-load').disabled = !e.target.value; });
  $('#scenario-load').addEventListener('click', () => act('Load scenario', async () => {
    const name = $('#scenario').value;
    if (!name) return;
    const loaded = await sim('POST', `/scenarios/${encodeURIComponent(name)}?replace=true`);
    const tenant = loaded.tenants[0];
    say(`Loaded scenario ${name}${tenant ? `: tenant ${tenant.domain}` : ''}`);
    if (tenant) go({ tenant: tenant.id, project: null, environment: null });
  }));
  $('#tenant-reset').addEventListener('click', () => {
    const t = state.tenant;
    if (!t) return;
    dialog('Reset tenant', [el('p', {}, `Put ${t.displayName || t.domain} back as it was right after it was created or loaded: its environments, users, capacity and timeline. The clock keeps its time.`)], [
      { label: 'Cancel' },
      { label: 'Reset tenant', primary: true, run: async () => { await sim('POST', `/tenants/${t.id}/reset`); go({ tenant: t.id, project: null, environment: null }); } },
    ]);
  });
  for (const name of Object.keys(SWITCH_LABELS)) $(`#sw-${name}`).addEventListener('click', () => toggle(name));
}

function renderTrainer() {
  const c = state.clock;
  // The selected tenant's clock: what its pages and operations are on.
  const tenantTime = tenantNow();
  $('#clock-now').value = when(tenantTime);
  $('#clock-now').textContent = when(tenantTime);
  $('#clock-now').title = state.tenant && state.tenant.now !== c.now
    ? `${state.tenant.domain}'s virtual time (the shared clock reads ${when(c.now)})` : 'Virtual time';
  const play = $('#clock-play');
  play.textContent = c.paused ? 'Play' : 'Pause';
  play.setAttribute('aria-pressed', String(!c.paused));
  const speed = $('#clock-speed');
  if (![...speed.options].some((o) => Number(o.value) === c.scale)) speed.append(el('option', { value: String(c.scale) }, `${c.scale}×`));
  speed.value = String([...speed.options].find((o) => Number(o.value) === c.scale).value);
  const op = runningOperation();
  const end = $('#jump-end');
  end.disabled = !op;
  end.title = op ? `${humanKind(op.kind)} ends ${when(op.endsAt)}` : 'No operation is running';

  const tenantSelect = $('#tenant');
  const options = state.tenants.map((t) => [t.id, `${t.displayName || t.domain} (${t.domain})`]);
  if (JSON.stringify(options) !== tenantSelect.dataset.options) {
    tenantSelect.replaceChildren(...options.map(([v, l]) => el('option', { value: v }, l)));
    tenantSelect.dataset.options = JSON.stringify(options);
  }
  if (state.tenant) tenantSelect.value = state.tenant.id;

  const scenarioSelect = $('#scenario');
  if (!scenarioSelect.options.length) {
    scenarioSelect.replaceChildren(el('option', { value: '' }, 'Choose a scenario…'),
      ...state.scenarios.map((s) => el('option', { value: s.name, title: s.title || '' }, s.name)));
  }
  // The picker names the scenario the selected tenant comes from, when it is a built-in one
  // (by its domain), and claims none otherwise.
  if (state.tenant && scenarioSelect.dataset.tenant !== state.tenant.id) {
    const from = state.scenarios.find((x) => new RegExp(`\\bdomain: ${state.tenant.domain.replace(/[.]/g, '\\.')}\\b`).test(x.text || ''));
    scenarioSelect.value = from ? from.name : '';
    scenarioSelect.dataset.tenant = state.tenant.id;
  }
  $('#scenario-load').disabled = !scenarioSelect.value;
  $('#tenant-reset').disabled = !state.tenant;
  const now = switches();
  const details = [];
  for (const [name, labels] of Object.entries(SWITCH_LABELS)) {
    const b = $(`#sw-${name}`);
    const s = now[name];
    b.disabled = !s;
    if (!s) continue;
    b.textContent = labels[s.on ? 1 : 0];
    b.setAttribute('aria-pressed', String(s.on));
    b.title = s.detail;
    if (s.on) details.push(s.detail);
  }
  const who = subject();
  $('#sw-detail').textContent = [who ? `acting on ${who.upn}` : '', ...details].filter(Boolean).join(' · ');
  const hint = $('#trainer-hint');
  hint.textContent = state.hints.length ? `Fix it here: ${state.hints.join(' · ')}` : '';
  hint.hidden = !state.hints.length;
}

// ---- page plumbing ----

function go(changes) {
  const next = new URLSearchParams(params);
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined) next.delete(k); else next.set(k, v);
  }
  if (changes.tenant && changes.tenant !== params.get('tenant')) {
    for (const k of ['project', 'environment']) if (!(k in changes)) next.delete(k);
  }
  location.href = `${location.pathname}?${next}`;
}

function href(page, query) {
  const q = new URLSearchParams({ tenant: state.tenant.id, ...query });
  return `/_ui/${page}?${q}`;
}

function header(brand, crumbs) {
  const h = $('#portal-header');
  const node = el('div', { class: 'brand' }, brand);
  const nav = el('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
    crumbs.map(([label, link], i) => [i ? ' › ' : '', link ? el('a', { href: link }, label) : el('span', { 'aria-current': 'page' }, label)]));
  h.replaceChildren(node, nav);
}

/** Replaces the page's content only when it changed, keeping focus on the same control. */
function show(...nodes) {
  const main = $('#main');
  const next = el('div', {}, nodes);
  if (next.innerHTML === main.dataset.rendered) return;
  const focused = document.activeElement && main.contains(document.activeElement) ? document.activeElement.id : null;
  main.replaceChildren(...next.childNodes);
  main.dataset.rendered = main.innerHTML;
  if (focused) document.getElementById(focused)?.focus();
}

let refreshing = null;
let again = false;
function schedule() {
  if (refreshing) { again = true; return; }
  refreshing = refresh().finally(() => {
    refreshing = null;
    if (again) { again = false; schedule(); }
  });
}

async function refresh() {
  try {
    const [clock, tenants] = await Promise.all([sim('GET', '/clock'), sim('GET', '/tenants')]);
    state.clock = clock;
    state.tenants = tenants.tenants;
    const wanted = params.get('tenant') || state.tenant?.id;
    state.tenant = state.tenants.find((t) => t.id === wanted) || state.tenants[0] || null;
    state.operations = state.tenant ? (await sim('GET', `/tenants/${state.tenant.id}/operations`)).operations : [];
    state.hints = [];
    if (!state.scenarios.length) state.scenarios = (await sim('GET', '/scenarios')).scenarios;
    if (!state.tenant) {
      header(PAGE_TITLES[PAGE] || 'lifecycle-sim', []);
      show(el('h1', {}, 'No tenant yet'), el('p', {}, 'Load a scenario with the trainer controls above.'));
    } else {
      await (PAGES[PAGE] || PAGES.lcs)();
    }
    renderTrainer();
    document.body.dataset.ready = 'true';
  } catch (error) {
    refuse(error);
  }
}

const PAGE_TITLES = { lcs: 'Lifecycle Services', ppac: 'Power Platform admin center', environments: 'One environment, two portals' };

// ---- LCS look-alike ----

function lcsEnvironmentOptions(environments, except) {
  return environments.filter((e) => e.id !== except).map((e) => [e.id, `${e.name} (${e.type})`]);
}

async function lcsPage() {
  const tenant = state.tenant;
  const projectId = params.get('project');
  const environmentId = params.get('environment');
  if (!projectId) {
    const { projects } = await api('GET', '/_portal/lcs/projects');
    header(PAGE_TITLES.lcs, [['Projects']]);
    state.administrator = null;
    state.focusEnvironment = null;
    if (!projects.length) {
      return show(el('h1', {}, 'Projects'), el('p', {}, `${actor()} is a member of no LCS project in this tenant. Load a scenario with projects, or create one with POST /_portal/lcs/projects.`));
    }
    return show(el('h1', {}, 'Projects'),
      el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'Project'), el('th', {}, 'Id'), el('th', {}, 'Environments'))),
        el('tbody', {}, projects.map((p) => el('tr', {},
          el('td', {}, el('a', { href: href('lcs', { project: p.id }) }, p.name)), el('td', {}, p.id), el('td', {}, p.environments.length))))));
  }
  const { environments } = await api('GET', `/_portal/lcs/projects/${projectId}/environments`);
  const project = tenant.lcsProjects.find((p) => String(p.id) === projectId);
  const projectName = project ? project.name : `Project ${projectId}`;
  if (!environmentId) {
    header(PAGE_TITLES.lcs, [['Projects', href('lcs', {})], [projectName]]);
    state.administrator = environments[0]?.administrator || null;
    state.focusEnvironment = null;
    return show(el('h1', {}, `${projectName}: environments`),
      el('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Environments' },
        button('Deploy', () => deployDialog(projectId), { id: 'lcs-deploy', class: 'btn primary' })),
      el('table', {}, el('thead', {}, el('tr', {}, ['Environment', 'Type', 'Status', 'Power Platform integration', 'Administrator'].map((h) => el('th', {}, h)))),
        el('tbody', {}, environments.map((e) => el('tr', {},
          el('td', {}, el('a', { href: href('lcs', { project: projectId, environment: e.id }) }, e.name)),
          el('td', {}, e.type), el('td', {}, chip(e.status, stateKind(e.status))),
          el('td', {}, words(e.powerPlatformIntegration.state)), el('td', {}, e.administrator))))));
  }
  const e = await api('GET', `/_portal/lcs/projects/${projectId}/environments/${environmentId}`);
  state.administrator = e.administrator;
  state.focusEnvironment = e.id;
  header(PAGE_TITLES.lcs, [['Projects', href('lcs', {})], [projectName, href('lcs', { project: projectId })], [e.name]]);
  const base = `/_portal/lcs/projects/${projectId}/environments/${e.id}`;
  const others = lcsEnvironmentOptions(environments, e.id);
  // As on LCS's environment page: database movement under the Maintain menu, Deallocate and
  // Delete beside it.
  const maintain = el('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Environment actions' },
    menu('Maintain', 'lcs-maintain', [
      ['Move database', [
        button('Database refresh', () => refreshDialog(base, others), { id: 'lcs-refresh', disabled: !others.length, role: 'menuitem' }),
        button('Database export', () => exportDialog(projectId, e), { id: 'lcs-export', role: 'menuitem' }),
        button('Point-in-time restore', () => pitrDialog(base, others), { id: 'lcs-pitr', role: 'menuitem' })]],
    ]),
    // As in LCS, only cloud-hosted (customer-managed) environments can be deallocated.
    e.infrastructure === 'CustomerManaged' ? button('Deallocate', () => confirmDialog('Deallocate', `Deallocate ${e.name}? It stops and releases its compute; it can be deployed again later.`,
      () => api('POST', `${base}/deallocate`)), { id: 'lcs-deallocate' }) : null,
    button('Delete', () => confirmDialog('Delete', `Delete ${e.name}? A Power Platform integration link is removed with it; the Dataverse environment stays.`,
      async () => { await api('DELETE', base); go({ environment: null }); }), { id: 'lcs-delete' }));
  const running = e.runningOperation
    ? el('section', { class: 'card', 'aria-labelledby': 'running-title' }, el('h2', { id: 'running-title' }, 'Running operation'), opBar(e.runningOperation, tenantNow()))
    : null;
  show(el('h1', {}, e.name, ' ', chip(e.status, stateKind(e.status))), maintain,
    el('div', { class: 'cols' },
      el('section', { class: 'card', 'aria-labelledby': 'details-title' }, el('h2', { id: 'details-title' }, 'Environment details'),
        facts([['Environment type', e.type], ['Status', e.status], ['Environment administrator', e.administrator],
          ['URL', e.url ? el('span', {}, e.url) : '–'], ['Region', e.region], ['Version', `${e.applicationRelease} (${e.platformRelease})`],
          ['Deployed on', when(e.deployedOn)], ['Database', e.database ? `${e.database.sizeGb} GB · ${e.database.origin}` : '–']])),
      integrationSection(e, base)),
    running, historySection(e));
}

function integrationSection(e, base) {
  const i = e.powerPlatformIntegration;
  const actions = i.actions || [];
  const buttons = [];
  if (actions.includes('setup')) buttons.push(button('Setup', () => setupDialog(e, base), { id: 'ppi-setup', class: 'btn primary' }));
  if (actions.includes('resume')) buttons.push(button('Resume', () => act('Resume', async () => {
    await api('POST', `${base}/power-platform-integration/resume`);
    say('Setup resumes from the stage that failed');
  }), { id: 'ppi-resume', class: 'btn primary' }));
  if (actions.includes('installAddin')) buttons.push(button('Install a new add-in', () => addinDialog(base), { id: 'ppi-addin' }));
  if (actions.includes('dualWriteApplication')) buttons.push(button('Dual-write application', () => confirmDialog('Dual-write application',
    'Set up the dual-write application: its solutions are installed in the linked Dataverse environment and dual-write is enabled.',
    () => api('POST', `${base}/dual-write`)), { id: 'ppi-dual-write' }));
  const dataverse = i.dataverseEnvironmentId
    ? el('a', { href: href('ppac', { environment: i.dataverseEnvironmentId }) }, i.dataverseEnvironmentName || i.dataverseEnvironmentId)
    : '–';
  return el('section', { class: 'card', id: 'power-platform-integration', 'aria-labelledby': 'ppi-title' },
    el('h2', { id: 'ppi-title' }, 'Power Platform integration'),
    buttons.length ? el('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Power Platform integration actions' }, buttons) : null,
    i.error ? el('div', { class: 'message error', id: 'ppi-error', role: 'alert' },
      el('strong', {}, `Error at "${i.error.stage}": `), el('code', {}, i.error.code)) : null,
    i.unavailableReason ? el('div', { class: 'message warn' }, portal(i.unavailableReason)) : null,
    // The progress first, as LCS shows it at the top of the section.
    i.operation && i.operation.state !== 'succeeded' ? opBar(i.operation, tenantNow(), { showError: false }) : null,
    facts([['Status', el('span', { id: 'ppi-status' }, portal(i.statusMessage))], ['Power Platform environment', dataverse],
      i.dataverseEnvironmentUrl ? ['Environment URL', i.dataverseEnvironmentUrl] : null,
      ['Dual-write application', words(i.dualWrite)],
      ['Add-ins', i.addins.length ? i.addins.map((a) => `${a.name} (${words(a.state)})`).join(', ') : 'none']]));
}

function historySection(e) {
  if (!e.history.length) return null;
  return el('section', { class: 'card', 'aria-labelledby': 'history-title' }, el('h2', { id: 'history-title' }, 'History'),
    el('table', {}, el('thead', {}, el('tr', {}, ['Activity', 'Status', 'Started', 'Ended', 'Via'].map((h) => el('th', {}, h)))),
      el('tbody', {}, e.history.slice().reverse().map((h) => el('tr', {},
        el('td', {}, h.name || h.typeDisplay), el('td', {}, chip(h.status, stateKind(h.status))),
        el('td', {}, when(h.startedAt)), el('td', {}, when(h.endedAt)), el('td', {}, h.via))))));
}

async function setupDialog(e, base) {
  let free = [];
  try {
    const { value } = await api('GET', `${BAP}/scopes/admin/environments?${API_VERSION}`);
    // Only what setup accepts: a Dataverse environment of the same type, ready, not linked yet
    // and not the default one.
    const sku = { Production: 'Production', Sandbox: 'Sandbox' }[e.type];
    free = value.filter((v) => {
      const p = v.properties;
      return p.linkedEnvironmentMetadata && !p.linkedAppMetadata && !p.isDefault
        && p.environmentSku === sku && p.provisioningState === 'Succeeded';
    }).map((v) => [v.name, `${v.properties.displayName} (${v.properties.environmentSku})`]);
  } catch { /* the list is a convenience; setup to a new environment still works */ }
  const accept = el('input', { type: 'checkbox', id: 'ppi-terms' });
  const existing = select('ppi-existing', free, free[0]?.[0]);
  const useNew = el('input', { type: 'radio', name: 'ppi-target', id: 'ppi-new', checked: true });
  const useExisting = el('input', { type: 'radio', name: 'ppi-target', id: 'ppi-use-existing', disabled: !free.length });
  // The list belongs to "existing": hidden while "create new" is chosen.
  const existingField = free.length ? field('Existing environment', existing) : null;
  const toggleExisting = () => { if (existingField) existingField.hidden = !useExisting.checked; };
  useNew.addEventListener('change', toggleExisting);
  useExisting.addEventListener('change', toggleExisting);
  toggleExisting();
  dialog('Power Platform integration setup', [
    el('p', {}, `Connect ${e.name} to a Power Platform environment. Setup takes 60 to 90 minutes.`),
    el('div', { class: 'check' }, useNew, el('label', { for: 'ppi-new' }, `Create a new Power Platform environment named ${e.name}`)),
    el('div', { class: 'check' }, useExisting, el('label', { for: 'ppi-use-existing' },
      free.length ? 'Connect to an existing Power Platform environment' : `Connect to an existing Power Platform environment (none can be linked: it must be a ready ${e.type.toLowerCase()} environment with Dataverse, not linked yet)`)),
    existingField,
    el('div', { class: 'terms-text', tabindex: '0', 'aria-label': 'Terms and conditions' },
      'By setting up Power Platform integration you agree that a Dataverse environment is created or connected and linked ',
      'to this finance and operations environment. The link cannot be removed later: only deleting the finance and ',
      'operations environment ends it. Provisioning uses about 1 GB of the tenant\'s Dataverse database capacity.'),
    el('div', { class: 'check' }, accept, el('label', { for: 'ppi-terms' }, 'I agree to the terms and conditions')),
  ], [
    { label: 'Cancel' },
    {
      label: 'Setup', primary: true, enabled: () => accept.checked,
      run: async () => {
        const body = { acceptTerms: true };
        if (useExisting.checked) body.existingDataverseEnvironmentId = existing.value;
        await api('POST', `${base}/power-platform-integration`, body);
        schedule();
        message('Power Platform environment', 'The Power Platform environment is being provisioned. This takes a few minutes to start and 60 to 90 minutes in all; the Power Platform integration section shows the progress.');
        return 'keep';
      },
    },
  ]);
}

async function addinDialog(base) {
  const { available } = await api('GET', `${base}/addins`);
  const choice = select('addin-name', available.map((a) => [a.name, a.name]), available[0]?.name);
  const settings = el('div', {});
  const draw = () => {
    const addin = available.find((a) => a.name === choice.value);
    settings.replaceChildren(...(addin?.settings || []).map((s) => field(s.label, el('input', { type: 'text', 'data-key': s.key, id: `addin-${s.key}` }))));
  };
  choice.addEventListener('change', draw);
  draw();
  dialog('Install a new add-in', [field('Add-in', choice), settings], [
    { label: 'Cancel' },
    {
      label: 'Install', primary: true,
      run: async () => {
        const values = {};
        for (const input of settings.querySelectorAll('input')) values[input.dataset.key] = input.value;
        await api('POST', `${base}/addins`, { name: choice.value, settings: values });
        say(`Installing ${choice.value}`);
      },
    },
  ]);
}

function confirmDialog(title, text, run) {
  dialog(title, [el('p', {}, text)], [{ label: 'Cancel' }, { label: title, primary: true, run: async () => { await run(); say(`${title}: accepted`); } }]);
}

function refreshDialog(base, others) {
  const source = select('refresh-source', others, others[0]?.[0]);
  dialog('Database refresh', [el('p', {}, 'Copy the database of another environment over this one (PPAC calls this Copy).'), field('Source environment', source)], [
    { label: 'Cancel' },
    { label: 'Refresh', primary: true, run: async () => { await api('POST', `${base}/refresh`, { sourceEnvironmentId: source.value }); say('Database refresh started'); } },
  ]);
}

function exportDialog(projectId, e) {
  const name = el('input', { type: 'text', id: 'export-name', value: `${e.name}-export` });
  dialog('Database export', [el('p', {}, 'Export the database as a bacpac to the project\'s asset library (PPAC calls this Backup).'), field('Backup name', name)], [
    { label: 'Cancel' },
    {
      label: 'Export', primary: true, enabled: () => name.value.trim().length > 0,
      run: async () => {
        await api('POST', `/databasemovement/v1/export/project/${projectId}/environment/${e.id}/backupName/${encodeURIComponent(name.value.trim())}`);
        say('Database export started');
      },
    },
  ]);
}

function pitrDialog(base, others) {
  const at = new Date(Date.parse(tenantNow()) - 3600 * 1000).toISOString().slice(0, 16);
  const moment = el('input', { type: 'datetime-local', id: 'pitr-at', value: at });
  const source = select('pitr-source', [['', 'This environment'], ...others], '');
  dialog('Point-in-time restore', [el('p', {}, 'Restore the database as it was at a moment (PPAC calls this Restore). Times are UTC.'),
    field('Restore to (UTC)', moment), field('Source environment', source)], [
    { label: 'Cancel' },
    {
      label: 'Restore', primary: true,
      run: async () => {
        const body = { pointInTime: new Date(`${moment.value}:00Z`).toISOString().replace('.000', '') };
        if (source.value) body.sourceEnvironmentId = source.value;
        await api('POST', `${base}/point-in-time-restore`, body);
        say('Point-in-time restore started');
      },
    },
  ]);
}

function deployDialog(projectId) {
  const name = el('input', { type: 'text', id: 'deploy-name', value: '' });
  const type = select('deploy-type', [['Sandbox', 'Sandbox'], ['Production', 'Production'], ['DevTestDev', 'Develop (DevTestDev)']], 'Sandbox');
  const region = select('deploy-region', [['East US', 'East US'], ['West US', 'West US'], ['West Europe', 'West Europe'], ['North Europe', 'North Europe']], 'East US');
  const infrastructure = select('deploy-infrastructure', [['MicrosoftManaged', 'Microsoft-managed'], ['CustomerManaged', 'Customer-managed (cloud-hosted)']], 'MicrosoftManaged');
  dialog('Deploy environment', [field('Environment name', name), field('Type', type), field('Infrastructure', infrastructure), field('Region', region)], [
    { label: 'Cancel' },
    {
      label: 'Deploy', primary: true, enabled: () => name.value.trim().length > 0,
      run: async () => {
        await api('POST', `/_portal/lcs/projects/${projectId}/environments`, { name: name.value.trim(), type: type.value, infrastructure: infrastructure.value, region: region.value });
        say(`Deploying ${name.value.trim()}`);
      },
    },
  ]);
}

// ---- PPAC look-alike ----

/** PPAC's actions on an environment: label, the lifecycle operation type that governs it, run. */
function ppacActions(env, all) {
  const id = env.name;
  const sku = env.properties.environmentSku;
  const targets = all.filter((v) => v.name !== id && !v.properties.isDefault).map((v) => [v.name, `${v.properties.displayName} (${v.properties.environmentSku})`]);
  const convertTo = sku === 'Production' ? 'Sandbox' : 'Production';
  // The requests an action sends, from its dialog or from "Try … anyway".
  const reset = () => api('POST', `${BAP}/environments/${id}/reset?${API_VERSION}`, {});
  const convert = () => call('POST', `${BAP}/scopes/admin/environments/${id}/modifySku?${API_VERSION}`, { environmentSku: convertTo });
  const remove = () => api('DELETE', `${BAP}/scopes/admin/environments/${id}?${API_VERSION}`);
  return [
    { key: 'copy', label: 'Copy', type: 'Copy', open: () => ppacCopy(id, targets), tryIt: () => api('POST', `${BAP}/environments/${targets[0]?.[0] || id}/copyTo?${API_VERSION}`, { sourceEnvironmentId: id, copyType: 'FullCopy' }) },
    { key: 'backup', label: 'Backup', type: 'Backup', open: () => ppacBackup(id), tryIt: () => api('POST', `${BAP}/environments/${id}/backups?${API_VERSION}`, { label: 'training' }) },
    { key: 'restore', label: 'Restore', type: 'Restore', open: () => ppacRestore(id, targets), tryIt: () => api('POST', `${BAP}/environments/${id}/restoreTo?${API_VERSION}`, { sourceEnvironmentId: id, restorePointDateTime: tenantNow() }) },
    { key: 'reset', label: 'Reset', type: 'Reset', open: () => confirmDialog('Reset', `Reset ${env.properties.displayName}? Its Dataverse database is deleted and provisioned again, empty.`, reset), tryIt: reset },
    { key: 'convert', label: `Convert to ${convertTo.toLowerCase()}`, type: 'Convert', open: () => ppacConvert(env, convertTo, convert), tryIt: convert },
    { key: 'delete', label: 'Delete', type: 'Delete', open: () => confirmDialog('Delete', `Delete ${env.properties.displayName}? It can be recovered for 7 days.`, async () => { await remove(); go({ environment: null }); }), tryIt: remove },
  ];
}

function ppacCopy(id, targets) {
  const target = select('copy-target', targets, targets[0]?.[0]);
  const kind = select('copy-kind', [['FullCopy', 'Everything'], ['MinimalCopy', 'Customizations and schemas only']], 'FullCopy');
  dialog('Copy environment', [el('p', {}, 'Copy this environment over a target sandbox (LCS calls this Database refresh; it copies only the F&O half).'),
    field('Target environment', target), field('Copy over', kind)], [
    { label: 'Cancel' },
    { label: 'Copy', primary: true, run: async () => { await api('POST', `${BAP}/environments/${target.value}/copyTo?${API_VERSION}`, { sourceEnvironmentId: id, copyType: kind.value }); say('Copy started'); } },
  ]);
}

function ppacBackup(id) {
  const label = el('input', { type: 'text', id: 'backup-label', value: 'training backup' });
  dialog('Backup', [el('p', {}, 'Take a custom backup of the Dataverse database (LCS calls this Database export).'), field('Label', label)], [
    { label: 'Cancel' },
    { label: 'Create', primary: true, enabled: () => label.value.trim().length > 0, run: async () => { await api('POST', `${BAP}/environments/${id}/backups?${API_VERSION}`, { label: label.value.trim() }); say('Backup taken'); } },
  ]);
}

async function ppacRestore(id, targets) {
  const { value } = await api('GET', `${BAP}/environments/${id}/backups?${API_VERSION}`);
  const point = select('restore-point', [['', 'The latest moment (system backup)'], ...value.map((b) => [b.id, `${b.label} · ${when(b.backupPointDateTime)}`])], '');
  const target = select('restore-target', targets, targets[0]?.[0]);
  dialog('Restore', [el('p', {}, 'Restore a backup of this environment over a target sandbox (LCS calls this Point-in-time restore).'),
    field('Backup', point), field('Target environment', target)], [
    { label: 'Cancel' },
    {
      label: 'Restore', primary: true,
      run: async () => {
        const body = { sourceEnvironmentId: id };
        if (point.value) body.backupId = point.value; else body.restorePointDateTime = tenantNow();
        await api('POST', `${BAP}/environments/${target.value}/restoreTo?${API_VERSION}`, body);
        say('Restore started');
      },
    },
  ]);
}

function ppacConvert(env, to, convert) {
  const linked = !!env.properties.linkedAppMetadata;
  dialog(`Convert to ${to.toLowerCase()}`, [
    el('p', {}, `Convert ${env.properties.displayName} to a ${to.toLowerCase()} environment.`),
    linked ? el('div', { class: 'message warn' }, 'This environment is linked to a finance and operations environment, which keeps its type: the pair then has two different types. Converting is allowed but not recommended.') : null,
  ], [
    { label: 'Cancel' },
    {
      label: 'Convert', primary: true,
      run: async () => {
        const result = await convert();
        const warning = result.headers.get('warning');
        say(`Converted to ${to.toLowerCase()}${warning ? `: ${warning}` : ''}`);
      },
    },
  ]);
}

async function ppacPage() {
  const environmentId = params.get('environment');
  const { value } = await api('GET', `${BAP}/scopes/admin/environments?${API_VERSION}`);
  const foName = (id) => {
    for (const p of state.tenant.lcsProjects) for (const e of p.environments) if (e.id === id) return [p, e];
    return [null, null];
  };
  state.administrator = null;
  if (!environmentId) {
    header(PAGE_TITLES.ppac, [['Manage'], ['Environments']]);
    state.focusEnvironment = null;
    const managementState = (p) => p.states?.management?.id || p.provisioningState;
    const columns = [
      ['environment', 'Environment', (v) => v.properties.displayName],
      ['type', 'Type', (v) => v.properties.environmentSku],
      ['state', 'State', (v) => managementState(v.properties)],
      ['region', 'Region', (v) => geography(v.location)],
      ['managed', 'Managed', (v) => (v.properties.governanceConfiguration?.protectionLevel === 'Standard' ? 'Yes' : 'No')],
      ['created', 'Created', (v) => v.properties.createdTime || ''],
    ];
    const sortKey = columns.some(([k]) => k === params.get('sort')) ? params.get('sort') : 'environment';
    const descending = params.get('dir') === 'desc';
    const valueOf = columns.find(([k]) => k === sortKey)[2];
    const rows = value.slice().sort((a, b) => {
      const order = String(valueOf(a)).localeCompare(String(valueOf(b)), 'en', { sensitivity: 'base' });
      return descending ? -order : order;
    });
    const head = columns.map(([key, label]) => {
      const sorted = key === sortKey;
      const next = sorted && !descending ? 'desc' : 'asc';
      return el('th', { 'aria-sort': sorted ? (descending ? 'descending' : 'ascending') : 'none' },
        button(`${label}${sorted ? (descending ? ' ↓' : ' ↑') : ''}`, () => go({ sort: key, dir: next }), { class: 'btn sort', 'data-sort': key, title: `Sort by ${label.toLowerCase()}` }));
    });
    return show(ppacLayout('environments',
      el('h1', {}, 'Environments'),
      el('div', { class: 'commandbar', role: 'toolbar', 'aria-label': 'Environments commands' },
        button('+ New', () => ppacNew(), { id: 'ppac-new', class: 'btn primary' }),
        button('Refresh', () => schedule(), { id: 'ppac-refresh' })),
      el('table', { class: 'grid', id: 'ppac-environments' },
        el('thead', {}, el('tr', {}, head, el('th', {}, 'Finance and operations'))),
        el('tbody', {}, rows.map((v) => {
          const p = v.properties;
          const [, fo] = p.linkedAppMetadata ? foName(p.linkedAppMetadata.id) : [null, null];
          return el('tr', {},
            el('td', {}, el('a', { href: href('ppac', { environment: v.name }) }, p.displayName)),
            el('td', {}, p.environmentSku), el('td', {}, chip(words(managementState(p)), stateKind(managementState(p)))),
            el('td', {}, geography(v.location)),
            el('td', {}, columns[4][2](v)),
            el('td', {}, p.createdTime ? when(p.createdTime) : '–'),
            el('td', {}, p.linkedAppMetadata ? `Linked: ${fo ? fo.name : p.linkedAppMetadata.id}` : '–'));
        })))));
  }
  const env = value.find((v) => v.name === environmentId) || (await api('GET', `${BAP}/scopes/admin/environments/${environmentId}?${API_VERSION}`));
  state.focusEnvironment = env.name;
  const p = env.properties;
  header(PAGE_TITLES.ppac, [['Environments', href('ppac', {})], [p.displayName]]);
  const enforcement = p.lifecycleOperationsEnforcement || { allowedOperations: [], disallowedOperations: [] };
  const blocked = new Map(enforcement.disallowedOperations.map((d) => [d.type.id, d.reason]));
  const actions = ppacActions(env, value);
  const reasons = [];
  const toolbar = actions.map((a) => {
    const reason = blocked.get(a.type);
    if (reason) {
      reasons.push(el('li', { id: `blocked-${a.key}`, 'data-action': a.key },
        el('strong', {}, a.label), ' is unavailable: ', el('span', { class: 'reason' }, portal(reason.message)), ' ',
        button(`Try ${a.label} anyway`, () => act(a.label, async () => { await a.tryIt(); say(`${a.label}: accepted`); }), { id: `try-${a.key}`, class: 'btn link' })));
    }
    return button(a.label, a.open, { id: `ppac-${a.key}`, disabled: !!reason, title: reason ? portal(reason.message) : null, 'aria-describedby': reason ? `blocked-${a.key}` : null });
  });
  const [project, fo] = p.linkedAppMetadata ? foName(p.linkedAppMetadata.id) : [null, null];
  const linked = p.linkedAppMetadata
    ? (fo ? el('a', { href: href('lcs', { project: project.id, environment: fo.id }) }, `${fo.name} (${fo.type})`) : p.linkedAppMetadata.id)
    : 'Not linked';
  const operations = state.operations.filter((o) => o.target && o.target.id === env.name && o.state === 'running');
  const managed = p.governanceConfiguration?.protectionLevel === 'Standard' ? 'Yes' : 'No';
  show(ppacLayout('environments',
    el('h1', {}, p.displayName, ' ', chip(words(p.states?.management?.id || p.provisioningState), stateKind(p.provisioningState))),
    el('div', { class: 'commandbar', role: 'toolbar', 'aria-label': 'Environment actions' }, toolbar),
    reasons.length ? el('ul', { class: 'blocked', 'aria-label': 'Unavailable actions' }, reasons) : null,
    el('div', { class: 'cards' },
      el('section', { class: 'card', 'aria-labelledby': 'details-title' }, el('h2', { id: 'details-title' }, 'Details'),
        facts([['Environment URL', p.linkedEnvironmentMetadata?.instanceUrl || 'No Dataverse'], ['State', words(p.states?.management?.id || p.provisioningState)],
          ['Region', geography(env.location)], ['Type', p.environmentSku], ['Managed', managed],
          ['Created', when(p.createdTime)], ['Version', p.linkedEnvironmentMetadata?.version]])),
      el('section', { class: 'card', 'aria-labelledby': 'fo-title' }, el('h2', { id: 'fo-title' }, 'Finance and operations'),
        facts([['Linked environment', linked], ['Dataverse', p.linkedEnvironmentMetadata ? 'Yes' : 'No']])),
      operations.length ? el('section', { class: 'card', 'aria-labelledby': 'ops-title' }, el('h2', { id: 'ops-title' }, 'Operations in progress'),
        operations.map((o) => opBar(o, tenantNow()))) : null)));
}

// PPAC's left navigation around a page; the items the simulator has no page for are shown, not
// linked, so the screen is the one admins know.
function ppacLayout(current, ...content) {
  const items = [['home', 'Home'], ['environments', 'Manage'], ['security', 'Security'], ['monitor', 'Monitor'],
    ['deployment', 'Deployment'], ['licensing', 'Licensing'], ['copilot', 'Copilot'], ['support', 'Support']];
  const nav = el('nav', { class: 'ppac-nav', 'aria-label': 'Power Platform admin center' },
    el('ul', {}, items.map(([key, label]) => el('li', {},
      key === current
        ? el('a', { href: href('ppac', {}), 'aria-current': 'page' }, label)
        : el('span', { class: 'inert', title: 'Not part of the simulator' }, label)))));
  return el('div', { class: 'ppac-layout' }, nav, el('div', { class: 'ppac-content' }, content));
}

function ppacNew() {
  const name = el('input', { type: 'text', id: 'new-name', value: '' });
  const type = select('new-type', [['Sandbox', 'Sandbox'], ['Production', 'Production'], ['Trial', 'Trial'], ['Developer', 'Developer']], 'Sandbox');
  const region = select('new-region', Object.entries(GEOGRAPHIES).slice(0, 6), 'unitedstates');
  const dataverse = el('input', { type: 'checkbox', id: 'new-dataverse', checked: true });
  dialog('New environment', [field('Name', name), field('Type', type), field('Region', region),
    el('div', { class: 'check' }, dataverse, el('label', { for: 'new-dataverse' }, 'Add a Dataverse data store'))], [
    { label: 'Cancel' },
    {
      label: 'Save', primary: true, enabled: () => name.value.trim().length > 0,
      run: async () => {
        const properties = { displayName: name.value.trim(), environmentSku: type.value };
        if (dataverse.checked) properties.databaseType = 'CommonDataService';
        await api('POST', `${BAP}/environments?api-version=2023-06-01`, { location: region.value, properties });
        say(`Creating ${name.value.trim()}`);
      },
    },
  ]);
}

// ---- the conceptual environment ----

async function conceptPage() {
  const view = await sim('GET', `/tenants/${state.tenant.id}/environments`);
  header(PAGE_TITLES.environments, [[`${state.tenant.displayName || state.tenant.domain}: every environment as one thing`]]);
  state.administrator = null;
  state.focusEnvironment = null;
  const half = (kind, h) => {
    if (!h) return el('div', { class: `half ${kind} empty` }, kind === 'fo' ? 'No finance and operations half' : 'No Dataverse half');
    if (kind === 'fo') {
      return el('div', { class: 'half fo' }, el('h3', {}, 'Finance and operations (LCS)'),
        el('a', { href: href('lcs', { project: h.projectId, environment: h.id }) }, h.name), ' ', chip(h.status, stateKind(h.status)),
        facts([['Type', h.type], ['Project', h.projectName], ['Integration', h.powerPlatformIntegration], ['Administrator', h.administrator]]));
    }
    return el('div', { class: 'half dv' }, el('h3', {}, 'Dataverse (PPAC)'),
      el('a', { href: href('ppac', { environment: h.id }) }, h.name), ' ', chip(h.provisioningState, stateKind(h.provisioningState)),
      facts([['Type', h.type], ['Linked app', h.linkedAppType || '–'], ['Dual-write', h.dualWrite || '–'], ['URL', h.url]]));
  };
  const termsOf = (op) => op.terminology
    ? el('div', { class: 'terms' }, `${op.terminology.operation}: LCS calls it ${op.terminology.lcs || '(no LCS operation)'}, PPAC calls it ${op.terminology.ppac || '(no PPAC operation)'}. ${op.terminology.whenLinked || ''}`)
    : null;
  show(el('h1', {}, 'Environments: both halves'),
    view.environments.map((env) => el('section', { class: 'card', id: `env-${env.id}`, 'aria-labelledby': `env-title-${env.id}` },
      el('h2', { id: `env-title-${env.id}` }, env.name),
      el('div', { class: 'pair' }, half('fo', env.financeAndOperations),
        el('div', { class: `link ${env.link.state}` }, el('div', { class: 'bar', 'aria-hidden': 'true' }),
          el('strong', {}, { linked: 'Linked', settingUp: 'Setting up', none: 'Not linked' }[env.link.state] || env.link.state),
          env.link.irreversible ? el('span', {}, 'irreversible: only deleting the F&O half ends it') : null),
        half('dv', env.dataverse)),
      env.warnings.map((w) => el('div', { class: 'message warn' }, typeof w === 'string' ? w : (w.message || JSON.stringify(w)))),
      env.operations.map((op) => el('div', {}, opBar(op, view.now), termsOf(op)))),
    ),
    el('section', { class: 'card', 'aria-labelledby': 'terms-title' }, el('h2', { id: 'terms-title' }, 'Same operation, different names'),
      el('table', {}, el('thead', {}, el('tr', {}, ['Operation', 'LCS', 'PPAC', 'When linked'].map((h) => el('th', {}, h)))),
        el('tbody', {}, view.terminology.map((t) => el('tr', {}, el('td', {}, t.operation), el('td', {}, t.lcs || '—'), el('td', {}, t.ppac || '—'), el('td', {}, t.whenLinked)))))));
}

const PAGES = { lcs: lcsPage, ppac: ppacPage, environments: conceptPage };

// ---- live updates ----

// The open event stream, and the poll that stands in while there is none.
let stream = null;
let fallback = null;
const poll = () => { if (!fallback) fallback = setInterval(schedule, 2000); };

function listen() {
  if (!window.EventSource) return poll();
  if (stream && stream.readyState !== EventSource.CLOSED) return;
  const events = new EventSource('/_sim/events');
  stream = events;
  events.addEventListener('clock', (e) => {
    const clock = JSON.parse(e.data);
    // Before the first reading the page is usually reading already.
    if (!state.clock) { if (!refreshing) schedule(); return; }
    const moved = clock.now !== state.clock.now || clock.paused !== state.clock.paused || clock.scale !== state.clock.scale;
    state.clock = clock;
    if (moved) schedule();
  });
  events.addEventListener('change', (e) => {
    // Issuing a token changes nothing a page shows (the page's own sign-in would redraw it).
    if (!/\/oauth2\//.test(JSON.parse(e.data).route || '')) schedule();
  });
  events.addEventListener('lagged', schedule);
  let opened = false;
  events.addEventListener('open', () => {
    // The stream is open (the simulator counts this page as a listener): tests wait on it.
    document.body.dataset.live = 'true';
    if (fallback) { clearInterval(fallback); fallback = null; }
    // Reconnected (e.g. the simulator restarted): read everything again.
    if (opened) { $('#notice').replaceChildren(); schedule(); }
    opened = true;
  });
  events.addEventListener('error', () => { document.body.dataset.live = 'false'; poll(); });
}

// A browser holds few connections per host; a page left (or kept for Back) lets go of its stream.
window.addEventListener('pagehide', () => { stream?.close(); clearInterval(fallback); fallback = null; });
window.addEventListener('pageshow', (e) => { if (e.persisted) { schedule(); listen(); } });

// A bug in the page shows like a refusal instead of leaving the page blank.
window.addEventListener('error', (e) => refuse(new Refusal(0, 'PageError', String(e.message || e.error)), 'The page'));
window.addEventListener('unhandledrejection', (e) => refuse(e.reason instanceof Error ? e.reason : new Refusal(0, 'PageError', String(e.reason)), 'The page'));

document.body.classList.add(PAGE);
document.title = `${PAGE_TITLES[PAGE] || 'lifecycle-sim'} · lifecycle-sim training`;
setupTrainer();
schedule();
listen();
