// For a shop's owner (and platform admins): the staff and their roles, active sessions and API
// tokens (each revocable), and the audit log of every action taken through the console.
import { html, useState, useEffect, useLoad, Loaded, Empty, ErrorBox, ActionButton } from '../ui.js';
import { api, query } from '../api.js';
import { t, texts } from '../i18n.js';
import { dateTime } from '../format.js';

const tr = texts({
  zh: {
    title: '员工与日志',
    staff: '员工',
    add: '添加员工',
    login: '账号',
    name: '姓名',
    role: '角色',
    password: '初始密码（至少 10 位）',
    create: '添加',
    disable: '停用',
    disabled: '已停用',
    sessions: '登录会话',
    signed_in: '登录时间',
    last_seen: '最近使用',
    this_session: '你自己',
    tokens: 'API 令牌',
    revoke: '撤销',
    audit: '操作日志',
    when: '时间',
    who: '操作人',
    what: '操作',
    result: '结果',
    expires: '过期时间',
    label: '标签',
  },
  en: {
    title: 'Staff & audit',
    staff: 'Staff',
    add: 'Add a member',
    login: 'Login',
    name: 'Name',
    role: 'Role',
    password: 'First password (10+ characters)',
    create: 'Add',
    disable: 'Disable',
    disabled: 'Disabled',
    sessions: 'Sessions',
    signed_in: 'Signed in',
    last_seen: 'Last seen',
    this_session: 'You',
    tokens: 'API tokens',
    revoke: 'Revoke',
    audit: 'Audit log',
    when: 'When',
    who: 'Who',
    what: 'What',
    result: 'Result',
    expires: 'Expires',
    label: 'Label',
  },
});

// The least surprising first: a new member is an operator unless the owner says otherwise.
const SHOP_ROLES = ['operator', 'customer_service', 'finance', 'owner'];

function NewMember({ shop, done }) {
  const [error, setError] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    try {
      await api.post('/v1/staff', {
        shop_id: shop,
        login: form.get('login'),
        name: form.get('name'),
        role: form.get('role'),
        password: form.get('password'),
      });
      event.target.reset();
      setError(null);
      done();
    } catch (failure) {
      setError(failure);
    }
  };
  return html`<form class="filters" data-form="new-staff" onSubmit=${submit}>
    <label>${tr('login')}<input name="login" required minlength="3" maxlength="64" /></label>
    <label>${tr('name')}<input name="name" required maxlength="60" /></label>
    <label>${tr('role')}<select name="role">${SHOP_ROLES.map((r) => html`<option value=${r}>${t(`role.${r}`)}</option>`)}</select></label>
    <label>${tr('password')}<input name="password" type="password" required minlength="10" autocomplete="new-password" /></label>
    <button type="submit">${tr('create')}</button>
    ${error && html`<${ErrorBox} error=${error} />`}
  </form>`;
}

function Staff({ shop, me, changed }) {
  const staff = useLoad(() => api.get(`/v1/staff${query({ shop_id: shop, limit: 200 })}`), [shop]);
  const done = () => {
    staff.reload();
    changed();
  };
  return html`<div>
    <${NewMember} shop=${shop} done=${done} />
    <${Loaded} state=${staff}>${(page) => html`<table class="list" data-table="staff">
      <thead><tr><th>${tr('login')}</th><th>${tr('name')}</th><th>${tr('role')}</th><th></th></tr></thead>
      <tbody>${page.items.map(
        (m) => html`<tr data-member=${m.login}><td>${m.login}</td><td>${m.name}</td><td>${t(`role.${m.role}`)}</td>
          <td>${m.disabled_at
            ? tr('disabled')
            : m.id !== me &&
              html`<${ActionButton} name="disable" label=${tr('disable')} action=${() => api.patch(`/v1/staff/${m.id}`, { disabled: true })} done=${done} />`}</td></tr>`,
      )}</tbody>
    </table>`}<//>
  </div>`;
}

