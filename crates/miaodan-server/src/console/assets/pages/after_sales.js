// The after-sales inbox (售后): requests by stage, each with its deadline counting down, the
// rules' own explanation of what they decided, and the actions its stage allows — approve or
// refuse a request with the merchant, receive a returned parcel (restock or write off), and for
// the platform, decide an appeal.
import { html, useState, useEffect, Loading, ErrorBox, Empty, ActionButton } from '../ui.js';
import { api, query } from '../api.js';
import { lang, t, texts } from '../i18n.js';
import { yuan, dateTime, countdown } from '../format.js';

const tr = texts({
  zh: {
    title: '售后',
    request: '售后单 #{id}',
    order: '订单 #{id}',
    amount: '金额 {amount}',
    due: '剩余 {left} 处理',
    overdue: '已超时',
    approve: '同意',
    refuse: '拒绝',
    restock: '收货并入库',
    write_off: '收货不入库',
    decide_approve: '裁定同意',
    decide_refuse: '裁定拒绝',
    confirm_refuse: '确定拒绝该售后申请？',
    rules: '规则说明',
    'stage.with_merchant': '待商家处理',
    'stage.awaiting_return': '待买家退货',
    'stage.return_in_transit': '退货运输中',
    'stage.received': '已收货',
    'stage.with_platform': '平台仲裁中',
    'stage.refunding': '退款中',
    'stage.refunded': '已退款',
    'stage.refused': '已拒绝',
    'stage.exchanged': '已换货',
    'stage.approved': '已同意',
    'stage.closed': '已关闭',
    'stage.all': '全部',
    'kind.refund_only': '仅退款',
    'kind.return_and_refund': '退货退款',
    'kind.exchange': '换货',
    'kind.cancel': '取消订单',
    'kind.change_address': '修改地址',
  },
  en: {
    title: 'After-sales',
    request: 'Request #{id}',
    order: 'Order #{id}',
    amount: 'Amount {amount}',
    due: '{left} left to act',
    overdue: 'Overdue',
    approve: 'Approve',
    refuse: 'Refuse',
    restock: 'Received: restock',
    write_off: 'Received: write off',
    decide_approve: 'Decide: approve',
    decide_refuse: 'Decide: refuse',
    confirm_refuse: 'Refuse this request?',
    rules: 'What the rules said',
    'stage.with_merchant': 'Waiting for the merchant',
    'stage.awaiting_return': 'Awaiting the return',
    'stage.return_in_transit': 'Return in transit',
    'stage.received': 'Received',
    'stage.with_platform': 'Appealed to the platform',
    'stage.refunding': 'Refunding',
    'stage.refunded': 'Refunded',
    'stage.refused': 'Refused',
    'stage.exchanged': 'Exchanged',
    'stage.approved': 'Approved',
    'stage.closed': 'Closed',
    'stage.all': 'All',
    'kind.refund_only': 'Refund only',
    'kind.return_and_refund': 'Return and refund',
    'kind.exchange': 'Exchange',
    'kind.cancel': 'Cancellation',
    'kind.change_address': 'Address change',
  },
});

const TABS = ['with_merchant', 'awaiting_return', 'return_in_transit', 'with_platform', 'refunded', 'all'];

function Deadline({ at }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  if (!at) return null;
  const left = (new Date(at).getTime() - now) / 1000;
  return html`<span class=${left > 0 ? 'badge' : 'badge state-pending_payment'} data-deadline=${at}>
    ${left > 0 ? tr('due', { left: countdown(left) }) : tr('overdue')}
  </span>`;
}

function Explanation({ decision }) {
  if (!decision || !decision.rules.length) return null;
  const words = lang() === 'zh' ? 'zh' : 'en';
  return html`<details><summary>${tr('rules')}</summary>
    <ul>${decision.rules.map((rule) => html`<li data-rule=${rule.code}>${rule[words]}</li>`)}</ul>
  </details>`;
}

function Actions({ request, session, done }) {
  const path = `/v1/after-sales/${request.id}`;
  const act = (name, label, call, confirmText) =>
    html`<${ActionButton} name=${name} label=${label} action=${call} done=${done} confirmText=${confirmText} />`;
  const platform = session.staff.shop_id === null;
  switch (request.stage) {
    case 'with_merchant':
      return html`<div class="actions">
        ${act('approve', tr('approve'), () => api.post(`${path}/approve`))}
        ${act('refuse', tr('refuse'), () => api.post(`${path}/refuse`), tr('confirm_refuse'))}
      </div>`;
    case 'awaiting_return':
    case 'return_in_transit':
      return html`<div class="actions">
        ${act('restock', tr('restock'), () => api.post(`${path}/receive`, { inspection: 'restock' }))}
        ${act('write-off', tr('write_off'), () => api.post(`${path}/receive`, { inspection: 'write_off' }))}
      </div>`;
    case 'with_platform':
      return platform
        ? html`<div class="actions">
            ${act('decide-approve', tr('decide_approve'), () => api.post(`${path}/decide`, { decision: 'approve' }))}
            ${act('decide-refuse', tr('decide_refuse'), () => api.post(`${path}/decide`, { decision: 'refuse' }))}
          </div>`
        : null;
    default:
      return null;
  }
}

export function RequestCard({ request, session, done }) {
  return html`<li class="card" data-request=${request.id}>
    <div class="card-head">
      <strong>${tr('request', { id: request.id })}</strong>
      <span class="badge">${tr(`kind.${request.kind}`)}</span>
      <span class="badge">${tr(`stage.${request.stage}`)}</span>
      <${Deadline} at=${request.due_at} />
      <a href=${`/console/orders/${request.order_id}`}>${tr('order', { id: request.order_id })}</a>
      <span>${tr('amount', { amount: yuan(request.amount_fen) })}</span>
      <span class="muted">${dateTime(request.opened_at)}</span>
    </div>
    <${Explanation} decision=${request.scan_decision || request.decision} />
    <${Actions} request=${request} session=${session} done=${done} />
  </li>`;
}

export function AfterSales({ session }) {
  const [stage, setStage] = useState('with_merchant');
  const [list, setList] = useState({ items: [], next: null, loaded: false, error: null });
  const load = async (cursor, previous) => {
    try {
      const page = await api.get(`/v1/after-sales${query({ stage: stage === 'all' ? '' : stage, limit: 50, cursor })}`);
      setList({ items: previous.concat(page.items), next: page.next_cursor, loaded: true, error: null });
    } catch (error) {
      setList({ items: previous, next: null, loaded: true, error });
    }
  };
  const reload = () => load(undefined, []);
  useEffect(() => {
    setList({ items: [], next: null, loaded: false, error: null });
    reload();
  }, [stage]);
  return html`<div class="page" data-page="after-sales">
    <h1>${tr('title')}</h1>
    <div class="tabs">${TABS.map(
      (key) => html`<button type="button" data-stage=${key} class=${key === stage ? 'primary' : ''} onClick=${() => setStage(key)}>${tr(`stage.${key}`)}</button>`,
    )}</div>
    ${list.error && html`<${ErrorBox} error=${list.error} />`}
    ${!list.loaded && html`<${Loading} />`}
    ${list.loaded && !list.items.length && !list.error && html`<${Empty} />`}
    <ul class="cards">${list.items.map((request) => html`<${RequestCard} key=${request.id} request=${request} session=${session} done=${reload} />`)}</ul>
    ${list.next && html`<button type="button" data-action="more" onClick=${() => load(list.next, list.items)}>${t('more')}</button>`}
  </div>`;
}
