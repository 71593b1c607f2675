// One order: its lines, where it goes, and its story as a timeline — placed, paid, dispatched
// (with the dispatch's own explanation), every tracking event of every parcel, delivered,
// refunds — with the actions the order allows now: cancel it unpaid, ship a parcel, refund, and
// decide the buyer's after-sales requests on it (an address change is one: the order moves to
// the new address when the shop approves).
import { html, useLoad, Loaded, ActionButton, StateBadge, useState } from '../ui.js';
import { RequestCard } from './after_sales.js';
import { api } from '../api.js';
import { t, texts } from '../i18n.js';
import { yuan, dateTime } from '../format.js';

const tr = texts({
  zh: {
    title: '订单 #{id}',
    lines: '商品',
    sku: 'SKU {id}',
    address: '收货地址',
    timeline: '订单轨迹',
    placed: '下单',
    paid: '付款',
    cancelled: '取消（{reason}）',
    dispatched: '分仓：{reason}',
    parcel: '包裹 {waybill}（{carrier}）{state}',
    tracking: '{state} · {location}',
    refunded: '退款 {amount}',
    ship: '发货（仓库 {warehouse}）',
    shipped: '已发货',
    refund: '退款',
    refund_amount: '退款金额（元）',
    total: '合计',
    promise: '承诺送达：{by}',
    cancel: '取消订单',
    confirm_cancel: '确定取消这笔未付款订单？库存将释放。',
    after_sales: '售后申请',
    'reason.buyer_cancelled': '买家取消',
    'reason.shop_cancelled': '商家取消',
    'reason.platform_cancelled': '平台取消',
    'reason.payment_timeout': '超时未付款',
    'reason.checkout_failed': '下单失败',
    'reason.after_sales': '售后取消',
  },
  en: {
    title: 'Order #{id}',
    lines: 'Items',
    sku: 'SKU {id}',
    address: 'Ship to',
    timeline: 'Timeline',
    placed: 'Placed',
    paid: 'Paid',
    cancelled: 'Cancelled ({reason})',
    dispatched: 'Dispatched: {reason}',
    parcel: 'Parcel {waybill} ({carrier}) {state}',
    tracking: '{state} · {location}',
    refunded: 'Refunded {amount}',
    ship: 'Ship (warehouse {warehouse})',
    shipped: 'Shipped',
    refund: 'Refund',
    refund_amount: 'Refund (yuan)',
    total: 'Total',
    promise: 'Promised by {by}',
    cancel: 'Cancel order',
    confirm_cancel: 'Cancel this unpaid order? Its stock is released.',
    after_sales: 'After-sales requests',
    'reason.buyer_cancelled': 'by the buyer',
    'reason.shop_cancelled': 'by the shop',
    'reason.platform_cancelled': 'by the platform',
    'reason.payment_timeout': 'not paid in time',
    'reason.checkout_failed': 'checkout failed',
    'reason.after_sales': 'after-sales',
  },
});

// Everything that happened to the order, oldest first: [when, words].
function timeline(order, dispatch, shipments, refunds) {
  const moments = [[order.created_at, tr('placed')]];
  if (order.paid_at) moments.push([order.paid_at, `${tr('paid')} ${yuan(order.total_fen)}`]);
  if (order.cancelled_at) moments.push([order.cancelled_at, tr('cancelled', { reason: tr(`reason.${order.cancel_reason}`) })]);
  if (dispatch) moments.push([dispatch.decided_at, tr('dispatched', { reason: dispatch.reason })]);
  for (const parcel of shipments) {
    const words = { waybill: parcel.waybill_no, carrier: parcel.carrier, state: parcel.state };
    moments.push([parcel.created_at, tr('parcel', words)]);
    for (const event of parcel.events) {
      moments.push([event.occurred_at, tr('tracking', { state: event.state, location: event.location || '' })]);
    }
  }
  for (const refund of refunds) moments.push([refund.created_at, tr('refunded', { amount: yuan(refund.amount_fen) })]);
  return moments.sort((a, b) => new Date(a[0]) - new Date(b[0]));
}

