// Today at a glance: orders, GMV, paid conversion and refunds by hour, and the shop's flash
// sales with a way into each one's live room.
import { html, useLoad, Loaded, Figure, Empty } from '../ui.js';
import { api, query } from '../api.js';
import { texts } from '../i18n.js';
import { yuan, count, percent, dayStart, dateTime } from '../format.js';
import { Chart, barsAndLine } from '../charts.js';

const tr = texts({
  zh: {
    title: '今日概览',
    orders: '订单数',
    gmv: '成交额',
    paid: '支付金额',
    conversion: '支付转化率',
    average: '客单价',
    refunds: '退款',
    by_hour: '每小时订单与成交额',
    sales: '秒杀活动',
    watch: '进入直播间',
    sale: '秒杀 #{id}',
    left: '剩余 {left}/{units} 件',
    platform: '平台今日数据（全部店铺）',
  },
  en: {
    title: 'Today',
    orders: 'Orders',
    gmv: 'GMV',
    paid: 'Paid',
    conversion: 'Paid conversion',
    average: 'Average order',
    refunds: 'Refunds',
    by_hour: 'Orders and GMV by hour',
    sales: 'Flash sales',
    watch: 'Open the live room',
    sale: 'Flash sale #{id}',
    left: '{left} of {units} left',
    platform: "Today across every shop",
  },
});

function Today({ series }) {
  const totals = series.totals;
  const points = series.buckets.map((b) => ({
    label: new Date(b.start).getHours() + ':00',
    bars: b.orders,
    line: b.gmv_fen / 100,
  }));
  return html`<section>
    <div class="figures">
      <${Figure} name="orders" label=${tr('orders')} value=${count(totals.orders)} />
      <${Figure} name="gmv" label=${tr('gmv')} value=${yuan(totals.gmv_fen)} />
      <${Figure} name="paid" label=${tr('paid')} value=${yuan(totals.paid_fen)} />
      <${Figure} name="conversion" label=${tr('conversion')} value=${percent(totals.paid_conversion_bps)} />
      <${Figure} name="average" label=${tr('average')} value=${yuan(totals.average_order_fen)} />
      <${Figure} name="refunds" label=${tr('refunds')} value=${`${count(totals.refunds)} · ${yuan(totals.refunded_fen)}`} />
    </div>
    <h2>${tr('by_hour')}</h2>
    <${Chart} id="today-by-hour" option=${barsAndLine(points, tr('orders'), tr('gmv'))} />
  </section>`;
}

function Sales({ page }) {
  if (!page.items.length) return html`<${Empty} />`;
  return html`<ul class="sales">
    ${page.items.map(
      (sale) => html`<li data-sale=${sale.id}>
        <strong>${tr('sale', { id: sale.id })}</strong> · ${yuan(sale.price_fen)} ·
        <span class=${`badge sale-${sale.status}`}>${sale.status}</span> ·
        ${tr('left', { left: count(sale.remaining), units: count(sale.units) })} · ${dateTime(sale.starts_at)}
        <a href=${`/console/live/${sale.id}`}>${tr('watch')}</a>
      </li>`,
    )}
  </ul>`;
}

export function Overview({ session }) {
  const today = useLoad(
    () => api.get(`/v1/compass/series${query({ granularity: 'hour', from: dayStart(0), to: dayStart(-1) })}`),
    [],
  );
  const shopStaff = session.staff.shop_id !== null;
  const sales = useLoad(() => (shopStaff ? api.get('/v1/flash-sales?limit=20') : Promise.resolve(null)), []);
  return html`<div class="page" data-page="overview">
    <h1>${shopStaff ? tr('title') : tr('platform')}</h1>
    <${Loaded} state=${today}>${(series) => html`<${Today} series=${series} />`}<//>
    ${shopStaff &&
    html`<h2>${tr('sales')}</h2>
      <${Loaded} state=${sales}>${(page) => html`<${Sales} page=${page} />`}<//>`}
  </div>`;
}
