// The data compass (数据罗盘): today, 7 or 30 days — orders and GMV over time, buyers by province
// on a map, top SKUs, fulfillment (promise kept, late parcels, open alerts), after-sales rates, and
// the diagnosis reports with their findings.
import { html, useState, useLoad, Loaded, Figure, Empty, ActionButton } from '../ui.js';
import { api, query } from '../api.js';
import { lang, texts } from '../i18n.js';
import { yuan, count, percent, dayStart, dateTime } from '../format.js';
import { Chart, barsAndLine, provinceBubbles } from '../charts.js';

const tr = texts({
  zh: {
    title: '数据罗盘',
    today: '今天',
    days7: '近 7 天',
    days30: '近 30 天',
    orders: '订单数',
    gmv: '成交额',
    paid: '支付金额',
    conversion: '支付转化率',
    average: '客单价',
    over_time: '订单与成交额趋势',
    regions: '买家地域分布',
    region: '省份',
    skus: '热销 SKU',
    sku: 'SKU',
    units: '件数',
    stock_outs: '断货次数',
    fulfillment: '履约',
    warehouse: '仓库 {id}',
    unknown_warehouse: '未知仓库',
    dispatched: '已分仓',
    promise_kept: '承诺达成率',
    late: '延迟送达',
    alerts_open: '未处理异常',
    after_sales: '售后',
    requests_rate: '售后申请率',
    refunds_rate: '退款率',
    approval_rate: '售后通过率',
    refunded: '退款金额',
    diagnosis: '诊断报告',
    run: '立即诊断',
    report: '报告 #{id} · {first} 至 {last}',
    findings: '严重 {critical} · 警告 {warning} · 提示 {info}',
    open: '查看报告',
  },
  en: {
    title: 'Data compass',
    today: 'Today',
    days7: 'Last 7 days',
    days30: 'Last 30 days',
    orders: 'Orders',
    gmv: 'GMV',
    paid: 'Paid',
    conversion: 'Paid conversion',
    average: 'Average order',
    over_time: 'Orders and GMV over time',
    regions: 'Buyers by province',
    region: 'Province',
    skus: 'Top SKUs',
    sku: 'SKU',
    units: 'Units',
    stock_outs: 'Stock-outs',
    fulfillment: 'Fulfillment',
    warehouse: 'Warehouse {id}',
    unknown_warehouse: 'Unknown warehouse',
    dispatched: 'Dispatched',
    promise_kept: 'Promise kept',
    late: 'Delivered late',
    alerts_open: 'Open alerts',
    after_sales: 'After-sales',
    requests_rate: 'Requests per order',
    refunds_rate: 'Refunds per order',
    approval_rate: 'Approval rate',
    refunded: 'Refunded',
    diagnosis: 'Diagnosis reports',
    run: 'Diagnose now',
    report: 'Report #{id} · {first} to {last}',
    findings: '{critical} critical · {warning} warnings · {info} notes',
    open: 'Open the report',
  },
});

const RANGES = [
  ['today', 0, 'hour'],
  ['days7', 6, 'day'],
  ['days30', 29, 'day'],
];

function label(start, granularity) {
  const at = new Date(start);
  return granularity === 'hour' ? `${at.getHours()}:00` : `${at.getMonth() + 1}/${at.getDate()}`;
}

function Trend({ series, granularity }) {
  const t = series.totals;
  const points = series.buckets.map((b) => ({ label: label(b.start, granularity), bars: b.orders, line: b.gmv_fen / 100 }));
  return html`<section>
    <div class="figures">
      <${Figure} name="orders" label=${tr('orders')} value=${count(t.orders)} />
      <${Figure} name="gmv" label=${tr('gmv')} value=${yuan(t.gmv_fen)} />
      <${Figure} name="paid" label=${tr('paid')} value=${yuan(t.paid_fen)} />
      <${Figure} name="conversion" label=${tr('conversion')} value=${percent(t.paid_conversion_bps)} />
      <${Figure} name="average" label=${tr('average')} value=${yuan(t.average_order_fen)} />
    </div>
    <h2>${tr('over_time')}</h2>
    <${Chart} id="compass-trend" option=${barsAndLine(points, tr('orders'), tr('gmv'))} />
  </section>`;
}

function Regions({ view }) {
  if (!view.regions.length) return html`<${Empty} />`;
  const bubbles = view.regions
    .filter((r) => r.lng !== null && r.lat !== null)
    .map((r) => ({ name: r.name, longitude: r.lng, latitude: r.lat, value: r.orders }));
  return html`<div class="two">
    <${Chart} id="compass-regions" option=${provinceBubbles(bubbles, tr('orders'))} height=${320} />
    <table class="list" data-table="regions">
      <thead><tr><th>${tr('region')}</th><th>${tr('orders')}</th><th>${tr('gmv')}</th><th>${tr('conversion')}</th></tr></thead>
      <tbody>${view.regions.slice(0, 12).map(
        (r) => html`<tr><td>${r.name}</td><td>${count(r.orders)}</td><td class="money">${yuan(r.gmv_fen)}</td><td>${percent(r.paid_conversion_bps)}</td></tr>`,
      )}</tbody>
    </table>
  </div>`;
}