// An order is dispatched when it is paid: one never paid has no dispatch to ask for.
async function loadOrder(id) {
  const order = await api.get(`/v1/orders/${id}`);
  const [dispatch, shipments, refunds, requests] = await Promise.all([
    order.paid_at ? api.get(`/v1/orders/${id}/dispatch`) : null,
    api.get(`/v1/orders/${id}/shipments?limit=50`),
    api.get(`/v1/orders/${id}/refunds?limit=50`),
    api.get(`/v1/after-sales?order_id=${id}&limit=50`),
  ]);
  return { order, dispatch, shipments: shipments.items, refunds: refunds.items, requests: requests.items };
}

function Actions({ order, dispatch, shipments, reload }) {
  const [amount, setAmount] = useState('');
  const shippedFrom = new Set(shipments.map((parcel) => parcel.warehouse_id));
  const unshipped = order.state === 'paid' && dispatch ? dispatch.parcels.filter((p) => !shippedFrom.has(p.warehouse_id)) : [];
  const refundable = ['paid', 'shipped', 'delivered'].includes(order.state);
  const fen = Math.round(Number(amount) * 100);
  return html`<div class="actions">
    ${order.state === 'pending_payment' &&
    html`<${ActionButton}
      name="cancel"
      kind="danger"
      label=${tr('cancel')}
      confirmText=${tr('confirm_cancel')}
      action=${() => api.post(`/v1/orders/${order.id}/cancel`)}
      done=${reload}
    />`}
    ${unshipped.map(
      (parcel) => html`<${ActionButton}
        name="ship"
        label=${tr('ship', { warehouse: parcel.warehouse_id })}
        action=${() => api.post(`/v1/orders/${order.id}/shipments`, { warehouse_id: parcel.warehouse_id })}
        done=${reload}
      />`,
    )}
    ${refundable &&
    html`<span class="refund">
      <label>${tr('refund_amount')}<input name="refund" inputmode="decimal" value=${amount} onInput=${(e) => setAmount(e.target.value)} /></label>
      <${ActionButton}
        name="refund"
        label=${tr('refund')}
        action=${() => api.post(`/v1/orders/${order.id}/refunds`, { amount_fen: fen })}
        done=${() => {
          setAmount('');
          reload();
        }}
      />
    </span>`}
  </div>`;
}

function Detail({ value, reload, session }) {
  const { order, dispatch, shipments, refunds, requests } = value;
  return html`<div>
    <h1>${tr('title', { id: order.id })} <${StateBadge} state=${order.state} /></h1>
    <${Actions} order=${order} dispatch=${dispatch} shipments=${shipments} reload=${reload} />
    <h2>${tr('lines')}</h2>
    <table class="list">
      <tbody>
        ${order.lines.map(
          (line) => html`<tr><td>${tr('sku', { id: line.sku_id })}</td><td>× ${line.quantity}</td>
            <td class="money">${yuan(line.line_total_fen)}</td></tr>`,
        )}
        <tr><th>${tr('total')}</th><td></td><td class="money">${yuan(order.total_fen)}</td></tr>
      </tbody>
    </table>
    <h2>${tr('address')}</h2>
    <p>${order.address.division} · ${order.address.detail}</p>
    ${order.promise && html`<p>${tr('promise', { by: order.promise.promised_by_local || dateTime(order.promise.promised_by) })}</p>`}
    ${requests.length > 0 &&
    html`<h2>${tr('after_sales')}</h2>
      <ul class="cards">
        ${requests.map((request) => html`<${RequestCard} key=${request.id} request=${request} session=${session} done=${reload} />`)}
      </ul>`}
    <h2>${tr('timeline')}</h2>
    <ol class="timeline">
      ${timeline(order, dispatch, shipments, refunds).map(
        ([when, words]) => html`<li><time>${dateTime(when)}</time> ${words}</li>`,
      )}
    </ol>
  </div>`;
}

export function OrderDetail({ params, session }) {
  const id = params[0];
  const state = useLoad(() => loadOrder(id), [id]);
  return html`<div class="page" data-page="order">
    <p><a href="/console/orders">← ${t('back')}</a></p>
    <${Loaded} state=${state}>${(value) => html`<${Detail} value=${value} reload=${state.reload} session=${session} />`}<//>
  </div>`;
}
