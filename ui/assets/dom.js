// dom.js: building the page without innerHTML (every value from the API goes in as
// text, never as markup), formatting, and the few widgets every view uses: a paged
// table that walks the API's cursors, a copy button, a confirmation dialog, notices.

// h('a', {href: '#/x', class: 'c', onclick: fn}, 'text', child...): an element.
// Attributes: on* are listeners; true/false for boolean attributes; null/undefined
// are left out. Children: strings (as text), nodes, arrays of them, null (skipped).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// ---- formatting ----

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
export function fmtBytes(n) {
  if (n === null || n === undefined) return '–';
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return (i === 0 ? String(v) : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)) + ' ' + UNITS[i];
}

// A time element: relative text ("3 min ago"), the exact UTC time as its title.
export function fmtTime(iso) {
  if (!iso) return h('span', { class: 'muted' }, 'never');
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return h('span', null, String(iso));
  return h('time', { datetime: iso, title: iso }, relative(t));
}

function relative(t) {
  const s = Math.round((Date.now() - t) / 1000);
  if (s < 0) return new Date(t).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  if (s < 60) return s + ' s ago';
  if (s < 3600) return Math.floor(s / 60) + ' min ago';
  if (s < 86400) return Math.floor(s / 3600) + ' h ago';
  if (s < 86400 * 30) return Math.floor(s / 86400) + ' d ago';
  return new Date(t).toISOString().slice(0, 10);
}

// sha256:0123456789ab… → "0123456789ab" with the whole digest as the title
export function shortDigest(d) {
  if (!d) return h('span', { class: 'muted' }, '–');
  const hex = d.includes(':') ? d.slice(d.indexOf(':') + 1) : d;
  return h('code', { class: 'digest', title: d }, hex.slice(0, 12));
}

export function platformText(p) {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

// ---- notices ----

// A message at the top of the main area: kind 'error' (role=alert) or 'ok' (status).
export function notice(msg, kind = 'ok') {
  const area = document.getElementById('notices');
  if (!area) return;
  const n = h('div', { class: 'notice ' + kind, role: kind === 'error' ? 'alert' : 'status' },
    h('span', null, msg),
    h('button', { type: 'button', class: 'link', 'aria-label': 'Dismiss', onclick: () => n.remove() }, '×'));
  area.replaceChildren(n);
}

export function errorText(e) {
  if (e && e.code && e.message) return e.message + ' (' + e.code + ')';
  return String(e && e.message ? e.message : e);
}

// ---- widgets ----

// A button that copies text to the clipboard, and a status beside it that says
// "Copied" for a moment (the button keeps its name: the one its label holds).
export function copyButton(text, label = 'Copy') {
  const said = h('span', { class: 'copied', role: 'status' });
  const b = h('button', { type: 'button', class: 'copy', 'aria-label': 'Copy ' + label.replace(/^Copy /, ''), 'data-copy': text }, 'Copy');
  b.addEventListener('click', async () => {
    let ok = false;
    try {
      await navigator.clipboard.writeText(text);
      ok = true;
    } catch {
      // no Clipboard API (an insecure origin): a selected field and the old command
      const t = h('textarea', { class: 'offscreen', 'aria-hidden': 'true' });
      t.value = text;
      document.body.appendChild(t);
      t.select();
      try {
        ok = document.execCommand('copy');
      } catch {
        ok = false;
      }
      t.remove();
    }
    said.textContent = ok ? 'Copied' : 'Copy failed: select the text instead';
    setTimeout(() => (said.textContent = ''), 2000);
  });
  return h('span', { class: 'copy-wrap' }, b, said);
}

// A modal question; resolves true when confirmed. Uses <dialog> (focus kept inside,
// Escape cancels).
export function confirmDialog(message, action = 'Delete') {
  return new Promise((resolve) => {
    const d = h('dialog', { class: 'confirm', 'aria-labelledby': 'confirm-msg' },
      h('form', { method: 'dialog' },
        h('p', { id: 'confirm-msg' }, message),
        h('div', { class: 'actions' },
          h('button', { value: 'cancel', class: 'secondary' }, 'Cancel'),
          h('button', { value: 'ok', class: 'danger' }, action))));
    d.addEventListener('close', () => {
      resolve(d.returnValue === 'ok');
      d.remove();
    });
    document.body.appendChild(d);
    d.showModal();
  });
}

// A form field with its label. attrs go to the input (or select, given options).
let fieldSeq = 0;
export function field(label, attrs = {}, options = null) {
  const id = attrs.id || 'f' + ++fieldSeq;
  let input;
  if (options) {
    input = h('select', { ...attrs, id }, options.map((o) =>
      h('option', { value: o.value ?? o, selected: (o.value ?? o) === attrs.value }, o.label ?? o)));
  } else if (attrs.type === 'checkbox') {
    input = h('input', { ...attrs, id });
    return h('div', { class: 'field check' }, input, h('label', { for: id }, label));
  } else if (attrs.type === 'textarea') {
    const { type, value, ...rest } = attrs;
    input = h('textarea', { ...rest, id });
    if (value) input.value = value;
  } else {
    input = h('input', { type: 'text', ...attrs, id });
  }
  return h('div', { class: 'field' }, h('label', { for: id }, label), input);
}

// The values of a form's named inputs (checkboxes as booleans).
export function formValues(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    out[el.name] = el.type === 'checkbox' ? el.checked : el.value;
  }
  return out;
}

