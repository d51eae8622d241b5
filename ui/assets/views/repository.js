// views/repository.js: a repository's tags, one page at a time (the API's cursor):
// tag, short digest, size, platforms, push and pull times, referrers, and the pull
// command with a copy button. Deleting a tag or the repository asks first and is
// offered only with the `delete` permission.
import * as api from '../api.js';
import {
  h, pagedTable, searchBox, fmtBytes, fmtTime, shortDigest, platformText, copyButton, confirmDialog, notice,
  errorText, can, kv,
} from '../dom.js';

export const name = 'repository';

// an image manifest (its config an image configuration), not another OCI artifact
export function isImage(a) {
  const t = a.artifact_type;
  return !t || /image\.config\.v1\+json$|container\.image\.v1\+json$/.test(t);
}

export function pullCommand(repo, ref) {
  const sep = ref.includes(':') ? '@' : ':';
  return 'docker pull ' + location.host + '/' + repo + sep + ref;
}

export async function render(ctx) {
  const repo = ctx.params.repo;
  const base = '/repositories/' + api.seg(repo) + '/-';
  const limit = Number(ctx.query.get('limit')) || api.PAGE;
  // the first page of tags is asked for together with the repository's figures
  let firstPage = api.get(base + '/artifacts' + api.qs({ limit }));
  firstPage.catch(() => {}); // a failure is reported when the table takes it
  const r = await api.get('/repositories/' + api.seg(repo));
  const project = r.project || repo.split('/')[0];
  const mayDelete = can(r, 'delete');
  document.title = repo + ' · berth';
  let q = '';

  const columns = [
    {
      title: 'Tag',
      cell: (a) => h('span', { class: 'tag-cell' }, h('a', { href: ctx.link.artifact(repo, a.tag) }, a.tag),
        a.immutable ? h('span', { class: 'badge', title: 'protected by an immutability rule' }, 'immutable') : null),
    },
    { title: 'Digest', cell: (a) => shortDigest(a.digest) },
    { title: 'Size', class: 'num', cell: (a) => fmtBytes(a.size) },
    {
      title: 'Platforms',
      cell: (a) => (a.platforms && a.platforms.length
        ? h('span', { class: 'platforms' }, a.platforms.map((p) => h('span', { class: 'chip' }, platformText(p))))
        : isImage(a) ? h('span', { class: 'muted' }, 'single image')
          : h('span', { class: 'muted', title: a.artifact_type || a.media_type }, 'artifact')),
    },
    { title: 'Pushed', cell: (a) => fmtTime(a.pushed) },
    { title: 'Last pulled', cell: (a) => h('span', null, fmtTime(a.last_pulled), a.pull_count ? ' (' + a.pull_count + ')' : '') },
    {
      title: 'Referrers',
      class: 'num',
      cell: (a) => (a.referrers && a.referrers.length
        ? h('span', { title: a.referrers.map((x) => x.artifact_type || x.media_type).join('\n') }, String(a.referrers.length))
        : '0'),
    },
    {
      title: 'Pull',
      cell: (a) => {
        const cmd = pullCommand(repo, a.tag);
        return h('span', { class: 'pull' }, h('code', { class: 'cmd' }, cmd), copyButton(cmd, 'pull command for ' + a.tag));
      },
    },
  ];
  if (mayDelete) {
    columns.push({
      title: 'Actions',
      cell: (a) => h('button', {
        type: 'button', class: 'danger small', 'aria-label': 'Delete tag ' + a.tag, 'data-delete-tag': a.tag,
        onclick: async () => {
          if (!(await confirmDialog('Delete the tag ' + a.tag + ' of ' + repo + '? The manifest stays reachable by digest until garbage collection.', 'Delete tag'))) return;
          try {
            await api.del(base + '/tags/' + encodeURIComponent(a.tag));
            notice('Tag ' + a.tag + ' deleted.');
            await table.refresh();
          } catch (e) {
            notice(errorText(e), 'error');
          }
        },
      }, 'Delete'),
    });
  }
  const table = pagedTable({
    caption: 'Tags of ' + repo,
    empty: 'No tag.',
    rowAttrs: (a) => ({ 'data-tag': a.tag }),
    load: (cursor) => {
      if (firstPage && !cursor && !q) {
        const p = firstPage;
        firstPage = null;
        return p;
      }
      firstPage = null;
      return api.get(base + '/artifacts' + api.qs({ q, limit, cursor }));
    },
    columns,
  });

  ctx.el.append(
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
      h('a', { href: ctx.link.projects() }, 'Projects'), ' / ',
      h('a', { href: ctx.link.project(project) }, project), ' / '),
    h('div', { class: 'title-row' }, h('h1', null, repo)),
    kv([
      ['Tags', String(r.tags)],
      ['Size', fmtBytes(r.size)],
      ['Last push', fmtTime(r.updated)],
      ['Pull', h('span', { class: 'pull' }, h('code', { class: 'cmd' }, pullCommand(repo, 'TAG')))],
    ]),
    searchBox('Search tags', (v) => {
      q = v;
      table.reload().catch(() => {});
    }, 'tag contains…'),
    table);
  if (mayDelete) {
    ctx.el.append(h('section', { class: 'panel danger-zone', 'aria-labelledby': 'repo-del' },
      h('h2', { id: 'repo-del' }, 'Delete the repository'),
      h('p', null, 'Removes every tag and manifest of ' + repo + '.'),
      h('button', {
        type: 'button', class: 'danger',
        onclick: async () => {
          if (!(await confirmDialog('Delete the repository ' + repo + ' with all its tags?', 'Delete repository'))) return;
          try {
            await api.del('/repositories/' + api.seg(repo));
            notice('Repository ' + repo + ' deleted.');
            location.hash = ctx.link.project(project);
          } catch (e) {
            notice(errorText(e), 'error');
          }
        },
      }, 'Delete repository')));
  }
  await table.reload();
}
