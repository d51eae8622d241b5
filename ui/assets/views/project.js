// views/project.js: one project, in tabs: its repositories (search, pages), members
// and their roles, robot accounts (the secret shown once), webhooks
// (views/webhooks.js), and the settings the API exposes (visibility, quota, a proxy
// project's upstream and its counters, immutable tags, retention). Every control is
// offered only when the project's `permissions` list its action.
import * as api from '../api.js';
import * as webhooks from './webhooks.js';
import {
  h, pagedTable, searchBox, usageBar, fmtBytes, fmtTime, field, actionForm, notice, confirmDialog,
  copyButton, can, tabs, kv, errorText,
} from '../dom.js';

export const name = 'project';

const ROLES = ['reader', 'developer', 'maintainer', 'admin'];

// "10GiB", "1.5 GB", "500m", "123" → bytes (binary and decimal units); throws on garbage
export function parseSize(s) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?)b?\s*$/i.exec(s);
  if (!m) throw new Error('Not a size: "' + s + '" (e.g. 500MiB, 10GiB, 1TB)');
  const exp = ' kmgtp'.indexOf(m[2].toLowerCase() || ' ');
  const base = m[3] || !m[2] ? 1024 : 1000;
  return Math.round(Number(m[1]) * base ** Math.max(exp, 0));
}

export async function render(ctx) {
  const p = await api.get('/projects/' + api.seg(ctx.params.project));
  const tab = ctx.params.tab;
  document.title = p.name + ' · berth';
  const items = [
    { id: 'repositories', label: 'Repositories', href: ctx.link.project(p.name) },
    { id: 'members', label: 'Members', href: ctx.link.project(p.name, 'members') },
  ];
  if (can(p, 'robots')) items.push({ id: 'robots', label: 'Robot accounts', href: ctx.link.project(p.name, 'robots') });
  if (can(p, 'webhooks')) items.push({ id: 'webhooks', label: 'Webhooks', href: ctx.link.project(p.name, 'webhooks') });
  items.push({ id: 'settings', label: 'Settings', href: ctx.link.project(p.name, 'settings') });
  ctx.el.append(
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: ctx.link.projects() }, 'Projects'), ' / '),
    h('div', { class: 'title-row' },
      h('h1', null, p.name),
      h('span', { class: 'badge ' + (p.public ? 'public' : 'private') }, p.public ? 'public' : 'private'),
      p.proxy ? h('span', { class: 'badge' }, 'proxy cache') : null),
    kv([
      ['Your role', p.role || (ctx.me.admin ? 'system admin' : 'none (public project)')],
      ['Repositories', String(p.repositories ?? '–')],
      ['Usage', usageBar(p.usage ? p.usage.bytes : 0, p.quota)],
    ]),
    tabs(items, tab));
  const section = h('section', { class: 'tab-body', 'aria-label': items.find((t) => t.id === tab)?.label || tab });
  ctx.el.append(section);
  switch (tab) {
    case 'repositories':
      return repositories(ctx, p, section);
    case 'members':
      return members(ctx, p, section);
    case 'robots':
      return robots(ctx, p, section);
    case 'webhooks':
      if (!can(p, 'webhooks')) break;
      return webhooks.render(ctx, p, section);
    case 'settings':
      return settings(ctx, p, section);
    default:
      break;
  }
  section.append(h('p', null, 'No such section.'));
}

async function repositories(ctx, p, el) {
  let q = '';
  const table = pagedTable({
    caption: 'Repositories of ' + p.name,
    empty: 'No repository yet. Push one: docker push ' + location.host + '/' + p.name + '/IMAGE:TAG',
    load: (cursor) => api.get('/repositories' + api.qs({ project: p.name, q, limit: api.PAGE, cursor })),
    columns: [
      { title: 'Repository', cell: (r) => h('a', { href: ctx.link.repo(r.name) }, r.name) },
      // lists count a repository's tags up to 10000 (the API's rule; exact on its page)
      { title: 'Tags', class: 'num', cell: (r) => (r.tags >= 10000 ? '10000+' : String(r.tags)) },
      { title: 'Size', class: 'num', cell: (r) => fmtBytes(r.size) },
      { title: 'Last push', cell: (r) => fmtTime(r.updated) },
    ],
  });
  el.append(searchBox('Search repositories', (v) => {
    q = v;
    table.reload().catch(() => {});
  }, 'name contains…'), table);
  await table.reload();
}

