// views/audit.js: the audit trail, newest first, filtered by user, project,
// repository, action and time. System admins see everything; a project admin sees
// the entries of a project of theirs (the project filter is then required).
import * as api from '../api.js';
import { h, pagedTable, field, fmtTime } from '../dom.js';

export const name = 'audit';

// suggestions only: the field takes any action name
const ACTIONS = ['push', 'pull', 'delete', 'login', 'login-failed', 'password', 'member-set', 'member-delete',
  'robot-create', 'robot-revoke', 'project-create', 'project-delete', 'user-create', 'user-change', 'user-delete',
  'immutable-add', 'immutable-delete', 'retention-set', 'retention-delete-policy', 'retention-delete', 'gc-start'];

// datetime-local value (the browser's time zone) → RFC 3339 UTC, or ''
function toIso(v) {
  if (!v) return '';
  const t = new Date(v);
  return Number.isNaN(t.getTime()) ? '' : t.toISOString().replace(/\.\d+Z$/, 'Z');
}

export async function render(ctx) {
  document.title = 'Audit trail · berth';
  const q = ctx.query;
  const filters = {
    user: q.get('user') || '', project: q.get('project') || '', repository: q.get('repository') || '',
    action: q.get('action') || '', since: q.get('since') || '', until: q.get('until') || '',
  };
  const form = h('form', { class: 'filters', 'aria-label': 'Filters' },
    field('User', { name: 'user', value: filters.user, autocapitalize: 'none' }),
    field('Project', { name: 'project', value: filters.project, autocapitalize: 'none' }),
    field('Repository', { name: 'repository', value: filters.repository, autocapitalize: 'none' }),
    field('Action', { name: 'action', value: filters.action, list: 'audit-actions', autocapitalize: 'none' }),
    h('datalist', { id: 'audit-actions' }, ACTIONS.map((a) => h('option', { value: a }))),
    field('Since', { name: 'since', type: 'datetime-local' }),
    field('Until', { name: 'until', type: 'datetime-local' }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Filter'),
      h('a', { class: 'button secondary', href: '#/audit' }, 'Clear')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = Object.fromEntries(new FormData(form).entries());
    v.since = toIso(v.since);
    v.until = toIso(v.until);
    location.hash = '#/audit' + api.qs(v);
  });
  const table = pagedTable({
    caption: 'Audit entries, newest first',
    empty: 'No entry matches.',
    load: (cursor) => api.get('/audit' + api.qs({ ...filters, limit: api.PAGE, cursor })),
    rowAttrs: (e) => ({ 'data-action': e.action }),
    columns: [
      { title: 'Time', cell: (e) => fmtTime(e.time) },
      { title: 'User', cell: (e) => h('a', { href: ctx.link.audit({ ...filters, user: e.user }) }, e.user || '–') },
      { title: 'Client', cell: (e) => e.client || '–' },
      { title: 'Action', cell: (e) => h('span', { class: 'badge' }, e.action) },
      { title: 'Repository', cell: (e) => (e.repository ? h('a', { href: ctx.link.repo(e.repository) }, e.repository) : '–') },
      { title: 'Detail', cell: (e) => (e.detail ? h('code', { class: 'wrap' }, e.detail) : '') },
    ],
  });
  ctx.el.append(h('h1', null, 'Audit trail'), form);
  if (!ctx.me.admin && !filters.project) {
    ctx.el.append(h('p', { class: 'help' }, 'As a project admin, name one of your projects in the Project filter.'));
    return;
  }
  ctx.el.append(table);
  await table.reload();
}