function Skus({ view }) {
  if (!view.skus.length) return html`<${Empty} />`;
  return html`<table class="list" data-table="skus">
    <thead><tr><th>${tr('sku')}</th><th>${tr('units')}</th><th>${tr('gmv')}</th><th>${tr('refunded')}</th><th>${tr('stock_outs')}</th></tr></thead>
    <tbody>${view.skus.map(
      (s) => html`<tr><td>${s.title}</td><td>${count(s.units)}</td><td class="money">${yuan(s.gmv_fen)}</td>
        <td class="money">${yuan(s.refunded_fen)}</td><td>${count(s.stock_outs)}</td></tr>`,
    )}</tbody>
  </table>`;
}

function Fulfillment({ view }) {
  if (!view.warehouses.length) return html`<${Empty} />`;
  return html`<table class="list" data-table="fulfillment">
    <thead><tr><th></th><th>${tr('dispatched')}</th><th>${tr('promise_kept')}</th><th>${tr('late')}</th><th>${tr('alerts_open')}</th></tr></thead>
    <tbody>${view.warehouses.map(
      (w) => html`<tr><td>${w.warehouse_id ? tr('warehouse', { id: w.warehouse_id }) : tr('unknown_warehouse')}</td>
        <td>${count(w.dispatched)}</td><td>${percent(w.promise_kept_bps)}</td><td>${count(w.delivered_late)}</td><td>${count(w.alerts_open)}</td></tr>`,
    )}</tbody>
  </table>`;
}

function AfterSales({ view }) {
  return html`<div class="figures">
    <${Figure} name="requests-rate" label=${tr('requests_rate')} value=${percent(view.requests_per_order_bps)} />
    <${Figure} name="refunds-rate" label=${tr('refunds_rate')} value=${percent(view.refunds_per_order_bps)} />
    <${Figure} name="approval-rate" label=${tr('approval_rate')} value=${percent(view.totals.approval_rate_bps)} />
    <${Figure} name="refunded" label=${tr('refunded')} value=${yuan(view.totals.refunded_fen)} />
  </div>`;
}

function Diagnosis() {
  const reports = useLoad(() => api.get(`/v1/compass/diagnosis${query({ from: dayStart(90).slice(0, 10), to: dayStart(-1).slice(0, 10) })}`), []);
  const language = lang() === 'zh' ? 'zh' : 'en';
  return html`<section>
    <h2>${tr('diagnosis')} <${ActionButton} name="diagnose" label=${tr('run')} action=${() => api.post('/v1/compass/diagnosis', {})} done=${reports.reload} /></h2>
    <${Loaded} state=${reports}>${(value) =>
      value.reports.length
        ? html`<ul class="sales" data-list="reports">${value.reports.map(
            (r) => html`<li data-report=${r.id}>
              <strong>${tr('report', { id: r.id, first: r.period.first_day, last: r.period.last_day })}</strong> ·
              ${tr('findings', { critical: r.critical, warning: r.warning, info: r.info })} · ${dateTime(r.created_at)}
              <a href=${`/v1/compass/diagnosis/${r.id}/report.html?lang=${language}`} target="_blank" rel="noopener">${tr('open')}</a>
            </li>`,
          )}</ul>`
        : html`<${Empty} />`}<//>
  </section>`;
}

export function Compass() {
  const [range, setRange] = useState('today');
  const [, daysAgo, granularity] = RANGES.find(([key]) => key === range);
  const span = { from: dayStart(daysAgo), to: dayStart(-1) };
  const key = [range];
  const series = useLoad(() => api.get(`/v1/compass/series${query({ ...span, granularity })}`), key);
  const regions = useLoad(() => api.get(`/v1/compass/regions${query({ ...span, level: 'province' })}`), key);
  const skus = useLoad(() => api.get(`/v1/compass/skus${query({ ...span, top: 10, sort: 'gmv' })}`), key);
  const fulfillment = useLoad(() => api.get(`/v1/compass/fulfillment${query(span)}`), key);
  const afterSales = useLoad(() => api.get(`/v1/compass/after-sales${query(span)}`), key);
  return html`<div class="page" data-page="compass">
    <h1>${tr('title')}
      <span class="ranges">${RANGES.map(
        ([key]) => html`<button type="button" data-range=${key} class=${key === range ? 'primary' : ''} onClick=${() => setRange(key)}>${tr(key)}</button>`,
      )}</span>
    </h1>
    <${Loaded} state=${series}>${(value) => html`<${Trend} series=${value} granularity=${granularity} />`}<//>
    <h2>${tr('regions')}</h2>
    <${Loaded} state=${regions}>${(value) => html`<${Regions} view=${value} />`}<//>
    <h2>${tr('skus')}</h2>
    <${Loaded} state=${skus}>${(value) => html`<${Skus} view=${value} />`}<//>
    <h2>${tr('fulfillment')}</h2>
    <${Loaded} state=${fulfillment}>${(value) => html`<${Fulfillment} view=${value} />`}<//>
    <h2>${tr('after_sales')}</h2>
    <${Loaded} state=${afterSales}>${(value) => html`<${AfterSales} view=${value} />`}<//>
    <${Diagnosis} />
  </div>`;
}
