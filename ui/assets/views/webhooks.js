// views/webhooks.js: a project's webhooks (the Webhooks tab of views/project.js,
// shown to those whose project `permissions` list `webhooks`): the list with
// enable/disable, a test event and delete; a form to add one (the secret is
// write-only: the list says whether one is set); each webhook's delivery log in
// pages, newest first.
import * as api from '../api.js';
import { h, pagedTable, fmtTime, field, actionForm, notice, confirmDialog, errorText } from '../dom.js';

const EVENTS = ['push', 'delete', 'pull', 'quota'];

export async function render(ctx, p, el) {
  const base = '/projects/' + api.seg(p.name) + '/webhooks';
  const log = h('div', { class: 'hook-log' });
  const table = pagedTable({
    caption: 'Webhooks of ' + p.name,
    empty: 'No webhook.',
    load: (cursor) => api.get(base + api.qs({ limit: api.PAGE, cursor })),
    rowAttrs: (w) => ({ 'data-webhook': String(w.id) }),
    columns: [
      { title: 'URL', cell: (w) => h('code', null, w.url) },
      { title: 'Events', cell: (w) => w.events.join(', ') },
      { title: 'Signed', cell: (w) => (w.secret_set ? 'yes' : 'no') },
      {
        title: 'State',
        cell: (w) => h('span', { class: 'badge' + (w.enabled ? '' : ' warn') }, w.enabled ? 'enabled' : 'disabled'),
      },
      { title: 'Created', cell: (w) => fmtTime(w.created) },
      { title: 'Actions', cell: (w) => actions(w) },
    ],
  });

  function actions(w) {
    const one = base + '/' + w.id;
    const run = (fn) => async (ev) => {
      ev.target.disabled = true;
      try {
        await fn();
      } catch (e) {
        notice(errorText(e), 'error');
      } finally {
        ev.target.disabled = false;
      }
    };
    return h('span', { class: 'row-actions' },
      h('button', {
        type: 'button', class: 'secondary small', 'aria-label': 'Deliveries of webhook ' + w.id,
        onclick: run(() => showLog(w)),
      }, 'Deliveries'),
      h('button', {
        type: 'button', class: 'secondary small', 'aria-label': 'Send a test event to webhook ' + w.id,
        onclick: run(async () => {
          const r = await api.post(one + '/ping');
          notice('Test event ' + r.event_id + ' queued for ' + w.url + '.');
        }),
      }, 'Test'),
      h('button', {
        type: 'button', class: 'secondary small', 'aria-label': (w.enabled ? 'Disable' : 'Enable') + ' webhook ' + w.id,
        onclick: run(async () => {
          await api.patch(one, { enabled: !w.enabled });
          notice('Webhook ' + w.id + (w.enabled ? ' disabled.' : ' enabled.'));
          await table.refresh();
        }),
      }, w.enabled ? 'Disable' : 'Enable'),
      h('button', {
        type: 'button', class: 'danger small', 'aria-label': 'Delete webhook ' + w.id,
        onclick: run(async () => {
          if (!(await confirmDialog('Delete the webhook to ' + w.url + '? Its queued deliveries and log go with it.', 'Delete'))) return;
          await api.del(one);
          notice('Webhook ' + w.id + ' deleted.');
          log.replaceChildren();
          await table.refresh();
        }),
      }, 'Delete'));
  }

  async function showLog(w) {
    const deliveries = pagedTable({
      caption: 'Deliveries to ' + w.url + ', newest first',
      empty: 'Nothing delivered yet.',
      load: (cursor) => api.get(base + '/' + w.id + '/deliveries' + api.qs({ limit: api.PAGE, cursor })),
      columns: [
        { title: 'Time', cell: (d) => fmtTime(d.time) },
        { title: 'Event', cell: (d) => d.type },
        { title: 'Attempt', class: 'num', cell: (d) => String(d.attempt) },
        { title: 'Status', class: 'num', cell: (d) => (d.status == null ? 'no answer' : String(d.status)) },
        { title: 'Latency', class: 'num', cell: (d) => d.latency_ms + ' ms' },
        { title: 'Result', cell: (d) => h('span', { class: 'badge' + (d.result === 'success' ? '' : ' warn') }, d.result) },
        { title: 'Error', cell: (d) => d.error || '' },
      ],
    });
    log.replaceChildren(h('section', { class: 'panel', 'aria-labelledby': 'hook-log-title' },
      h('h2', { id: 'hook-log-title', tabindex: -1 }, 'Delivery log of webhook ' + w.id),
      deliveries));
    await deliveries.reload();
    log.querySelector('h2').focus();
  }

  const form = actionForm({ class: 'inline' }, [
    field('URL (http:// or https://)', { name: 'url', required: true, type: 'url', autocapitalize: 'none' }),
    h('fieldset', { class: 'events' }, h('legend', null, 'Events'),
      EVENTS.map((e) => field(e, { name: 'ev-' + e, type: 'checkbox', checked: e === 'push' || e === 'delete' }))),
    field('Secret (signs each delivery; empty: unsigned)', { name: 'secret', type: 'password', autocomplete: 'new-password' }),
    h('button', { type: 'submit' }, 'Add webhook'),
  ], async (v, f) => {
    const events = EVENTS.filter((e) => v['ev-' + e]);
    const body = { url: v.url, events };
    if (v.secret) body.secret = v.secret;
    await api.post(base, body);
    notice('Webhook to ' + v.url + ' added.');
    f.reset();
    await table.reload();
  });
  el.append(h('p', { class: 'help' },
    'Webhooks POST CloudEvents to a URL when images are pushed, deleted or pulled, or a quota fills up. ' +
    'Targets on private or loopback addresses are refused unless the server allows them.'),
  h('details', { class: 'panel' }, h('summary', null, 'Add a webhook'), form), table, log);
  await table.reload();
}