async function members(ctx, p, el) {
  const manage = can(p, 'members');
  const base = '/projects/' + api.seg(p.name) + '/members';
  const table = pagedTable({
    caption: 'Members of ' + p.name,
    empty: 'No members.',
    load: (cursor) => api.get(base + api.qs({ limit: api.PAGE, cursor })),
    columns: [
      { title: 'User', cell: (m) => m.user },
      {
        title: 'Role',
        cell: (m) => {
          if (!manage) return m.role;
          const sel = h('select', { 'aria-label': 'Role of ' + m.user, 'data-member': m.user },
            ROLES.map((r) => h('option', { value: r, selected: r === m.role }, r)));
          sel.addEventListener('change', async () => {
            sel.disabled = true;
            try {
              await api.put(base + '/' + api.seg(m.user), { role: sel.value });
              notice(m.user + ' is now ' + sel.value + ' of ' + p.name + '.');
              m.role = sel.value;
            } catch (e) {
              sel.value = m.role;
              notice(errorText(e), 'error');
            } finally {
              sel.disabled = false;
            }
          });
          return sel;
        },
      },
      manage ? {
        title: 'Actions',
        cell: (m) => h('button', {
          type: 'button', class: 'danger small', 'aria-label': 'Remove ' + m.user,
          onclick: async () => {
            if (!(await confirmDialog('Remove ' + m.user + ' from ' + p.name + '?', 'Remove'))) return;
            try {
              await api.del(base + '/' + api.seg(m.user));
              notice(m.user + ' removed.');
              await table.refresh();
            } catch (e) {
              notice(errorText(e), 'error');
            }
          },
        }, 'Remove'),
      } : null,
    ].filter(Boolean),
  });
  el.append(h('p', { class: 'help' },
    'Readers pull; developers also push; maintainers also delete and manage retention and immutable tags; ' +
    'project admins also manage members, robot accounts and webhooks.'), table);
  if (manage) {
    el.append(h('details', { class: 'panel' }, h('summary', null, 'Add a member'),
      actionForm({ class: 'inline' }, [
        field('User name', { name: 'user', required: true, autocapitalize: 'none' }),
        field('Role', { name: 'role', value: 'developer' }, ROLES),
        h('button', { type: 'submit' }, 'Add member'),
      ], async (v, form) => {
        await api.put(base + '/' + api.seg(v.user), { role: v.role });
        notice(v.user + ' added as ' + v.role + '.');
        form.reset();
        await table.reload();
      })));
  }
  await table.reload();
}

async function robots(ctx, p, el) {
  const base = '/projects/' + api.seg(p.name) + '/robots';
  const shown = h('div', { class: 'secret-area' });
  const table = pagedTable({
    caption: 'Robot accounts of ' + p.name,
    empty: 'No robot account.',
    load: (cursor) => api.get(base + api.qs({ limit: api.PAGE, cursor })),
    columns: [
      { title: 'Name', cell: (r) => h('code', null, r.name) },
      { title: 'Access', cell: (r) => (r.push ? 'pull, push' : 'pull') },
      { title: 'Created', cell: (r) => fmtTime(r.created) },
      { title: 'Expires', cell: (r) => (r.expired ? h('span', { class: 'badge warn' }, 'expired') : r.expires ? fmtTime(r.expires) : 'never') },
      {
        title: 'Actions',
        cell: (r) => h('button', {
          type: 'button', class: 'danger small', 'aria-label': 'Revoke ' + r.name,
          onclick: async () => {
            if (!(await confirmDialog('Revoke ' + r.name + '? Clients using it lose access at once.', 'Revoke'))) return;
            try {
              await api.del(base + '/' + api.seg(r.name));
              notice(r.name + ' revoked.');
              await table.refresh();
            } catch (e) {
              notice(errorText(e), 'error');
            }
          },
        }, 'Revoke'),
      },
    ],
  });
  const form = actionForm({ class: 'inline' }, [
    field('May push', { name: 'push', type: 'checkbox' }),
    field('Expires after (days; empty: never)', { name: 'days', type: 'number', min: 1, max: 3650 }),
    h('button', { type: 'submit' }, 'Create robot account'),
  ], async (v, f) => {
    const days = v.days ? Number(v.days) : null;
    const r = await api.post(base, { push: v.push, expires_in: days ? days * 86400 : null });
    f.reset();
    shown.replaceChildren(secretPanel(r));
    shown.querySelector('h2').focus();
    await table.reload();
  });
  el.append(h('div', { class: 'panel' }, h('h2', null, 'New robot account'), form), shown, table);
  await table.reload();
}