function Sessions({ shop, me, reloads }) {
  const sessions = useLoad(() => api.get(`/v1/sessions${query({ shop_id: shop, limit: 100 })}`), [shop, reloads]);
  const staff = useLoad(() => api.get(`/v1/staff${query({ shop_id: shop, limit: 200 })}`), [shop, reloads]);
  const login = (id) => {
    const member = staff.value && staff.value.items.find((m) => m.id === id);
    return member ? member.login : `#${id}`;
  };
  return html`<${Loaded} state=${sessions}>${(page) =>
    page.items.length
      ? html`<table class="list" data-table="sessions">
          <thead><tr><th>${tr('who')}</th><th>${tr('signed_in')}</th><th>${tr('last_seen')}</th><th>${tr('expires')}</th><th></th></tr></thead>
          <tbody>${page.items.map(
            (x) => html`<tr data-session=${x.id}><td>${login(x.staff_id)}</td><td>${dateTime(x.created_at)}</td>
              <td>${dateTime(x.last_seen_at)}</td><td>${dateTime(x.expires_at)}</td>
              <td>${x.staff_id === me
                ? tr('this_session')
                : html`<${ActionButton} name="revoke-session" label=${tr('revoke')} action=${() => api.del(`/v1/sessions/${x.id}`)} done=${sessions.reload} />`}</td></tr>`,
          )}</tbody>
        </table>`
      : html`<${Empty} />`}<//>`;
}

function Tokens({ shop }) {
  const tokens = useLoad(() => api.get(`/v1/tokens${query({ shop_id: shop, limit: 100 })}`), [shop]);
  return html`<${Loaded} state=${tokens}>${(page) =>
    page.items.length
      ? html`<table class="list" data-table="tokens">
          <thead><tr><th>#</th><th>${tr('label')}</th><th>${tr('role')}</th><th>${tr('expires')}</th><th></th></tr></thead>
          <tbody>${page.items.map(
            (k) => html`<tr data-token=${k.id}><td>${k.id}</td><td>${k.label || ''}</td><td>${k.role}</td><td>${dateTime(k.expires_at)}</td>
              <td>${k.state === 'active'
                ? html`<${ActionButton} name="revoke-token" label=${tr('revoke')} action=${() => api.del(`/v1/tokens/${k.id}`)} done=${tokens.reload} />`
                : k.state}</td></tr>`,
          )}</tbody>
        </table>`
      : html`<${Empty} />`}<//>`;
}

function Audit({ shop, reloads }) {
  const [log, setLog] = useState({ items: [], next: null, error: null, loaded: false });
  const staff = useLoad(() => api.get(`/v1/staff${query({ shop_id: shop, limit: 200 })}`), [shop, reloads]);
  const login = (id) => {
    const member = staff.value && staff.value.items.find((m) => m.id === id);
    return member ? member.login : id === null ? '' : `#${id}`;
  };
  const load = async (cursor, previous) => {
    try {
      const page = await api.get(`/v1/audit-log${query({ shop_id: shop, limit: 50, cursor })}`);
      setLog({ items: previous.concat(page.items), next: page.next_cursor, error: null, loaded: true });
    } catch (error) {
      setLog({ items: previous, next: null, error, loaded: true });
    }
  };
  useEffect(() => {
    load(undefined, []);
  }, [shop, reloads]);
  return html`<div>
    ${log.error && html`<${ErrorBox} error=${log.error} />`}
    ${log.loaded && !log.items.length && !log.error && html`<${Empty} />`}
    ${log.items.length > 0 &&
    html`<table class="list" data-table="audit">
      <thead><tr><th>${tr('when')}</th><th>${tr('who')}</th><th>${tr('what')}</th><th>${tr('result')}</th></tr></thead>
      <tbody>${log.items.map(
        (e) => html`<tr data-audit=${e.id}><td>${dateTime(e.at)}</td><td>${login(e.staff_id)}</td>
          <td><code>${e.method} ${e.path}</code></td><td>${e.status}</td></tr>`,
      )}</tbody>
    </table>`}
    ${log.next && html`<button type="button" data-action="more" onClick=${() => load(log.next, log.items)}>${t('more')}</button>`}
  </div>`;
}

export function StaffAndAudit({ session }) {
  const shop = session.staff.shop_id;
  // Each change made here adds a line to the audit log: it is read again after each.
  const [changes, setChanges] = useState(0);
  const changed = () => setChanges((n) => n + 1);
  return html`<div class="page" data-page="staff">
    <h1>${tr('title')}</h1>
    <h2>${tr('staff')}</h2>
    <${Staff} shop=${shop} me=${session.staff.id} changed=${changed} />
    <h2>${tr('sessions')}</h2>
    <${Sessions} shop=${shop} me=${session.staff.id} reloads=${changes} />
    <h2>${tr('tokens')}</h2>
    <${Tokens} shop=${shop} />
    <h2>${tr('audit')}</h2>
    <${Audit} shop=${shop} reloads=${changes} />
  </div>`;
}
