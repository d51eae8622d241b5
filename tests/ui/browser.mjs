// tests/ui/browser.mjs: berth's web UI in a real browser (Debian's chromium, headless,
// driven by puppeteer-core), run by tests/integration/ui-browser.sh, which starts berthd
// and pushes the images first. Walks what a user does: log in, find the project and
// the pushed image, check a tag's size and platforms against the manifest, copy the
// pull command, open the artifact and a platform's image (config, layers, history),
// create a robot account (the secret shown once), add a webhook (the secret never
// shown), send it a test event and read its delivery log, see a proxy project's
// upstream, change a member's role, find the
// audit entries, delete a tag as a maintainer, see no delete control as a reader,
// log out (the session ends on the server). Every page: no console error, no CSP
// violation, no uncaught exception, and axe-core reports no serious or critical
// violation. Screenshots of each page go to OUT. Timings go to OUT/timings.json.
//
// Environment: BASE (https://127.0.0.1:PORT), CHROMIUM, OUT, ADMIN_PASS, USER_PASS,
// EXPECT (JSON: the pushed artifacts' figures), AXE (path of axe.min.js).
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import puppeteer from 'puppeteer-core';

const BASE = process.env.BASE;
const OUT = process.env.OUT;
const EXPECT = JSON.parse(process.env.EXPECT);
const AXE = readFileSync(process.env.AXE, 'utf8');
const HOST = new URL(BASE).host;
mkdirSync(OUT, { recursive: true });

let failures = 0;
const timings = {};
function ok(msg) {
  console.log('ok   ' + msg);
}
function ko(msg) {
  console.log('FAIL ' + msg);
  failures++;
}
function check(cond, msg) {
  if (cond) ok(msg);
  else ko(msg);
  return cond;
}
function step(msg) {
  console.log('---- [ui-browser] ' + msg);
}

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM,
  headless: true,
  acceptInsecureCerts: true, // berthd's generated certificate; the test trusts it
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run', '--no-default-browser-check'],
});
const context = browser.defaultBrowserContext();
await context.overridePermissions(BASE, ['clipboard-read', 'clipboard-write', 'clipboard-sanitized-write']);
const page = await browser.newPage();
await page.setViewport({ width: 1280, height: 900 });

// ---- what the page reports: console errors, CSP violations, exceptions, failed requests ----
const problems = [];
const expected4xx = []; // [url suffix, status]: answers the test provokes on purpose
let allowMe401 = true; // GET /api/v1/me answers 401 before a login: that is how the page learns it
// GET /projects/P/retention answers 404 when the project has no policy (the contract):
// the settings page shows "no policy"; Chromium logs every 4xx fetch nonetheless
expected4xx.push(['/retention', 404]);
page.on('console', (m) => {
  if (m.type() !== 'error') return;
  const url = (m.location() && m.location().url) || '';
  if (/Failed to load resource: the server responded with a status of 401/.test(m.text()) && url.endsWith('/api/v1/me') && allowMe401) return;
  if (/Failed to load resource/.test(m.text()) && expected4xx.some(([u]) => url.endsWith(u))) return;
  problems.push('console error: ' + m.text() + (url ? ' (' + url + ')' : ''));
});
page.on('pageerror', (e) => problems.push('uncaught: ' + e.message));
page.on('requestfailed', (r) => {
  const f = r.failure();
  // a navigation away cancels the requests in flight: not a failure of the page
  if (f && f.errorText === 'net::ERR_ABORTED') return;
  problems.push('request failed: ' + r.url() + ' ' + (f ? f.errorText : ''));
});
page.on('response', (r) => {
  const u = r.url();
  if (r.status() >= 500) problems.push('server error ' + r.status() + ' for ' + u);
});
await page.evaluateOnNewDocument(() => {
  document.addEventListener('securitypolicyviolation', (e) => {
    console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI);
  });
});

function noProblems(where) {
  if (problems.length) {
    ko(where + ': ' + problems.join('; '));
    problems.length = 0;
  } else ok(where + ': no console error, CSP violation or exception');
}

