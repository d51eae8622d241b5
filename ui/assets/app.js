// app.js: berth's web UI. One page; the views are chosen by the location's hash
// (#/projects/team, #/r/team/app/-/1.0), so every view has a link that survives a
// reload and the server serves a single HTML file. The signed-in user comes from
// GET /api/v1/me (the session cookie); without one the login form is shown.
import * as api from './api.js';
import { h, notice, errorText } from './dom.js';
import * as login from './views/login.js';
import * as projects from './views/projects.js';
import * as project from './views/project.js';
import * as repository from './views/repository.js';
import * as artifact from './views/artifact.js';
import * as users from './views/users.js';
import * as audit from './views/audit.js';
import * as system from './views/system.js';
import * as account from './views/account.js';

const state = { me: null, rendered: 0 };

// location.hash → {view, params, query}
function parseRoute() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const qi = raw.indexOf('?');
  const path = qi >= 0 ? raw.slice(0, qi) : raw;
  const query = new URLSearchParams(qi >= 0 ? raw.slice(qi + 1) : '');
  const parts = path.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  const [first, ...rest] = parts;
  switch (first) {
    case undefined:
      return { view: 'home' };
    case 'login':
      return { view: login, query };
    case 'projects':
      if (rest.length === 0) return { view: projects, query };
      return { view: project, params: { project: rest[0], tab: rest[1] || 'repositories' }, query };
    case 'r': {
      const sep = rest.indexOf('-');
      if (sep > 0 && sep < rest.length - 1) {
        return { view: artifact, params: { repo: rest.slice(0, sep).join('/'), ref: rest.slice(sep + 1).join('/') }, query };
      }
      if (rest.length) return { view: repository, params: { repo: rest.join('/') }, query };
      break;
    }
    case 'users':
      return { view: users, query };
    case 'audit':
      return { view: audit, query };
    case 'system':
      return { view: system, query };
    case 'account':
      return { view: account, query };
    default:
      break;
  }
  return { view: null };
}

// Links into the views (every name encoded: the hash is parsed segment by segment).
export const link = {
  projects: () => '#/projects',
  project: (p, tab) => '#/projects/' + encodeURIComponent(p) + (tab ? '/' + tab : ''),
  repo: (r) => '#/r/' + r.split('/').map(encodeURIComponent).join('/'),
  artifact: (r, ref) => link.repo(r) + '/-/' + encodeURIComponent(ref),
  audit: (params) => '#/audit' + (params ? api.qs(params) : ''),
};

function header() {
  const top = document.getElementById('top');
  const me = state.me;
  const nav = me
    ? h('nav', { 'aria-label': 'Main' },
      h('ul', null,
        h('li', null, h('a', { href: '#/projects' }, 'Projects')),
        h('li', null, h('a', { href: '#/audit' }, 'Audit')),
        me.admin ? h('li', null, h('a', { href: '#/users' }, 'Users')) : null,
        h('li', null, h('a', { href: '#/system' }, 'System'))))
    : null;
  const user = me
    ? h('div', { class: 'user' },
      h('a', { href: '#/account', title: 'Your account' }, me.name + (me.admin ? ' (admin)' : '')),
      h('button', { type: 'button', class: 'secondary', onclick: logout }, 'Log out'))
    : null;
  top.replaceChildren(h('div', { class: 'bar' },
    h('a', { class: 'brand', href: me ? '#/projects' : '#/login' },
      h('img', { src: new URL('./favicon.svg', import.meta.url).pathname, alt: '', width: 24, height: 24 }), 'berth'),
    nav, user));
  markCurrent();
}

function markCurrent() {
  const hash = location.hash || '#/';
  for (const a of document.querySelectorAll('#top nav a')) {
    const href = a.getAttribute('href');
    if (hash === href || hash.startsWith(href + '/') || hash.startsWith(href + '?')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function logout() {
  try {
    await api.post('/logout');
  } catch (e) {
    // the session may be gone already: the page forgets it either way
    if (e.status !== 401) notice(errorText(e), 'error');
  }
  api.setCsrf(null);
  state.me = null;
  header();
  location.hash = '#/login';
}

// After POST /login (views/login.js).
export function signedIn(me, csrf) {
  state.me = me;
  api.setCsrf(csrf);
  header();
}

async function render() {
  performance.clearMarks('berth:route');
  performance.mark('berth:route'); // where 'berth:shown' (dom.js) counts from
  const route = parseRoute();
  const main = document.getElementById('main');
  if (route.view === 'home') {
    location.replace(state.me ? '#/projects' : '#/login');
    return;
  }
  if (!state.me && route.view !== login) {
    const back = location.hash && location.hash !== '#/login' ? location.hash : '';
    location.replace('#/login' + (back ? '?next=' + encodeURIComponent(back) : ''));
    return;
  }
  if (state.me && route.view === login) {
    location.replace('#/projects');
    return;
  }
  markCurrent();
  const notices = h('div', { id: 'notices' });
  const body = h('div', { class: 'view' });
  main.replaceChildren(notices, body);
  if (!route.view) {
    document.title = 'Not found · berth';
    body.append(h('h1', null, 'Not found'), h('p', null, 'No page here. ', h('a', { href: '#/projects' }, 'Go to the projects.')));
    return;
  }
  const ctx = { el: body, params: route.params || {}, query: route.query, me: state.me, link, app: { signedIn } };
  try {
    await route.view.render(ctx);
  } catch (e) {
    if (e.status === 401) return; // the login form takes over
    body.append(h('h1', null, 'Cannot show this page'), h('p', { class: 'error', role: 'alert' }, errorText(e)));
  }
  if (state.rendered++ > 0) main.focus({ preventScroll: true });
  document.body.dataset.view = route.view.name || '';
  document.body.dataset.ready = String(state.rendered);
}

async function start() {
  // the skip link moves focus to the content without touching the hash (the route)
  const skip = document.querySelector('a.skip');
  if (skip) {
    skip.addEventListener('click', (ev) => {
      ev.preventDefault();
      document.getElementById('main').focus();
    });
  }
  api.setUnauthorizedHandler(() => {
    if (!state.me) return;
    state.me = null;
    api.setCsrf(null);
    header();
    notice('Your session ended: log in again.', 'error');
    location.hash = '#/login';
  });
  try {
    const me = await api.get('/me');
    state.me = me;
    api.setCsrf(me.csrf_token);
  } catch (e) {
    state.me = null;
    if (e.status !== 401) console.warn('berth: /me: ' + errorText(e));
  }
  header();
  window.addEventListener('hashchange', render);
  await render();
}

start();
