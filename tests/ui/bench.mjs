// tests/ui/bench.mjs: how fast the tags page of a big repository shows, in Debian's
// chromium (headless) through puppeteer-core; run by tests/bench/ui-bench.sh.
// Environment: BASE, CHROMIUM, ADMIN_PASS, REPO, ROUNDS. Prints JSON: per round, the
// time from the navigation to 100 rows on screen (API answer + render), the time the
// page spent building the rows (the 'berth:table' measure), and the same for Next.
import puppeteer from 'puppeteer-core';

const { BASE, CHROMIUM, ADMIN_PASS, REPO } = process.env;
const ROUNDS = Number(process.env.ROUNDS || 10);
const browser = await puppeteer.launch({
  executablePath: CHROMIUM, headless: true, acceptInsecureCerts: true,
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
});
const page = await browser.newPage();
await page.setViewport({ width: 1280, height: 900 });
await page.goto(BASE + '/ui/', { waitUntil: 'networkidle0' });
await page.type('::-p-aria(Username)', 'admin');
await page.type('::-p-aria(Password)', ADMIN_PASS);
await page.click('::-p-aria([name="Log in"][role="button"])');
await page.waitForFunction(() => document.body.dataset.view === 'projects', { timeout: 15000 });

const lastMeasure = () => page.evaluate(() => {
  const m = performance.getEntriesByName('berth:table');
  return m.length ? m[m.length - 1].duration : null;
});
const out = { view: [], shown: [], render: [], api: [], next_view: [], next_render: [], next_api: [] };
// the last tags page fetch: request to the end of the answer, as the browser timed it
const lastApi = () => page.evaluate(() => {
  const e = performance.getEntriesByType('resource').filter((r) => r.name.includes('/-/artifacts'));
  return e.length ? e[e.length - 1].duration : null;
});
const hash = '#/r/' + REPO + '?limit=100';
for (let i = 0; i < ROUNDS; i++) {
  await page.evaluate(() => { location.hash = '#/account'; });
  await page.waitForFunction(() => document.body.dataset.view === 'account');
  const t0 = await page.evaluate((h) => { const t = performance.now(); location.hash = h; return t; }, hash);
  await page.waitForFunction(() => document.querySelectorAll('tr[data-tag]').length === 100, { timeout: 30000, polling: 'raf' });
  out.view.push(await page.evaluate((t) => performance.now() - t, t0));
  out.render.push(await lastMeasure());
  out.api.push(await lastApi());
  out.shown.push(await page.evaluate(() => {
    const m = performance.getEntriesByName('berth:shown');
    return m.length ? m[m.length - 1].duration : null;
  }));
  const first = await page.$eval('tr[data-tag]', (t) => t.dataset.tag);
  const t1 = await page.evaluate(() => performance.now());
  await page.click('::-p-aria([name="Next →"][role="button"])');
  await page.waitForFunction((f) => {
    const r = document.querySelectorAll('tr[data-tag]');
    return r.length === 100 && r[0].dataset.tag !== f;
  }, { timeout: 30000, polling: 'raf' }, first);
  out.next_view.push(await page.evaluate((t) => performance.now() - t, t1));
  out.next_render.push(await lastMeasure());
  out.next_api.push(await lastApi());
}
await browser.close();
const stat = (v) => {
  const s = v.slice().sort((a, b) => a - b);
  return { median: Math.round(s[Math.floor(s.length / 2)] * 10) / 10, max: Math.round(s[s.length - 1] * 10) / 10 };
};
console.log(JSON.stringify({ rounds: ROUNDS, view_ms: stat(out.view), shown_ms: stat(out.shown), render_ms: stat(out.render), api_ms: stat(out.api),
  next_view_ms: stat(out.next_view), next_render_ms: stat(out.next_render), next_api_ms: stat(out.next_api) }));