// The answer of a robot creation: the secret, never shown again.
function secretPanel(r) {
  const block = (label, text, cls) => h('div', { class: 'secret-block' },
    h('div', { class: 'secret-head' }, h('h3', null, label), copyButton(text, 'Copy ' + label)),
    h('pre', { class: cls, tabindex: 0, 'aria-label': label }, text));
  return h('section', { class: 'panel secret', 'aria-labelledby': 'secret-title' },
    h('h2', { id: 'secret-title', tabindex: -1 }, 'Robot account ' + r.name + ' created'),
    h('p', { class: 'warn' }, 'Copy the secret now: it is shown this once and cannot be read again.'),
    block('Name', r.name, 'robot-name'),
    block('Secret', r.secret, 'robot-secret'),
    block('docker login', r.docker_login, 'robot-login'),
    block('Kubernetes Secret (kubernetes.io/dockerconfigjson)', r.secret_yaml, 'robot-yaml'),
    h('p', { class: 'help' }, 'Apply it with kubectl apply -f FILE and name it in imagePullSecrets.'),
    h('button', { type: 'button', class: 'secondary', onclick: (ev) => ev.target.closest('section').remove() }, 'I have copied it: hide'));
}

async function settings(ctx, p, el) {
  const base = '/projects/' + api.seg(p.name);
  const projectAdmin = can(p, 'members');
  const lifecycle = can(p, 'lifecycle');

  // visibility and quota
  const general = h('section', { class: 'panel', 'aria-labelledby': 'set-general' }, h('h2', { id: 'set-general' }, 'Access and quota'));
  general.append(kv([
    ['Access', p.public ? 'public: anyone may pull' : 'private: members only'],
    ['Quota', p.quota ? fmtBytes(p.quota) : 'none'],
    ['Usage', usageBar(p.usage ? p.usage.bytes : 0, p.quota)],
  ]));
  if (projectAdmin) {
    general.append(actionForm({ class: 'inline' }, [
      field('Public (anyone may pull)', { name: 'public', type: 'checkbox', checked: p.public }),
      h('button', { type: 'submit' }, 'Save access'),
    ], async (v) => {
      await api.patch(base, { public: v.public });
      notice(p.name + ' is now ' + (v.public ? 'public' : 'private') + '.');
      location.reload();
    }));
  }
  if (ctx.me.admin) {
    general.append(actionForm({ class: 'inline' }, [
      field('Quota (e.g. 10GiB; empty: none)', { name: 'quota', value: p.quota ? fmtBytes(p.quota).replace(' ', '') : '' }),
      h('button', { type: 'submit' }, 'Save quota'),
    ], async (v) => {
      const quota = v.quota ? parseSize(v.quota) : null;
      await api.patch(base, { quota });
      notice('Quota of ' + p.name + ': ' + (quota ? fmtBytes(quota) : 'none') + '.');
      location.reload();
    }));
  }
  el.append(general);

  // a proxy project: its upstream, and the counters of this server
  if (p.proxy) {
    const px = h('section', { class: 'panel', 'aria-labelledby': 'set-proxy' }, h('h2', { id: 'set-proxy' }, 'Pull-through cache'));
    el.append(px);
    await proxyPanel(ctx, p, base, px).catch((e) => px.append(h('p', { class: 'error' }, errorText(e))));
  }

  // immutable tags
  const imm = h('section', { class: 'panel', 'aria-labelledby': 'set-imm' }, h('h2', { id: 'set-imm' }, 'Immutable tags'),
    h('p', { class: 'help' }, 'A tag matching one of these patterns cannot be moved or deleted once pushed.'));
  const immList = h('ul', { class: 'rules' });
  imm.append(immList);
  const loadImm = async () => {
    const res = await api.get(base + '/immutability');
    immList.replaceChildren(...(res.rules.length ? res.rules.map((r) => h('li', null, h('code', null, r.pattern),
      lifecycle ? h('button', {
        type: 'button', class: 'danger small', 'aria-label': 'Remove rule ' + r.pattern,
        onclick: async () => {
          if (!(await confirmDialog('Remove the immutability rule ' + r.pattern + '?', 'Remove'))) return;
          try {
            await api.del(base + '/immutability' + api.qs({ pattern: r.pattern }));
            await loadImm();
          } catch (e) {
            notice(errorText(e), 'error');
          }
        },
      }, 'Remove') : null)) : [h('li', { class: 'muted' }, 'No rule: every tag may move.')]));
  };
  if (lifecycle) {
    imm.append(actionForm({ class: 'inline' }, [
      field('Tag pattern (e.g. v*)', { name: 'pattern', required: true }),
      h('button', { type: 'submit' }, 'Add pattern'),
    ], async (v, f) => {
      await api.post(base + '/immutability', { pattern: v.pattern });
      f.reset();
      await loadImm();
    }));
  }
  el.append(imm);

  // retention
  const ret = h('section', { class: 'panel', 'aria-labelledby': 'set-ret' }, h('h2', { id: 'set-ret' }, 'Retention policy'));
  el.append(ret);

  if (ctx.me.admin) {
    el.append(h('section', { class: 'panel danger-zone', 'aria-labelledby': 'set-del' },
      h('h2', { id: 'set-del' }, 'Delete the project'),
      h('p', null, 'Only a project without repositories can be deleted.'),
      h('button', {
        type: 'button', class: 'danger',
        onclick: async () => {
          if (!(await confirmDialog('Delete the project ' + p.name + '?', 'Delete project'))) return;
          try {
            await api.del(base);
            notice('Project ' + p.name + ' deleted.');
            location.hash = ctx.link.projects();
          } catch (e) {
            notice(errorText(e), 'error');
          }
        },
      }, 'Delete project ' + p.name)));
  }
  await Promise.all([loadImm().catch((e) => immList.replaceChildren(h('li', { class: 'error' }, errorText(e)))),
    retention(base, ret, lifecycle)]);
}

