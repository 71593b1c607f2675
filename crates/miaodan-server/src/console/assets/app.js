// The console's frame: who is signed in, the navigation, the language switch, and which page a
// path shows. Every page is a module of `pages/`; the server answers the same shell for every
// path under /console/, so addresses can be bookmarked and reloaded.
import { html, render } from './vendor/preact-htm.js';
import { api, useCsrfToken } from './api.js';
import { lang, setLang, t } from './i18n.js';
import { SignIn } from './pages/sign_in.js';
import { Overview } from './pages/overview.js';
import { Orders } from './pages/orders.js';
import { OrderDetail } from './pages/order.js';
import { LiveRoom } from './pages/live_room.js';
import { PackageCenter } from './pages/package_center.js';

// [path pattern, navigation key (the highlighted item), page]. Capture groups become `params`.
const ROUTES = [
  [/^\/console\/?$/, 'overview', Overview],
  [/^\/console\/orders\/?$/, 'orders', Orders],
  [/^\/console\/orders\/(\d+)$/, 'orders', OrderDetail],
  [/^\/console\/live\/?$/, 'live', LiveRoom],
  [/^\/console\/live\/(\d+)$/, 'live', LiveRoom],
  [/^\/console\/package-center\/?$/, 'package_center', PackageCenter],
];

// The navigation, in order; `roles` limits an item to those roles (absent: everyone).
const NAVIGATION = [
  ['overview', '/console/'],
  ['orders', '/console/orders'],
  ['live', '/console/live'],
  ['package_center', '/console/package-center'],
];

function NotFound() {
  return html`<div class="error" role="alert">${t('error.not_found')}</div>`;
}

function route(path) {
  for (const [pattern, section, page] of ROUTES) {
    const match = path.match(pattern);
    if (match) return { section, page, params: match.slice(1) };
  }
  return { section: null, page: NotFound, params: [] };
}

async function signOut() {
  try {
    await api.del('/v1/sessions/current');
  } finally {
    window.location.assign('/console/');
  }
}

function switchLanguage() {
  setLang(lang() === 'zh' ? 'en' : 'zh');
  window.location.reload();
}

function Frame({ session, section, children }) {
  const staff = session.staff;
  const where = staff.shop_id ? t('shop', { id: staff.shop_id }) : t('role.platform_admin');
  return html`<div class="frame">
    <header class="top">
      <a class="brand" href="/console/">${t('brand')}</a>
      <span class="who" data-staff=${staff.login}>${staff.name} · ${t(`role.${staff.role}`)} · ${where}</span>
      <button type="button" class="link" data-action="language" onClick=${switchLanguage}>${t('language')}</button>
      <button type="button" class="link" data-action="sign-out" onClick=${signOut}>${t('sign_out')}</button>
    </header>
    <nav class="side">
      ${NAVIGATION.map(
        ([key, href]) => html`<a href=${href} class=${key === section ? 'current' : ''} data-nav=${key}>${t(`nav.${key}`)}</a>`,
      )}
    </nav>
    <main>${children}</main>
  </div>`;
}

async function start() {
  document.documentElement.lang = lang() === 'zh' ? 'zh-CN' : 'en';
  document.title = t('brand');
  const root = document.getElementById('app');
  let session = null;
  try {
    session = await api.get('/v1/sessions/current');
  } catch (error) {
    if (error.status !== 401) throw error;
  }
  if (!session) {
    render(html`<${SignIn} />`, root);
    return;
  }
  useCsrfToken(session.csrf_token);
  const { section, page: Page, params } = route(window.location.pathname);
  render(html`<${Frame} session=${session} section=${section}><${Page} session=${session} params=${params} /></${Frame}>`, root);
}

start();
