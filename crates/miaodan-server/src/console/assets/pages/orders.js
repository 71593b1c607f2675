// The shop's orders, newest first: filter (state, day, flash sale, SKU, buyer, warehouse, promise at
// risk), search by order or buyer id, page on with the API's cursor, export the filter as CSV, and ship
// the selected orders at once (POST /v1/shipments/bulk).
import { html, useState, useEffect, Loading, ErrorBox, Empty, StateBadge } from '../ui.js';
import { api, query } from '../api.js';
import { t, texts } from '../i18n.js';
import { yuan, dateTime } from '../format.js';

const tr = texts({
  zh: {
    title: '订单',
    state: '状态',
    all: '全部',
    from: '下单起',
    to: '下单止',
    apply: '筛选',
    id: '订单号',
    buyer: '买家',
    items: '商品',
    total: '金额',
    placed: '下单时间',
    destination: '收货地',
    flash: '秒杀',
    flashSale: '秒杀活动',
    sku: 'SKU',
    warehouse: '仓库',
    atRisk: '仅看时效风险',
    search: '搜索订单号/买家',
    csv: '导出 CSV',
    select: '选择',
    shipSelected: '发货所选',
    shipped: '已发货',
    refused: '未发货',
  },
  en: {
    title: 'Orders',
    state: 'State',
    all: 'All',
    from: 'Placed from',
    to: 'Placed to',
    apply: 'Filter',
    id: 'Order',
    buyer: 'Buyer',
    items: 'Items',
    total: 'Total',
    placed: 'Placed',
    destination: 'Ship to',
    flash: 'Flash sale',
    flashSale: 'Flash sale',
    sku: 'SKU',
    warehouse: 'Warehouse',
    atRisk: 'Promise at risk only',
    search: 'Search order or buyer id',
    csv: 'Export CSV',
    select: 'Select',
    shipSelected: 'Ship selected',
    shipped: 'Shipped',
    refused: 'Not shipped',
  },
});

const STATES = ['pending_payment', 'paid', 'shipped', 'delivered', 'cancelled'];

