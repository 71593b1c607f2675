// The shop's orders, newest first: filter by state and day, page on with the API's cursor.
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
  },
});

const STATES = ['pending_payment', 'paid', 'shipped', 'delivered', 'cancelled'];

function Row({ order }) {
  const units = order.lines.reduce((sum, line) => sum + line.quantity, 0);
  return html`<tr data-order=${order.id}>
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
  };
}

export function Orders() {
  const [filter, setFilter] = useState({});
  const [pages, setPages] = useState({ items: [], next: null, loaded: false, error: null });
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
    load(undefined, []);
  }, [JSON.stringify(filter)]);
  const submit = (event) => {
    event.preventDefault();
    setFilter(filterOf(new FormData(event.target)));
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
      <button type="submit">${tr('apply')}</button>
    </form>
    ${pages.error && html`<${ErrorBox} error=${pages.error} />`}
    ${!pages.loaded && html`<${Loading} />`}
    ${pages.loaded && !pages.items.length && !pages.error && html`<${Empty} />`}
    ${pages.items.length > 0 &&
    html`<table class="list">
      <thead><tr>
        <th>${tr('id')}</th><th>${tr('state')}</th><th>${tr('buyer')}</th><th>${tr('items')}</th>
        <th>${tr('total')}</th><th>${tr('destination')}</th><th>${tr('flash')}</th><th>${tr('placed')}</th>
      </tr></thead>
      <tbody>${pages.items.map((order) => html`<${Row} key=${order.id} order=${order} />`)}</tbody>
    </table>`}
    ${pages.next && html`<button type="button" data-action="more" onClick=${() => load(pages.next, pages.items)}>${t('more')}</button>`}
  </div>`;
}
