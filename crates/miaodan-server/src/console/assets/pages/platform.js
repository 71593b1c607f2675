// The platform's own pages, for platform admins: every shop, the day's reconciliation against
// the payment provider with its mismatches, and the webhook endpoints with their delivery log.
import { html, useState, useLoad, Loaded, Empty, Figure, ActionButton } from '../ui.js';
import { api, query } from '../api.js';
import { texts } from '../i18n.js';
import { yuan, count, dateTime } from '../format.js';

const tr = texts({
  zh: {
    title: '平台管理',
    shops: '店铺',
    category: '类目',
    created: '入驻时间',
    reconciliation: '对账',
    date: '日期',
    balanced: '已平账',
    unbalanced: '对不上',
    captured: '收款',
    refunded: '退款',
    net: '净额',
    orders_net: '订单净额',
    mismatches: '差异',
    webhooks: 'Webhook 投递',
    endpoint: '端点 #{id} · 店铺 {shop} · {url}',
    disabled: '已停用：{reason}',
    deliveries: '最近投递',
    replay: '重新投递',
    state: '状态',
    topic: '事件',
    attempts: '尝试次数',
    last: '最近结果',
  },
  en: {
    title: 'Platform',
    shops: 'Shops',
    category: 'Category',
    created: 'Joined',
    reconciliation: 'Reconciliation',
    date: 'Date',
    balanced: 'Balanced',
    unbalanced: 'Does not balance',
    captured: 'Captured',
    refunded: 'Refunded',
    net: 'Net',
    orders_net: 'Orders net',
    mismatches: 'Mismatches',
    webhooks: 'Webhook deliveries',
    endpoint: 'Endpoint #{id} · shop {shop} · {url}',
    disabled: 'Disabled: {reason}',
    deliveries: 'Latest deliveries',
    replay: 'Send again',
    state: 'State',
    topic: 'Topic',
    attempts: 'Attempts',
    last: 'Last answer',
  },
});

function Shops() {
  const shops = useLoad(() => api.get('/v1/shops?limit=200'), []);
  return html`<${Loaded} state=${shops}>${(page) =>
    page.items.length
      ? html`<table class="list" data-table="shops">
          <thead><tr><th>#</th><th>${tr('shops')}</th><th>${tr('category')}</th><th>${tr('created')}</th></tr></thead>
          <tbody>${page.items.map((s) => html`<tr data-shop=${s.id}><td>${s.id}</td><td>${s.name}</td><td>${s.category || ''}</td><td>${dateTime(s.created_at)}</td></tr>`)}</tbody>
        </table>`
      : html`<${Empty} />`}<//>`;
}

function Reconciliation() {
  const [date, setDate] = useState('');
  const report = useLoad(() => api.get(`/v1/reconciliation${query({ date })}`), [date]);
  return html`<div>
    <label>${tr('date')}<input type="date" name="reconciliation-date" value=${date} onChange=${(e) => setDate(e.target.value)} /></label>
    <${Loaded} state=${report}>${(r) => html`<div data-reconciliation=${r.date}>
      <p><span class=${r.balanced ? 'badge state-paid' : 'badge state-pending_payment'} data-balanced=${String(r.balanced)}>
        ${r.balanced ? tr('balanced') : tr('unbalanced')}</span> ${r.date} · ${r.provider}</p>
      <div class="figures">
        <${Figure} name="captured" label=${tr('captured')} value=${`${count(r.captures)} · ${yuan(r.captured_fen)}`} />
        <${Figure} name="refunded" label=${tr('refunded')} value=${`${count(r.refunds)} · ${yuan(r.refunded_fen)}`} />
        <${Figure} name="net" label=${tr('net')} value=${yuan(r.net_fen)} />
        <${Figure} name="orders-net" label=${tr('orders_net')} value=${yuan(r.orders_net_fen)} />
      </div>
      ${r.mismatches.length > 0 &&
      html`<h3>${tr('mismatches')}</h3><ul data-list="mismatches">${r.mismatches.map((m) => html`<li>${JSON.stringify(m)}</li>`)}</ul>`}
    </div>`}<//>
  </div>`;
}

function Deliveries({ endpoint }) {
  const deliveries = useLoad(() => api.get(`/v1/webhook-endpoints/${endpoint.id}/deliveries?limit=20`), [endpoint.id]);
  return html`<${Loaded} state=${deliveries}>${(page) =>
    page.items.length
      ? html`<table class="list">
          <thead><tr><th>#</th><th>${tr('topic')}</th><th>${tr('state')}</th><th>${tr('attempts')}</th><th>${tr('last')}</th><th></th></tr></thead>
          <tbody>${page.items.map(
            (d) => html`<tr data-delivery=${d.id}><td>${d.id}</td><td>${d.topic}</td><td>${d.state}</td><td>${d.attempt_count}</td>
              <td>${d.last_status || d.last_error || ''}</td>
              <td><${ActionButton} name="replay" label=${tr('replay')} action=${() => api.post(`/v1/webhook-endpoints/${endpoint.id}/deliveries/${d.id}/replay`)} done=${deliveries.reload} /></td></tr>`,
          )}</tbody>
        </table>`
      : html`<${Empty} />`}<//>`;
}

function Webhooks() {
  const endpoints = useLoad(() => api.get('/v1/webhook-endpoints?limit=50'), []);
  return html`<${Loaded} state=${endpoints}>${(page) =>
    page.items.length
      ? page.items.map(
          (e) => html`<section class="card" data-endpoint=${e.id}>
            <strong>${tr('endpoint', { id: e.id, shop: e.shop_id, url: e.url })}</strong>
            ${e.disabled_at && html`<span class="badge state-pending_payment">${tr('disabled', { reason: e.disabled_reason || '' })}</span>`}
            <${Deliveries} endpoint=${e} />
          </section>`,
        )
      : html`<${Empty} />`}<//>`;
}

export function Platform() {
  return html`<div class="page" data-page="platform">
    <h1>${tr('title')}</h1>
    <h2>${tr('shops')}</h2>
    <${Shops} />
    <h2>${tr('reconciliation')}</h2>
    <${Reconciliation} />
    <h2>${tr('webhooks')}</h2>
    <${Webhooks} />
  </div>`;
}