// axe-core, evaluated through the DevTools protocol (the page's CSP allows no injected
// script tag, and needs not: this is not the page's own code)
async function axe(where) {
  await page.evaluate(AXE);
  const res = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) }));
  });
  const bad = res.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const minor = res.filter((v) => !(v.impact === 'serious' || v.impact === 'critical'));
  if (minor.length) console.log('note ' + where + ': axe minor/moderate: ' + minor.map((v) => v.id + ' (' + v.impact + ')').join(', '));
  check(bad.length === 0, where + ': axe finds no serious or critical violation' +
    (bad.length ? ': ' + JSON.stringify(bad) : ''));
}

let shot = 0;
async function screenshot(name) {
  const file = OUT + '/' + String(++shot).padStart(2, '0') + '-' + name + '.png';
  await page.screenshot({ path: file, fullPage: true });
  console.log('screenshot ' + file);
}

// every page: no problem, axe clean, a screenshot
async function pageDone(name) {
  await page.waitForNetworkIdle({ idleTime: 150, timeout: 10000 }).catch(() => {});
  noProblems(name);
  await axe(name);
  await screenshot(name);
}

const text = (sel) => page.$eval(sel, (e) => e.textContent.trim());
async function go(hash) {
  await page.evaluate((h) => { location.hash = h; }, hash);
}
// wait for the view to have rendered after a navigation (app.js counts renders)
async function rendered(prev) {
  await page.waitForFunction((p) => Number(document.body.dataset.ready || 0) > p, { timeout: 15000 }, prev);
}
const renders = () => page.evaluate(() => Number(document.body.dataset.ready || 0));
async function clickAndRender(selector) {
  const before = await renders();
  await page.click(selector);
  await rendered(before);
}

async function login(user, pass) {
  await page.waitForSelector('::-p-aria(Username)');
  await page.type('::-p-aria(Username)', user);
  await page.type('::-p-aria(Password)', pass);
  const before = await renders();
  await page.click('::-p-aria([name="Log in"][role="button"])');
  await rendered(before);
}
async function logout() {
  const before = await renders();
  // the header may be laid out again just now (a viewport change): wait for the button
  await page.waitForSelector('::-p-aria([name="Log out"][role="button"])', { timeout: 10000 });
  await page.click('::-p-aria([name="Log out"][role="button"])');
  await rendered(before);
  await page.waitForSelector('::-p-aria(Username)');
}
async function apiFromPage(path) {
  return page.evaluate(async (p) => {
    const r = await fetch('/api/v1' + p, { credentials: 'same-origin' });
    return { status: r.status, body: await r.json().catch(() => null) };
  }, path);
}

