// views/projects.js: the projects the caller may see, with their usage against the
// quota; system admins create projects here.
import * as api from '../api.js';
import { h, pagedTable, searchBox, usageBar, field, actionForm, notice } from '../dom.js';
import { parseSize } from './project.js';

export const name = 'projects';

export async function render(ctx) {
  document.title = 'Projects · berth';
  let q = '';
  const table = pagedTable({
    caption: 'Projects',
    empty: 'No project you may see.',
    load: (cursor) => api.get('/projects' + api.qs({ q, limit: api.PAGE, cursor })),
    columns: [
      { title: 'Name', cell: (p) => h('a', { href: ctx.link.project(p.name) }, p.name) },
      { title: 'Access', cell: (p) => h('span', { class: 'badge ' + (p.public ? 'public' : 'private') }, p.public ? 'public' : 'private') },
      { title: 'Your role', cell: (p) => p.role || (ctx.me.admin ? 'system admin' : '–') },
      { title: 'Repositories', class: 'num', cell: (p) => String(p.repositories ?? '–') },
      { title: 'Usage', class: 'usage-col', cell: (p) => usageBar(p.usage ? p.usage.bytes : 0, p.quota) },
    ],
  });
  ctx.el.append(
    h('div', { class: 'title-row' }, h('h1', null, 'Projects')),
    searchBox('Search projects', (v) => {
      q = v;
      table.reload().catch(() => {});
    }, 'name contains…'),
    table);
  if (ctx.me.admin) ctx.el.append(createForm(ctx, table));
  await table.reload();
}

function createForm(ctx, table) {
  return h('details', { class: 'panel' },
    h('summary', null, 'New project'),
    actionForm({ class: 'inline' }, [
      field('Project name', { name: 'name', required: true, pattern: '[a-z0-9]+([._-][a-z0-9]+)*', autocapitalize: 'none' }),
      field('Quota (e.g. 10GiB; empty: none)', { name: 'quota' }),
      field('Public (anyone may pull)', { name: 'public', type: 'checkbox' }),
      h('button', { type: 'submit' }, 'Create project'),
    ], async (v, form) => {
      const quota = v.quota ? parseSize(v.quota) : null;
      await api.post('/projects', { name: v.name, public: v.public, quota });
      notice('Project ' + v.name + ' created.');
      form.reset();
      await table.reload();
    }));
}