function Row({ order, selected, onSelect }) {
  const units = order.lines.reduce((sum, line) => sum + line.quantity, 0);
  return html`<tr data-order=${order.id}>
    <td><input type="checkbox" aria-label=${tr('select')} checked=${selected}
      disabled=${order.state !== 'paid'} onChange=${(event) => onSelect(order.id, event.target.checked)} /></td>
    <td><a href=${`/console/orders/${order.id}`}>#${order.id}</a></td>
    <td><${StateBadge} state=${order.state} /></td>
    <td>${order.buyer_id}</td>
    <td>${units}</td>
    <td class="money">${yuan(order.total_fen)}</td>
    <td>${order.address.division}</td>
    <td>${order.flash_sale_id ? `#${order.flash_sale_id}` : ''}</td>
    <td>${dateTime(order.created_at)}</td>
  </tr>`;
}

// The filter as the API takes it, from the form's fields.
function filterOf(form) {
  const day = (value, end) => (value ? new Date(`${value}T${end ? '23:59:59.999' : '00:00:00'}`).toISOString() : '');
  return {
    state: form.get('state'),
    created_from: day(form.get('from'), false),
    created_to: day(form.get('to'), true),
    flash_sale_id: form.get('flash_sale_id'),
    sku_id: form.get('sku_id'),
    buyer_id: form.get('buyer_id'),
    warehouse_id: form.get('warehouse_id'),
    promise_at_risk: form.get('promise_at_risk') ? 'true' : '',
    q: form.get('q').trim(),
  };
}

// What a bulk shipment answered, one line per order.
function ShipResults({ results }) {
  return html`<ul class="ship-results">
    ${results.map((r) => html`<li data-order=${r.order_id} data-result=${r.result}>
      #${r.order_id} ${r.result === 'shipped' ? tr('shipped') : `${tr('refused')}: ${r.detail}`}
    </li>`)}
  </ul>`;
}

export function Orders() {
  const [filter, setFilter] = useState({});
  const [pages, setPages] = useState({ items: [], next: null, loaded: false, error: null });
  const [selected, setSelected] = useState([]);
  const [shipping, setShipping] = useState({ results: null, error: null });
  const select = (id, on) => setSelected((ids) => (on ? ids.concat(id) : ids.filter((other) => other !== id)));
  const load = async (cursor, previous) => {
    try {
      const page = await api.get(`/v1/orders${query({ ...filter, limit: 50, cursor })}`);
      setPages({ items: previous.concat(page.items), next: page.next_cursor, loaded: true, error: null });
    } catch (error) {
      setPages({ items: previous, next: null, loaded: true, error });
    }
  };
  useEffect(() => {
    setPages({ items: [], next: null, loaded: false, error: null });
    setSelected([]);
    load(undefined, []);
  }, [JSON.stringify(filter)]);
  const submit = (event) => {
    event.preventDefault();
    setFilter(filterOf(new FormData(event.target)));
  };
  const shipSelected = async () => {
    try {
      const answer = await api.post('/v1/shipments/bulk', { order_ids: selected });
      setShipping({ results: answer.results, error: null });
      setSelected([]);
      load(undefined, []);
    } catch (error) {
      setShipping({ results: null, error });
    }
  };
  return html`<div class="page" data-page="orders">
    <h1>${tr('title')}</h1>
    <form class="filters" onSubmit=${submit}>
      <label>${tr('state')}
        <select name="state">
          <option value="">${tr('all')}</option>
          ${STATES.map((state) => html`<option value=${state}>${t(`state.${state}`)}</option>`)}
        </select>
      </label>
      <label>${tr('from')}<input type="date" name="from" /></label>
      <label>${tr('to')}<input type="date" name="to" /></label>
      <label>${tr('flashSale')}<input type="number" min="1" name="flash_sale_id" /></label>
      <label>${tr('sku')}<input type="number" min="1" name="sku_id" /></label>
      <label>${tr('buyer')}<input type="number" min="1" name="buyer_id" /></label>
      <label>${tr('warehouse')}<input type="number" min="1" name="warehouse_id" /></label>
      <label><input type="checkbox" name="promise_at_risk" value="true" />${tr('atRisk')}</label>
      <input type="search" name="q" pattern="#?[1-9][0-9]{0,17}" placeholder=${tr('search')} aria-label=${tr('search')} />
      <button type="submit">${tr('apply')}</button>
      <a class="button" data-action="csv" href=${`/v1/orders/export.csv${query(filter)}`} download>${tr('csv')}</a>
    </form>
    <div class="actions">
      <button type="button" data-action="ship-selected" disabled=${!selected.length} onClick=${shipSelected}>
        ${tr('shipSelected')} (${selected.length})
      </button>
    </div>
    ${shipping.error && html`<${ErrorBox} error=${shipping.error} />`}
    ${shipping.results && html`<${ShipResults} results=${shipping.results} />`}
    ${pages.error && html`<${ErrorBox} error=${pages.error} />`}
    ${!pages.loaded && html`<${Loading} />`}
    ${pages.loaded && !pages.items.length && !pages.error && html`<${Empty} />`}
    ${pages.items.length > 0 &&
    html`<table class="list">
      <thead><tr>
        <th></th><th>${tr('id')}</th><th>${tr('state')}</th><th>${tr('buyer')}</th><th>${tr('items')}</th>
        <th>${tr('total')}</th><th>${tr('destination')}</th><th>${tr('flash')}</th><th>${tr('placed')}</th>
      </tr></thead>
      <tbody>${pages.items.map((order) => html`<${Row} key=${order.id} order=${order}
        selected=${selected.includes(order.id)} onSelect=${select} />`)}</tbody>
    </table>`}
    ${pages.next && html`<button type="button" data-action="more" onClick=${() => load(pages.next, pages.items)}>${t('more')}</button>`}
  </div>`;
}