// A form whose submit calls fn(values); the button is disabled while it runs and an
// error is shown as a notice.
export function actionForm(attrs, children, fn) {
  const form = h('form', attrs, children);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const buttons = form.querySelectorAll('button');
    buttons.forEach((b) => (b.disabled = true));
    try {
      await fn(formValues(form), form);
    } catch (e) {
      notice(errorText(e), 'error');
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  });
  return form;
}

// A table over a paged API list. load(cursor) resolves {items, next_cursor}; columns
// are {title, cell(item) → node|string, class}. Walks forward by next_cursor and
// back by the cursors it came through (kept here: the API's cursors are opaque), so
// only one page is ever in memory. reload() starts again from the first page (a new
// search). Each page's render time is recorded as a performance measure named
// 'berth:table' (the browser test reads it).
export function pagedTable({ caption, columns, load, empty = 'Nothing here yet.', rowAttrs = null }) {
  const tbody = h('tbody');
  const status = h('p', { class: 'pager-status', role: 'status', 'aria-live': 'polite' });
  const prev = h('button', { type: 'button', class: 'secondary', disabled: true }, '← Previous');
  const next = h('button', { type: 'button', class: 'secondary', disabled: true }, 'Next →');
  const table = h('table', null,
    h('caption', null, caption),
    h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col', class: c.class }, c.title)))),
    tbody);
  const wrap = h('div', { class: 'paged' }, h('div', { class: 'table-wrap' }, table),
    h('div', { class: 'pager' }, prev, status, next));
  let trail = []; // cursors of the pages before this one
  let cursor = null;
  let nextCursor = null;
  let seq = 0;
  let page = 1;
  let shownOnce = false;

  async function show(c) {
    const mine = ++seq;
    status.textContent = 'Loading…';
    let res;
    try {
      res = await load(c);
    } catch (e) {
      if (mine !== seq) return;
      status.textContent = '';
      tbody.replaceChildren(h('tr', null, h('td', { colspan: columns.length, class: 'error' }, errorText(e))));
      throw e;
    }
    if (mine !== seq) return; // a newer request (search typed meanwhile) wins
    performance.mark('berth:table-start');
    const frag = document.createDocumentFragment();
    for (const item of res.items) {
      const tr = h('tr', rowAttrs ? rowAttrs(item) : null);
      for (const col of columns) tr.appendChild(h('td', { class: col.class }, col.cell(item)));
      frag.appendChild(tr);
    }
    if (res.items.length === 0) frag.appendChild(h('tr', null, h('td', { colspan: columns.length, class: 'muted' }, empty)));
    tbody.replaceChildren(frag);
    performance.measure('berth:table', 'berth:table-start');
    // the first table of a view: from the navigation to its rows
    if (!shownOnce) {
      shownOnce = true;
      if (performance.getEntriesByName('berth:route').length) performance.measure('berth:shown', 'berth:route');
    }
    cursor = c;
    nextCursor = res.next_cursor || null;
    prev.disabled = trail.length === 0;
    next.disabled = !nextCursor;
    status.textContent = res.items.length === 0 && page === 1 ? '' :
      'Page ' + page + (res.items.length ? ' · ' + res.items.length + ' shown' : '');
  }

  next.addEventListener('click', () => {
    if (!nextCursor) return;
    trail.push(cursor);
    page++;
    show(nextCursor).catch(() => {});
  });
  prev.addEventListener('click', () => {
    if (trail.length === 0) return;
    page--;
    show(trail.pop()).catch(() => {});
  });
  wrap.reload = () => {
    trail = [];
    page = 1;
    return show(null);
  };
  wrap.refresh = () => show(cursor);
  return wrap;
}

// A search box that calls fn(value) 250 ms after typing stops (and at once on Enter).
export function searchBox(label, fn, placeholder = '') {
  const id = 's' + ++fieldSeq;
  const input = h('input', { type: 'search', id, placeholder, autocomplete: 'off' });
  let timer = null;
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(input.value.trim()), 250);
  });
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') {
      ev.preventDefault();
      clearTimeout(timer);
      fn(input.value.trim());
    }
  });
  return h('div', { class: 'field search', role: 'search' }, h('label', { for: id }, label), input);
}

// A usage bar: used against quota (null: no quota).
export function usageBar(used, quota) {
  const text = fmtBytes(used) + (quota ? ' of ' + fmtBytes(quota) : '');
  if (!quota) return h('span', { class: 'usage' }, text);
  const pct = Math.min(100, Math.round((used / quota) * 100));
  const bar = h('span', { class: 'bar' + (pct >= 90 ? ' high' : '') });
  bar.style.width = pct + '%';
  return h('span', { class: 'usage' },
    h('span', { class: 'track', role: 'img', 'aria-label': pct + '% of the quota used' }, bar),
    h('span', null, text + ' (' + pct + '%)'));
}

export function can(obj, action) {
  return !!(obj && Array.isArray(obj.permissions) && obj.permissions.includes(action));
}

// Tabs as links: the current one marked with aria-current.
export function tabs(items, current) {
  return h('nav', { class: 'tabs', 'aria-label': 'Sections' },
    h('ul', null, items.map((t) => h('li', null,
      h('a', { href: t.href, 'aria-current': t.id === current ? 'page' : null }, t.label)))));
}

export function kv(rows) {
  return h('dl', { class: 'kv' }, rows.filter(Boolean).map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}
