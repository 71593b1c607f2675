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
import { Compass } from './pages/compass.js';
import { Products } from './pages/products.js';
import { AfterSales } from './pages/after_sales.js';
import { Platform } from './pages/platform.js';
import { StaffAndAudit } from './pages/staff.js';
import { PackageCenter } from './pages/package_center.js';
import { Integrity } from './pages/integrity.js';
import { RiskReview } from './pages/risk.js';

// [path pattern, navigation key (the highlighted item), page]. Capture groups become `params`.
const ROUTES = [
  [/^\/console\/?$/, 'overview', Overview],
  [/^\/console\/orders\/?$/, 'orders', Orders],
  [/^\/console\/orders\/(\d+)$/, 'orders', OrderDetail],
  [/^\/console\/live\/?$/, 'live', LiveRoom],
  [/^\/console\/live\/(\d+)$/, 'live', LiveRoom],
  [/^\/console\/compass\/?$/, 'compass', Compass],
  [/^\/console\/products\/?$/, 'products', Products],
  [/^\/console\/after-sales\/?$/, 'after_sales', AfterSales],
  [/^\/console\/staff\/?$/, 'staff', StaffAndAudit],
  [/^\/console\/platform\/?$/, 'platform', Platform],
  [/^\/console\/package-center\/?$/, 'package_center', PackageCenter],
  [/^\/console\/integrity\/?$/, 'integrity', Integrity],
  [/^\/console\/risk\/?$/, 'risk', RiskReview],
];

// The navigation, in order: [key, address, the roles that see it]. The API decides what each role
// may do; hiding what a role cannot use only keeps the menu honest.
const EVERYONE = ['owner', 'operator', 'customer_service', 'finance', 'platform_admin'];
const NAVIGATION = [
  ['overview', '/console/', EVERYONE],
  ['orders', '/console/orders', EVERYONE],
  ['live', '/console/live', ['owner', 'operator', 'platform_admin']],
  ['compass', '/console/compass', EVERYONE],
  ['products', '/console/products', ['owner', 'operator', 'platform_admin']],
  ['package_center', '/console/package-center', ['owner', 'operator', 'customer_service', 'platform_admin']],
  ['after_sales', '/console/after-sales', ['owner', 'operator', 'customer_service', 'platform_admin']],
  ['integrity', '/console/integrity', ['owner', 'operator', 'customer_service', 'finance']],
  ['staff', '/console/staff', ['owner']],
  ['platform', '/console/platform', ['platform_admin']],
  ['risk', '/console/risk', ['platform_admin']],
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
      ${NAVIGATION.filter(([, , roles]) => roles.includes(staff.role)).map(
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
  // Without a session cookie there is nothing to ask the API (and no 401 to log).
  if (document.body.dataset.session === 'cookie') {
    try {
      session = await api.get('/v1/sessions/current');
    } catch (error) {
      if (error.status !== 401) throw error;
    }
  }
  if (!session) {
    root.textContent = '';
    render(html`<${SignIn} />`, root);
    return;
  }
  useCsrfToken(session.csrf_token);
  root.textContent = '';
  const { section, page: Page, params } = route(window.location.pathname);
  render(html`<${Frame} session=${session} section=${section}><${Page} session=${session} params=${params} /></${Frame}>`, root);
}

start();
