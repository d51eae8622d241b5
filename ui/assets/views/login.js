// views/login.js: the login form. POST /api/v1/login sets the session cookie
// (HttpOnly) and answers the user and the session's CSRF token.
import * as api from '../api.js';
import { h, field, actionForm, notice } from '../dom.js';

export const name = 'login';

export async function render(ctx) {
  document.title = 'Log in · berth';
  const next = ctx.query.get('next');
  const form = actionForm({ class: 'login', 'aria-labelledby': 'login-title' }, [
    h('h1', { id: 'login-title' }, 'Log in to berth'),
    field('Username', { name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' }),
    field('Password', { name: 'password', type: 'password', autocomplete: 'current-password', required: true }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Log in')),
  ], async (v) => {
    let res;
    try {
      res = await api.post('/login', { username: v.username, password: v.password });
    } catch (e) {
      if (e.status === 401) throw new Error('Wrong username or password.');
      if (e.status === 429) throw new Error('Too many failed attempts: wait a moment and try again.');
      throw e;
    }
    ctx.app.signedIn(res.user, res.csrf_token);
    location.hash = next && next.startsWith('#/') && !next.startsWith('#/login') ? next : '#/projects';
  });
  ctx.el.append(h('div', { class: 'login-wrap' }, form));
  form.querySelector('input').focus();
  if (ctx.query.get('expired')) notice('Your session ended: log in again.', 'error');
}
