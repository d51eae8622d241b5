// views/users.js: the users (system admins only): create, reset a password, grant or
// take the admin flag, delete.
import * as api from '../api.js';
import { h, pagedTable, searchBox, fmtTime, field, actionForm, notice, confirmDialog, errorText } from '../dom.js';

export const name = 'users';

function passwordDialog(user) {
  return new Promise((resolve) => {
    const d = h('dialog', { 'aria-labelledby': 'pw-title' },
      h('form', { method: 'dialog' },
        h('h2', { id: 'pw-title' }, 'New password for ' + user),
        field('New password (8 characters or more)', { name: 'password', type: 'password', minlength: 8, autocomplete: 'new-password' }),
        h('div', { class: 'actions' },
          h('button', { value: 'cancel', class: 'secondary', formnovalidate: true }, 'Cancel'),
          h('button', { value: 'ok' }, 'Set password'))));
    d.addEventListener('close', () => {
      const pw = d.querySelector('input').value;
      resolve(d.returnValue === 'ok' && pw ? pw : null);
      d.remove();
    });
    document.body.appendChild(d);
    d.showModal();
  });
}

export async function render(ctx) {
  document.title = 'Users · berth';
  ctx.el.append(h('h1', null, 'Users'));
  if (!ctx.me.admin) {
    ctx.el.append(h('p', null, 'Only system admins manage users. ', h('a', { href: '#/account' }, 'Change your own password.')));
    return;
  }
  let q = '';
  const table = pagedTable({
    caption: 'Users',
    rowAttrs: (u) => ({ 'data-user': u.name }),
    load: (cursor) => api.get('/users' + api.qs({ q, limit: api.PAGE, cursor })),
    columns: [
      { title: 'Name', cell: (u) => u.name },
      { title: 'System admin', cell: (u) => (u.admin ? 'yes' : 'no') },
      { title: 'Created', cell: (u) => fmtTime(u.created) },
      {
        title: 'Actions',
        cell: (u) => h('span', { class: 'row-actions' },
          h('button', {
            type: 'button', class: 'secondary small', 'aria-label': 'Reset password of ' + u.name,
            onclick: async () => {
              const pw = await passwordDialog(u.name);
              if (!pw) return;
              try {
                await api.patch('/users/' + api.seg(u.name), { password: pw });
                notice('Password of ' + u.name + ' changed.');
              } catch (e) {
                notice(errorText(e), 'error');
              }
            },
          }, 'Reset password'),
          u.name === ctx.me.name ? null : h('button', {
            type: 'button', class: 'secondary small', 'aria-label': (u.admin ? 'Revoke admin from ' : 'Make admin: ') + u.name,
            onclick: async () => {
              try {
                await api.patch('/users/' + api.seg(u.name), { admin: !u.admin });
                notice(u.name + (u.admin ? ' is no longer' : ' is now') + ' a system admin.');
                await table.refresh();
              } catch (e) {
                notice(errorText(e), 'error');
              }
            },
          }, u.admin ? 'Revoke admin' : 'Make admin'),
          u.name === ctx.me.name ? null : h('button', {
            type: 'button', class: 'danger small', 'aria-label': 'Delete user ' + u.name,
            onclick: async () => {
              if (!(await confirmDialog('Delete the user ' + u.name + '?', 'Delete user'))) return;
              try {
                await api.del('/users/' + api.seg(u.name));
                notice('User ' + u.name + ' deleted.');
                await table.refresh();
              } catch (e) {
                notice(errorText(e), 'error');
              }
            },
          }, 'Delete')),
      },
    ],
  });
  ctx.el.append(
    searchBox('Search users', (v) => {
      q = v;
      table.reload().catch(() => {});
    }, 'name contains…'),
    table,
    h('details', { class: 'panel' }, h('summary', null, 'New user'),
      actionForm({ class: 'inline' }, [
        field('User name', { name: 'name', required: true, autocapitalize: 'none', autocomplete: 'off' }),
        field('Password (8 characters or more)', { name: 'password', type: 'password', required: true, minlength: 8, autocomplete: 'new-password' }),
        field('System admin', { name: 'admin', type: 'checkbox' }),
        h('button', { type: 'submit' }, 'Create user'),
      ], async (v, form) => {
        await api.post('/users', { name: v.name, password: v.password, admin: v.admin });
        notice('User ' + v.name + ' created.');
        form.reset();
        await table.reload();
      })));
  await table.reload();
}