async function proxyPanel(ctx, p, base, el) {
  const x = await api.get(base + '/proxy');
  const st = x.status;
  el.append(h('p', { class: 'help' }, 'Images are fetched from the upstream on a miss and served from here afterwards; pushes are refused.'),
    kv([
      ['Upstream', h('code', { class: 'proxy-url' }, x.url)],
      ['Credentials', x.username ? x.username + (x.password_set ? ' (password set)' : '') : 'anonymous'],
      ['Private CA', x.ca_set ? 'yes' : 'no (the system\'s)'],
      ['Tags revalidated after', x.ttl + ' s'],
      ['Mirror of', x.mirror_of || 'the upstream\'s host'],
      ['Docker registry-mirrors', x.docker_mirror ? 'yes' : 'no'],
    ]));
  if (st) {
    el.append(h('h3', null, 'Since this server started'), kv([
      ['Hits', String(st.hits)],
      ['Misses', String(st.misses)],
      ['Revalidations', String(st.revalidations)],
      ['Stale copies served', String(st.stale_served)],
      ['Errors', String(st.errors)],
      ['Fetched', fmtBytes(st.bytes_fetched)],
      st.ratelimit_remaining != null ? ['Upstream rate limit left', st.ratelimit_remaining + (st.ratelimit_limit != null ? ' of ' + st.ratelimit_limit : '') + ' (' + fmtTime(st.ratelimit_time) + ')'] : null,
      st.problem ? ['Problem', h('span', { class: 'error' }, st.problem)] : null,
    ]));
  }
  if (!ctx.me.admin) return;
  el.append(actionForm({ class: 'inline' }, [
    field('Tags revalidated after (seconds)', { name: 'ttl', type: 'number', min: 0, value: String(x.ttl) }),
    field('Mirror of (registry host; empty: the upstream\'s)', { name: 'mirror_of', value: x.mirror_of || '' }),
    field('Takes docker\'s registry-mirrors requests', { name: 'docker_mirror', type: 'checkbox', checked: x.docker_mirror }),
    h('button', { type: 'submit' }, 'Save cache settings'),
  ], async (v) => {
    await api.patch(base, { proxy: { ttl: Number(v.ttl), mirror_of: v.mirror_of || null, docker_mirror: v.docker_mirror } });
    notice('Cache settings of ' + p.name + ' saved.');
    location.reload();
  }));
}

const KINDS = [
  { value: 'last-pushed', label: 'keep the N last pushed' },
  { value: 'last-pulled', label: 'keep the N last pulled' },
  { value: 'pushed-within', label: 'keep those pushed within N days' },
  { value: 'pulled-within', label: 'keep those pulled within N days' },
  { value: 'always', label: 'always keep' },
];
const within = (k) => k.endsWith('-within');