try {
  // ---- 1. login ----
  step('a browser at / lands on the login form');
  const t0 = Date.now();
  await page.goto(BASE + '/', { waitUntil: 'networkidle0' });
  timings.first_load_ms = Date.now() - t0;
  check(page.url().startsWith(BASE + '/ui/'), '/ redirected to /ui/ (' + page.url() + ')');
  await page.waitForSelector('::-p-aria(Username)');
  check(await page.$('::-p-aria([name="Log in"][role="button"])') !== null, 'fields Username and Password and a Log in button');
  await pageDone('login');

  step('a wrong password is refused with a message');
  expected4xx.push(['/api/v1/login', 401]);
  await page.type('::-p-aria(Username)', 'admin');
  await page.type('::-p-aria(Password)', 'wrong-password');
  await page.click('::-p-aria([name="Log in"][role="button"])');
  await page.waitForSelector('.notice.error');
  check(/Wrong username or password/.test(await text('.notice.error')), 'wrong password: "Wrong username or password."');
  await page.$eval('::-p-aria(Username)', (e) => { e.value = ''; });
  await page.$eval('::-p-aria(Password)', (e) => { e.value = ''; });
  expected4xx.pop();
  problems.length = 0; // the 401 of the wrong password is the point of this step

  step('log in as admin');
  await login('admin', process.env.ADMIN_PASS);
  allowMe401 = false;
  const cookies = await page.cookies();
  const sess = cookies.find((c) => c.name === 'berth_session');
  check(sess && sess.httpOnly && sess.secure && sess.sameSite === 'Strict', 'session cookie HttpOnly, Secure, SameSite=Strict');
  check(await page.evaluate(() => document.cookie.includes('berth_session')) === false, 'the page script cannot read the session cookie');

  // ---- 2. projects ----
  step('projects: the project, its usage against its quota');
  await page.waitForSelector('a[href="#/projects/team"]');
  const row = await page.$eval('a[href="#/projects/team"]', (a) => a.closest('tr').textContent);
  check(/private/.test(row) && /of 1\.00 GiB/.test(row), 'team: private, usage of its 1 GiB quota (' + row.replace(/\s+/g, ' ') + ')');
  check(await page.$eval('a[href="#/projects/team"]', (a) => !!a.closest('tr').querySelector('.track')), 'a usage bar');
  // keyboard: from the top of the document the first Tab reaches the skip link; Enter moves
  // focus to the content, the view stays
  await page.reload({ waitUntil: 'networkidle0' });
  await page.waitForSelector('a[href="#/projects/team"]');
  await page.keyboard.press('Tab');
  check(await page.evaluate(() => document.activeElement.classList.contains('skip')), 'the first Tab stop is "Skip to content"');
  await page.keyboard.press('Enter');
  check(await page.evaluate(() => document.activeElement.id === 'main' && location.hash === '#/projects'),
    'Enter on it focuses the content and keeps the page');
  await pageDone('projects');

  // ---- 3. repositories ----
  step('project → repositories, search');
  await clickAndRender('a[href="#/projects/team"]');
  await page.waitForSelector('a[href="#/r/team/app"]');
  await page.type('::-p-aria(Search repositories)', 'man');
  await page.waitForFunction(() => !document.querySelector('a[href="#/r/team/app"]') && document.querySelector('a[href="#/r/team/many"]'), { timeout: 5000 });
  ok('search "man" shows team/many only');
  await page.$eval('::-p-aria(Search repositories)', (e) => { e.value = ''; });
  await page.type('::-p-aria(Search repositories)', 'app');
  await page.waitForSelector('a[href="#/r/team/app"]');
  await pageDone('repositories');

  // ---- 4. tags ----
  step('repository → tags: size, platforms, pull command');
  const tTags = Date.now();
  await clickAndRender('a[href="#/r/team/app"]');
  await page.waitForSelector('tr[data-tag="1.0"]');
  timings.tags_view_ms = Date.now() - tTags;
  const tagRow = await page.$eval('tr[data-tag="1.0"]', (tr) => ({
    text: tr.textContent,
    platforms: [...tr.querySelectorAll('.chip')].map((c) => c.textContent),
    digest: tr.querySelector('code.digest').getAttribute('title'),
  }));
  check(tagRow.digest === EXPECT.index.digest, '1.0: digest ' + tagRow.digest);
  check(JSON.stringify(tagRow.platforms.sort()) === JSON.stringify(EXPECT.index.platforms.slice().sort()),
    '1.0: platforms ' + tagRow.platforms.join(', ') + ' (manifest: ' + EXPECT.index.platforms.join(', ') + ')');
  check(tagRow.text.includes(EXPECT.index.size_text), '1.0: size ' + EXPECT.index.size_text);
  await page.click('tr[data-tag="1.0"] button.copy');
  const clip = await page.evaluate(() => navigator.clipboard.readText());
  check(clip === 'docker pull ' + HOST + '/team/app:1.0', 'copy button: clipboard holds "' + clip + '"');
  check(await page.$('[data-delete-tag]') !== null, 'an admin is offered tag deletion');
  await pageDone('tags');

  // ---- 5. artifact ----
  step('tag → artifact: size and platforms against the manifest, manifest JSON');
  await clickAndRender('a[href="#/r/team/app/-/1.0"]');
  await page.waitForSelector('#art-manifest');
  const size = await page.$eval('[data-size]', (e) => Number(e.dataset.size));
  check(size === EXPECT.index.size, 'artifact size ' + size + ' bytes = manifest + configs + layers ' + EXPECT.index.size);
  const plats = await page.$$eval('td.platform', (tds) => tds.map((t) => t.textContent));
  check(JSON.stringify(plats.sort()) === JSON.stringify(EXPECT.index.platforms.slice().sort()), 'platforms table: ' + plats.join(', '));
  const manifest = JSON.parse(await text('pre.json'));
  check(JSON.stringify(manifest) === JSON.stringify(EXPECT.index.manifest), 'the manifest JSON shown is the one pushed');
  await pageDone('artifact-index');

  step('platform → image: config, layers, history');
  const child = EXPECT.child;
  await clickAndRender('a[href="#/r/team/app/-/' + encodeURIComponent(child.digest) + '"]');
  await page.waitForSelector('#art-layers');
  const layers = await page.$$eval('#art-layers + div tbody tr, section[aria-labelledby="art-layers"] tbody tr', (trs) => trs.length);
  check(layers === child.layers, 'layers: ' + layers + ' rows (manifest: ' + child.layers + ')');
  const cfg = await text('section[aria-labelledby="art-config"]');
  check(cfg.includes('PATH=/usr/bin:/bin') && cfg.includes('org.berth.test.seed'), 'config: env and labels');
  check(await page.$('section[aria-labelledby="art-history"]') !== null, 'history shown');
  await pageDone('artifact-image');

  // ---- 6. members ----
  step('members: bob developer → maintainer');
  await go('#/projects/team/members');
  await page.waitForSelector('select[data-member="bob"]');
  check(await page.$eval('select[data-member="bob"]', (s) => s.value) === 'developer', 'bob is developer');
  await page.select('select[data-member="bob"]', 'maintainer');
  await page.waitForSelector('.notice.ok');
  const members = await apiFromPage('/projects/team/members');
  const bob = members.body.items.find((m) => m.user === 'bob');
  check(bob && bob.role === 'maintainer', 'the API now says bob is maintainer');
  await pageDone('members');

  // ---- 7. robots ----
  step('robot account: created, the secret shown once');
  await go('#/projects/team/robots');
  await page.waitForSelector('::-p-aria([name="Create robot account"][role="button"])');
  await page.click('::-p-aria([name="Create robot account"][role="button"])');
  await page.waitForSelector('pre.robot-secret');
  const robot = await page.evaluate(() => ({
    name: document.querySelector('pre.robot-name').textContent,
    secret: document.querySelector('pre.robot-secret').textContent,
    login: document.querySelector('pre.robot-login').textContent,
    yaml: document.querySelector('pre.robot-yaml').textContent,
  }));
  check(/^robot\.team\./.test(robot.name), 'robot name ' + robot.name);
  check(robot.secret.length >= 20, 'a secret is shown');
  check(robot.login.startsWith('docker login ' + HOST + ' -u ' + robot.name), 'docker login line: ' + robot.login);
  check(/kind: Secret/.test(robot.yaml) && /kubernetes\.io\/dockerconfigjson/.test(robot.yaml), 'Secret YAML of type kubernetes.io/dockerconfigjson');
  await pageDone('robot-created');
  writeFileSync(OUT + '/robot.json', JSON.stringify({ name: robot.name, secret: robot.secret }), { mode: 0o600 });
  // gone after a reload: nowhere in the page or the API's list
  await page.reload({ waitUntil: 'networkidle0' });
  await page.waitForSelector('tbody tr');
  const html = await page.content();
  check(!html.includes(robot.secret), 'after a reload the secret is nowhere in the page');
  check(html.includes(robot.name), 'the robot is listed');
  const robots = await apiFromPage('/projects/team/robots');
  check(!JSON.stringify(robots.body).includes(robot.secret), 'the robot list never holds the secret');
  noProblems('robots after reload');

  // ---- 8. settings ----
  step('settings: quota, immutability, retention');
  await go('#/projects/team/settings');
  await page.waitForSelector('form.retention');
  await page.type('::-p-aria(Tag pattern (e.g. v*))', 'v*');
  await page.click('::-p-aria([name="Add pattern"][role="button"])');
  await page.waitForFunction(() => [...document.querySelectorAll('ul.rules code')].some((c) => c.textContent === 'v*'), { timeout: 10000 });
  const imm = await apiFromPage('/projects/team/immutability');
  check(imm.body.rules.some((r) => r.pattern === 'v*'), 'immutability rule v* added (API: ' + JSON.stringify(imm.body.rules.map((r) => r.pattern)) + ')');
  await page.click('::-p-aria([name="Add keep rule"][role="button"])');
  await page.type('::-p-aria(Remove untagged manifests after (days; empty: never))', '7');
  await page.click('::-p-aria([name="Save policy"][role="button"])');
  await page.waitForSelector('.notice.ok');
  const pol = await apiFromPage('/projects/team/retention');
  check(pol.status === 200 && pol.body.rules.length === 1 && pol.body.rules[0].kind === 'last-pushed' &&
    pol.body.rules[0].n === 10 && pol.body.untagged_after === 7 * 86400, 'retention policy saved: ' + JSON.stringify(pol.body));
  await page.$eval('::-p-aria(Quota (e.g. 10GiB; empty: none))', (e) => { e.value = ''; });
  await page.type('::-p-aria(Quota (e.g. 10GiB; empty: none))', '2GiB');
  await page.click('::-p-aria([name="Save quota"][role="button"])');
  await page.waitForFunction(() => /of 2\.00 GiB/.test(document.body.textContent) && document.querySelector('form.retention'), { timeout: 15000 });
  const team = await apiFromPage('/projects/team');
  check(team.body.quota === 2 * 1024 ** 3, 'quota set to 2 GiB (API: ' + team.body.quota + ')');
  await pageDone('settings');

  // ---- 8b. webhooks and a proxy project's settings ----
  step('webhooks: add one (the secret never shown), a test event, its delivery log, delete');
  await go('#/projects/team/webhooks');
  await page.waitForSelector('tbody tr');
  await page.click('::-p-aria(Add a webhook)');
  await page.waitForSelector('::-p-aria([name="Add webhook"][role="button"])');
  await page.type('::-p-aria(URL (http:// or https://))', process.env.WEBHOOK_URL);
  const hookSecret = 'ui-hook-secret-' + Date.now();
  await page.type('::-p-aria(Secret (signs each delivery; empty: unsigned))', hookSecret);
  await page.click('::-p-aria([name="Add webhook"][role="button"])');
  await page.waitForSelector('tr[data-webhook]', { timeout: 10000 });
  const hooks = await apiFromPage('/projects/team/webhooks');
  check(hooks.body.items.length === 1 && hooks.body.items[0].url === process.env.WEBHOOK_URL &&
    hooks.body.items[0].secret_set === true && hooks.body.items[0].events.join() === 'push,delete',
  'webhook added with its secret (API: ' + JSON.stringify(hooks.body.items[0]) + ')');
  check(!JSON.stringify(hooks.body).includes(hookSecret), 'the API never answers the secret');
  check(!(await page.content()).includes(hookSecret) &&
    (await page.$eval('input[name="secret"]', (e) => e.value)) === '', 'the page keeps no copy of the secret');
  const hid = hooks.body.items[0].id;
  await page.click('::-p-aria([name="Send a test event to webhook ' + hid + '"][role="button"])');
  await page.waitForFunction(() => /Test event .* queued/.test(document.body.textContent), { timeout: 10000 });
  ok('a test event queued from the page');
  // the target does not answer: the attempt is logged as a failure
  await page.waitForFunction(async (id) => {
    const r = await fetch('/api/v1/projects/team/webhooks/' + id + '/deliveries', { credentials: 'same-origin' });
    return (await r.json()).items.length > 0;
  }, { timeout: 20000, polling: 500 }, hid);
  await page.click('::-p-aria([name="Deliveries of webhook ' + hid + '"][role="button"])');
  await page.waitForSelector('#hook-log-title');
  await page.waitForFunction(() => /io\.berth\.ping/.test(document.querySelector('.hook-log').textContent), { timeout: 10000 });
  ok('the delivery log shows the test event');
  await pageDone('webhooks');
  await page.click('::-p-aria([name="Delete webhook ' + hid + '"][role="button"])');
  await page.waitForSelector('dialog[open]');
  await page.click('dialog[open] button[value="ok"]');
  await page.waitForFunction(() => !document.querySelector('tr[data-webhook]'), { timeout: 10000 });
  check((await apiFromPage('/projects/team/webhooks')).body.items.length === 0, 'webhook deleted');
  step('a proxy project: its upstream and counters in the settings');
  await go('#/projects/hub/settings');
  // the panel's heading comes first, its figures once the API has answered
  await page.waitForSelector('#set-proxy');
  await page.waitForFunction(() => document.querySelector('code.proxy-url') ||
    document.querySelector('[aria-labelledby="set-proxy"] .error'), { timeout: 10000 });
  check((await page.$('code.proxy-url')) !== null &&
    (await text('code.proxy-url')) === 'https://127.0.0.1:9',
  'the upstream shown (' + (await text('[aria-labelledby="set-proxy"]')).slice(0, 200) + ')');
  check(!(await page.content()).includes('hub-upstream-pw'), 'the upstream password is not in the page');
  await pageDone('proxy-settings');

  // ---- 9. audit ----
  step('audit trail: the role change and the robot creation');
  await go('#/audit?user=admin');
  await page.waitForSelector('tr[data-action]');
  const actions = await page.$$eval('tr[data-action]', (trs) => trs.map((t) => t.dataset.action));
  check(actions.includes('member-set'), 'audit lists member-set');
  check(actions.includes('robot-create'), 'audit lists robot-create');
  await go('#/audit?action=member-set');
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('tr[data-action]')];
    return rows.length > 0 && rows.every((r) => r.dataset.action === 'member-set');
  }, { timeout: 10000 });
  ok('the action filter shows member-set entries only');
  await pageDone('audit');

  // ---- 10. system, users, account ----
  step('system, users, account');
  await go('#/system');
  await page.waitForSelector('section[aria-labelledby="gc-title"]');
  await page.click('::-p-aria(Dry run (report only))');
  await page.click('::-p-aria([name="Start a run"][role="button"])');
  await page.waitForSelector('.notice');
  check(/Garbage collection started/.test(await text('.notice')), 'GC dry run started: ' + (await text('.notice')));
  await page.waitForFunction(async () => {
    const r = await fetch('/api/v1/gc/runs', { credentials: 'same-origin' });
    const j = await r.json();
    return j.items.length > 0 && j.items[0].finished;
  }, { timeout: 30000, polling: 500 });
  ok('the GC run finished');
  await page.reload({ waitUntil: 'networkidle0' });
  await page.waitForSelector('section[aria-labelledby="gc-title"] tbody tr td time');
  await pageDone('system');
  await go('#/users');
  await page.waitForSelector('tr[data-user="rita"]');
  await pageDone('users');
  await go('#/account');
  await page.waitForSelector('::-p-aria(Current password)');
  await pageDone('account');

  // ---- 11. timing: a page of 100 tags ----
  step('a page of 100 tags');
  await page.evaluate(() => performance.clearMeasures('berth:table'));
  const tMany = Date.now();
  await go('#/r/team/many?limit=100');
  await page.waitForFunction(() => document.querySelectorAll('tr[data-tag]').length === 100, { timeout: 15000 });
  timings.tags100_view_ms = Date.now() - tMany;
  timings.tags100_render_ms = await page.evaluate(() => {
    const m = performance.getEntriesByName('berth:table');
    return m.length ? Math.round(m[m.length - 1].duration * 10) / 10 : null;
  });
  check(timings.tags100_view_ms < 2000, '100 tags shown ' + timings.tags100_view_ms + ' ms after the click (API + render)');
  check(timings.tags100_render_ms !== null && timings.tags100_render_ms < 200, '100 rows built in ' + timings.tags100_render_ms + ' ms (< 200)');
  await page.click('::-p-aria([name="Next →"][role="button"])');
  await page.waitForFunction(() => document.querySelector('.pager-status').textContent.startsWith('Page 2'), { timeout: 10000 });
  const page2 = await page.$$eval('tr[data-tag]', (trs) => trs.map((t) => t.dataset.tag));
  check(page2.length === EXPECT.many - 100, 'page 2 holds the other ' + page2.length + ' tags');
  await page.click('::-p-aria([name="← Previous"][role="button"])');
  await page.waitForFunction(() => document.querySelector('.pager-status').textContent.startsWith('Page 1'), { timeout: 10000 });
  ok('Previous returns to page 1');
  noProblems('100 tags');

  step('a phone-sized window');
  await page.setViewport({ width: 390, height: 844, isMobile: true, hasTouch: true });
  await go('#/r/team/app');
  await page.waitForSelector('tr[data-tag="1.0"]');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, 'no sideways scrolling of the page on a phone (tables scroll in their box): ' + overflow + ' px');
  await pageDone('tags-phone');
  await page.setViewport({ width: 1280, height: 900 });

  step('log out: the session ends on the server');
  await logout();
  allowMe401 = true;
  const after = await apiFromPage('/me');
  check(after.status === 401, 'after logout /api/v1/me answers ' + after.status);
  check(!(await page.cookies()).some((c) => c.name === 'berth_session'), 'the cookie is gone');
  noProblems('logout');

  // ---- 12. a maintainer deletes a tag ----
  step('mike (maintainer) deletes the tag "old", after confirming');
  await login('mike', process.env.USER_PASS);
  await go('#/r/team/app');
  await page.waitForSelector('tr[data-tag="old"] button[data-delete-tag]');
  await page.click('tr[data-tag="old"] button[data-delete-tag]');
  await page.waitForSelector('dialog[open]');
  await screenshot('confirm-delete');
  await axe('confirm dialog');
  // Cancel first: nothing happens
  await page.click('dialog[open] button[value="cancel"]');
  await page.waitForFunction(() => !document.querySelector('dialog'));
  check(await page.$('tr[data-tag="old"]') !== null, 'Cancel keeps the tag');
  await page.click('tr[data-tag="old"] button[data-delete-tag]');
  await page.waitForSelector('dialog[open]');
  await page.click('dialog[open] button[value="ok"]');
  await page.waitForFunction(() => !document.querySelector('tr[data-tag="old"]'), { timeout: 10000 });
  const tags = await apiFromPage('/repositories/team/app/-/artifacts');
  check(!tags.body.items.some((a) => a.tag === 'old'), 'the API no longer lists "old"');
  noProblems('maintainer delete');
  await logout();

  // ---- 13. a reader sees no delete control ----
  step('rita (reader) sees no delete control');
  await login('rita', process.env.USER_PASS);
  await go('#/r/team/app');
  await page.waitForSelector('tr[data-tag="1.0"]');
  check(await page.$('[data-delete-tag]') === null, 'no tag delete button for a reader');
  check(!(await page.content()).includes('Delete repository'), 'no repository delete for a reader');
  check(await page.$('tr[data-tag="1.0"] button.copy') !== null, 'the reader still has the pull command');
  await pageDone('tags-reader');
  await go('#/projects/team');
  await page.waitForSelector('nav.tabs');
  check(!(await page.$('a[href="#/projects/team/robots"]')), 'no robot accounts tab for a reader');
  await go('#/projects/team/members');
  await page.waitForSelector('tbody tr');
  check(await page.$('select[data-member]') === null, 'a reader cannot change roles');
  noProblems('reader');
  await logout();
} catch (e) {
  ko('the walk stopped: ' + (e && e.stack ? e.stack : e));
  await screenshot('failure').catch(() => {});
} finally {
  writeFileSync(OUT + '/timings.json', JSON.stringify(timings, null, 2));
  console.log('timings ' + JSON.stringify(timings));
  await browser.close();
}
if (failures) {
  console.log(failures + ' check(s) failed');
  process.exit(1);
}
console.log('all browser checks passed');
