// views/artifact.js: one artifact (by tag or digest): its figures, the pull commands,
// the platforms of an index, the image configuration (env, cmd, entrypoint, labels,
// history), the layers with their sizes, the referrers (signatures, SBOMs) and the
// manifest JSON as stored.
import * as api from '../api.js';
import { h, fmtBytes, fmtTime, platformText, copyButton, kv, can, confirmDialog, notice, errorText } from '../dom.js';
import { pullCommand } from './repository.js';

export const name = 'artifact';

function list(v) {
  if (v === null || v === undefined) return h('span', { class: 'muted' }, '–');
  if (Array.isArray(v)) return h('code', null, JSON.stringify(v));
  return h('code', null, String(v));
}

function section(id, title, ...content) {
  return h('section', { class: 'panel', 'aria-labelledby': id }, h('h2', { id }, title), ...content);
}

function table(caption, heads, rows) {
  return h('div', { class: 'table-wrap' }, h('table', null, h('caption', null, caption),
    h('thead', null, h('tr', null, heads.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, rows.length ? rows : h('tr', null, h('td', { colspan: heads.length, class: 'muted' }, 'None.')))));
}

export async function render(ctx) {
  const { repo, ref } = ctx.params;
  const a = await api.get('/repositories/' + api.seg(repo) + '/-/artifacts/' + encodeURIComponent(ref));
  const project = repo.split('/')[0];
  document.title = repo + (ref.includes(':') ? '@' + ref.slice(0, 19) : ':' + ref) + ' · berth';
  const isTag = !ref.includes(':');

  ctx.el.append(
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
      h('a', { href: ctx.link.projects() }, 'Projects'), ' / ',
      h('a', { href: ctx.link.project(project) }, project), ' / ',
      h('a', { href: ctx.link.repo(repo) }, repo), ' / '),
    h('h1', null, isTag ? repo + ':' + ref : repo + '@' + ref.slice(0, 19) + '…'));

  const pulls = [];
  if (isTag) pulls.push(pullCommand(repo, ref));
  pulls.push(pullCommand(repo, a.digest));
  ctx.el.append(kv([
    ['Digest', h('code', { class: 'digest-full' }, a.digest)],
    ['Media type', h('code', null, a.media_type)],
    a.artifact_type ? ['Artifact type', h('code', null, a.artifact_type)] : null,
    ['Size', h('span', { 'data-size': a.size }, fmtBytes(a.size) + ' (' + a.size + ' bytes)')],
    ['Tags', a.tags && a.tags.length ? h('span', null, a.tags.map((t) => h('a', { class: 'chip', href: ctx.link.artifact(repo, t) }, t))) : h('span', { class: 'muted' }, 'untagged')],
    ['Pushed', fmtTime(a.pushed)],
    ['Pulls', h('span', null, String(a.pull_count || 0) + ', last ', fmtTime(a.last_pulled))],
    ['Pull', h('div', { class: 'pulls' }, pulls.map((c) => h('div', { class: 'pull' }, h('code', { class: 'cmd' }, c), copyButton(c, 'Copy pull command'))))],
  ]));

  if (a.platforms && a.platforms.length) {
    ctx.el.append(section('art-platforms', 'Platforms', table('Platforms of this index', ['Platform', 'Digest', 'Size'],
      a.platforms.map((p) => h('tr', null,
        h('td', { class: 'platform' }, platformText(p)),
        h('td', null, h('a', { href: ctx.link.artifact(repo, p.digest) }, h('code', null, p.digest.slice(0, 19) + '…'))),
        h('td', { class: 'num' }, p.size != null ? fmtBytes(p.size) : '–'))))));
  }

  const c = a.config;
  if (c) {
    const labels = c.labels ? Object.entries(c.labels) : [];
    ctx.el.append(section('art-config', 'Configuration',
      kv([
        ['Platform', [c.os, c.architecture, c.variant].filter(Boolean).join('/') || '–'],
        ['Created', c.created ? fmtTime(c.created) : '–'],
        ['Entrypoint', list(c.entrypoint)],
        ['Command', list(c.cmd)],
        c.working_dir ? ['Working directory', list(c.working_dir)] : null,
        c.user ? ['User', list(c.user)] : null,
      ]),
      h('h3', null, 'Environment'),
      c.env && c.env.length ? h('ul', { class: 'env' }, c.env.map((e) => h('li', null, h('code', null, e)))) : h('p', { class: 'muted' }, 'None.'),
      labels.length ? table('Labels', ['Label', 'Value'], labels.map(([k, v]) => h('tr', null, h('td', null, h('code', null, k)), h('td', null, String(v)))))
        : h('p', { class: 'muted' }, 'Labels: none.')));
  }

  if (a.layers && a.layers.length) {
    const total = a.layers.reduce((s, l) => s + (l.size || 0), 0);
    ctx.el.append(section('art-layers', 'Layers', table('Layers (' + a.layers.length + ', ' + fmtBytes(total) + ')', ['#', 'Digest', 'Media type', 'Size'],
      a.layers.map((l, i) => h('tr', null,
        h('td', { class: 'num' }, String(i + 1)),
        h('td', null, h('code', { title: l.digest }, l.digest.slice(0, 19) + '…')),
        h('td', null, h('code', null, l.media_type)),
        h('td', { class: 'num' }, fmtBytes(l.size)))))));
  }

  if (c && c.history && c.history.length) {
    ctx.el.append(section('art-history', 'History', table('Build history', ['Created', 'Instruction', 'Layer'],
      c.history.map((x) => h('tr', null,
        h('td', null, x.created ? fmtTime(x.created) : '–'),
        h('td', null, h('code', { class: 'wrap' }, x.created_by || x.comment || '')),
        h('td', null, x.empty_layer ? 'empty' : 'layer'))))));
  }

  ctx.el.append(section('art-referrers', 'Referrers', table('Artifacts that refer to this one (signatures, SBOMs, attestations)', ['Type', 'Digest'],
    (a.referrers || []).map((r) => h('tr', null,
      h('td', null, h('code', null, r.artifact_type || r.media_type)),
      h('td', null, h('a', { href: ctx.link.artifact(repo, r.digest) }, h('code', null, r.digest.slice(0, 19) + '…'))))))));

  const json = JSON.stringify(a.manifest, null, 2);
  ctx.el.append(section('art-manifest', 'Manifest',
    h('div', { class: 'secret-head' }, copyButton(json, 'Copy the manifest')),
    h('pre', { class: 'json', tabindex: 0, 'aria-label': 'Manifest JSON' }, json)));

  // deleting by digest removes the manifest with every tag naming it
  let repoObj = null;
  try {
    repoObj = await api.get('/repositories/' + api.seg(repo));
  } catch {
    repoObj = null;
  }
  if (can(repoObj, 'delete')) {
    ctx.el.append(section('art-delete', 'Delete',
      h('p', null, 'Deletes the manifest ' + a.digest.slice(0, 19) + '… and every tag naming it.'),
      h('button', {
        type: 'button', class: 'danger', onclick: async () => {
          if (!(await confirmDialog('Delete the artifact ' + a.digest + ' and its tags (' + (a.tags || []).join(', ') + ')?', 'Delete artifact'))) return;
          try {
            await api.del('/repositories/' + api.seg(repo) + '/-/artifacts/' + encodeURIComponent(a.digest));
            notice('Artifact deleted.');
            location.hash = ctx.link.repo(repo);
          } catch (e) {
            notice(errorText(e), 'error');
          }
        },
      }, 'Delete artifact')));
  }
}