async function retention(base, el, lifecycle) {
  let policy = null;
  try {
    policy = await api.get(base + '/retention');
  } catch (e) {
    if (e.status !== 404) {
      el.append(h('p', { class: 'error' }, errorText(e)));
      return;
    }
  }
  el.append(h('p', { class: 'help' },
    'Tags matching no keep rule are removed by the retention runs; immutable tags are always kept.'));
  if (!lifecycle) {
    if (!policy) el.append(h('p', { class: 'muted' }, 'No retention policy: nothing is removed.'));
    else el.append(rulesTable(policy));
    return;
  }
  // the editor: one row per rule
  const rows = h('tbody');
  const addRow = (r = { kind: 'last-pushed', tags: '*', repos: '*', n: 10 }) => {
    const i = rows.children.length + 1;
    const n = within(r.kind) ? Math.round((r.n || 0) / 86400) : r.n;
    const tr = h('tr', null,
      h('td', null, h('select', { name: 'kind', 'aria-label': 'Rule ' + i + ' kind' },
        KINDS.map((k) => h('option', { value: k.value, selected: k.value === r.kind }, k.label)))),
      h('td', null, h('input', { name: 'n', type: 'number', min: 0, value: n ?? '', 'aria-label': 'Rule ' + i + ' N' })),
      h('td', null, h('input', { name: 'tags', value: r.tags || '*', 'aria-label': 'Rule ' + i + ' tags' })),
      h('td', null, h('input', { name: 'repos', value: r.repos || '*', 'aria-label': 'Rule ' + i + ' repositories' })),
      h('td', null, h('button', { type: 'button', class: 'secondary small', 'aria-label': 'Remove rule ' + i, onclick: () => tr.remove() }, 'Remove')));
    rows.append(tr);
  };
  (policy ? policy.rules : []).forEach(addRow);
  const untagged = policy && policy.untagged_after != null ? Math.round(policy.untagged_after / 86400) : '';
  const form = h('form', { class: 'retention' },
    h('table', null, h('caption', null, 'Keep rules'),
      h('thead', null, h('tr', null, ['Kind', 'N', 'Tags', 'Repositories', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))), rows),
    h('div', { class: 'actions' }, h('button', { type: 'button', class: 'secondary', onclick: () => addRow() }, 'Add keep rule')),
    field('Remove untagged manifests after (days; empty: never)', { name: 'untagged', type: 'number', min: 0, value: untagged }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Save policy'),
      policy ? h('button', {
        type: 'button', class: 'danger', onclick: async () => {
          if (!(await confirmDialog('Remove the retention policy? Nothing will be removed by retention runs.', 'Remove policy'))) return;
          try {
            await api.del(base + '/retention');
            notice('Retention policy removed.');
            location.reload();
          } catch (e) {
            notice(errorText(e), 'error');
          }
        },
      }, 'Remove policy') : null));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const rules = [...rows.children].map((tr) => {
      const kind = tr.querySelector('[name=kind]').value;
      const nv = Number(tr.querySelector('[name=n]').value || 0);
      const rule = { kind, tags: tr.querySelector('[name=tags]').value || '*', repos: tr.querySelector('[name=repos]').value || '*' };
      rule.n = kind === 'always' ? 0 : within(kind) ? nv * 86400 : nv;
      return rule;
    });
    const u = form.querySelector('[name=untagged]').value;
    try {
      await api.put(base + '/retention', { untagged_after: u === '' ? null : Number(u) * 86400, rules });
      notice('Retention policy saved.');
    } catch (e) {
      notice(errorText(e), 'error');
    }
  });
  el.append(form);
}

function rulesTable(policy) {
  return h('div', null,
    h('table', null, h('caption', null, 'Keep rules'),
      h('thead', null, h('tr', null, ['Kind', 'N', 'Tags', 'Repositories'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, policy.rules.map((r) => h('tr', null,
        h('td', null, r.kind),
        h('td', null, r.n == null ? '–' : within(r.kind) ? Math.round(r.n / 86400) + ' days' : String(r.n)),
        h('td', null, h('code', null, r.tags)),
        h('td', null, h('code', null, r.repos)))))),
    h('p', null, 'Untagged manifests: ' + (policy.untagged_after == null ? 'kept' : 'removed after ' + Math.round(policy.untagged_after / 86400) + ' days')));
}
