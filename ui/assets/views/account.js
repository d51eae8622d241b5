// views/account.js: the signed-in user changes their own password.
import * as api from '../api.js';
import { h, field, actionForm, notice, kv } from '../dom.js';

export const name = 'account';

export async function render(ctx) {
  document.title = 'Your account · berth';
  ctx.el.append(h('h1', null, 'Your account'), kv([
    ['User', ctx.me.name],
    ['System admin', ctx.me.admin ? 'yes' : 'no'],
  ]));
  if (ctx.me.robot) return;
  ctx.el.append(h('section', { class: 'panel', 'aria-labelledby': 'pw' }, h('h2', { id: 'pw' }, 'Change your password'),
    actionForm({ class: 'stack' }, [
      field('Current password', { name: 'current', type: 'password', required: true, autocomplete: 'current-password' }),
      field('New password (8 characters or more)', { name: 'next', type: 'password', required: true, minlength: 8, autocomplete: 'new-password' }),
      field('New password again', { name: 'again', type: 'password', required: true, minlength: 8, autocomplete: 'new-password' }),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Change password')),
    ], async (v, form) => {
      if (v.next !== v.again) throw new Error('The two new passwords differ.');
      await api.put('/me/password', { current_password: v.current, new_password: v.next });
      form.reset();
      notice('Password changed.');
    })));
}
