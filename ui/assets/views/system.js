// views/system.js: version and health for everyone; storage usage and the garbage
// collector's runs (and starting one) for system admins.
import * as api from '../api.js';
import { h, kv, fmtBytes, fmtTime, pagedTable, actionForm, field, notice } from '../dom.js';

export const name = 'system';

function duration(sec) {
  if (sec % 86400 === 0) return sec / 86400 + ' d';
  if (sec % 3600 === 0) return sec / 3600 + ' h';
  if (sec % 60 === 0) return sec / 60 + ' min';
  return sec + ' s';
}

export async function render(ctx) {
  document.title = 'System · berth';
  const s = await api.get('/system');
  ctx.el.append(h('h1', null, 'System'), kv([
    ['Version', s.version],
    ['Health', h('span', { class: 'badge ' + (s.health === 'ok' ? 'public' : 'warn') }, s.health)],
    s.read_only ? ['Mode', h('span', { class: 'badge warn' }, 'read-only (maintenance): pushes and deletes are refused')] : null,
    s.storage ? ['Storage', fmtBytes(s.storage.bytes) + ' in ' + s.storage.blobs + ' blobs'] : null,
    s.gc ? ['Last garbage collection', s.gc.last_run
      ? h('span', null, fmtTime(s.gc.last_run.started), ' · ' + (s.gc.last_run.finished ? s.gc.last_run.result || 'done' : 'running'))
      : 'none yet'] : null,
    s.gc && s.gc.interval != null ? ['Collection schedule', s.gc.interval ? 'every ' + duration(s.gc.interval) : 'off (runs only when started)'] : null,
  ]));
  if (!ctx.me.admin) return;
  const table = pagedTable({
    caption: 'Garbage collection runs',
    empty: 'No run yet.',
    load: (cursor) => api.get('/gc/runs' + api.qs({ limit: 20, cursor })),
    columns: [
      { title: 'Started', cell: (r) => fmtTime(r.started) },
      { title: 'Finished', cell: (r) => (r.finished ? fmtTime(r.finished) : 'running') },
      { title: 'By', cell: (r) => r.who || '–' },
      { title: 'Kind', cell: (r) => (r.dry_run ? 'dry run' : 'sweep') },
      { title: 'Result', cell: (r) => (r.error ? h('span', { class: 'error' }, r.error) : r.result || '–') },
      { title: 'Blobs', class: 'num', cell: (r) => String(r.blobs ?? 0) },
      { title: 'Freed', class: 'num', cell: (r) => fmtBytes(r.bytes) },
      { title: 'Manifests', class: 'num', cell: (r) => String(r.manifests ?? 0) },
    ],
  });
  ctx.el.append(h('section', { class: 'panel', 'aria-labelledby': 'gc-title' },
    h('h2', { id: 'gc-title' }, 'Garbage collection'),
    actionForm({ class: 'inline' }, [
      field('Dry run (report only)', { name: 'dry_run', type: 'checkbox' }),
      field('Also remove untagged manifests', { name: 'delete_untagged', type: 'checkbox' }),
      h('button', { type: 'submit' }, 'Start a run'),
    ], async (v) => {
      await api.post('/gc/runs', { dry_run: v.dry_run, delete_untagged: v.delete_untagged });
      notice('Garbage collection started.');
      await table.reload();
    }),
    table));
  await table.reload();
}
