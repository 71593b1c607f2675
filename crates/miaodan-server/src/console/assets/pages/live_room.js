// The live room (直播间大屏) of one flash sale, pushed by the server (Server-Sent Events) within a
// second of each commit: taps per second, orders, units left, when it sold out, the paid share,
// the unpaid countdown, GMV, and buyers by province on a map; and its two controls, end the sale
// now or top up its units (the stream shows either within a second). Without a sale in the
// address it lists the shop's sales to pick one.
import { html, useState, useEffect, useLoad, Loaded, Figure, Empty, ErrorBox, ActionButton } from '../ui.js';
import { api } from '../api.js';
import { texts } from '../i18n.js';
import { yuan, count, percent, time, countdown } from '../format.js';
import { Chart, provinceBubbles } from '../charts.js';

const tr = texts({
  zh: {
    title: '直播间 · 秒杀 #{id}',
    pick: '选择一场秒杀',
    sale: '秒杀 #{id} · SKU {sku} · {price}',
    units_left: '剩余库存',
    orders: '订单',
    units: '已售件数',
    gmv: '成交额',
    paid_share: '已支付占比',
    unpaid: '待支付订单',
    next_expiry: '最近超时取消',
    sold_out_at: '售罄时间',
    not_sold_out: '未售罄',
    taps: '每秒点击',
    taps_total: '点击 {taps} · 抢到 {ordered} · 售罄 {sold_out} · 限购 {limit}',
    provinces: '买家地域',
    live: '实时',
    reconnecting: '重新连接中…',
    as_of: '更新于 {at}',
    end_now: '立即结束',
    end_confirm: '确定立即结束秒杀 #{id}？之后的抢购将被拒绝，已下单的订单保留；未售出的库存退回仓库。',
    top_up_units: '追加件数',
    top_up: '追加库存',
    top_up_invalid: '请输入 1 到 100000000 之间的整数',
  },
  en: {
    title: 'Live room · flash sale #{id}',
    pick: 'Pick a flash sale',
    sale: 'Flash sale #{id} · SKU {sku} · {price}',
    units_left: 'Units left',
    orders: 'Orders',
    units: 'Units sold',
    gmv: 'GMV',
    paid_share: 'Paid share',
    unpaid: 'Unpaid orders',
    next_expiry: 'Next payment timeout',
    sold_out_at: 'Sold out at',
    not_sold_out: 'Not sold out',
    taps: 'Taps per second',
    taps_total: '{taps} taps · {ordered} ordered · {sold_out} sold out · {limit} over the limit',
    provinces: 'Buyers by province',
    live: 'Live',
    reconnecting: 'Reconnecting…',
    as_of: 'As of {at}',
    end_now: 'End now',
    end_confirm: 'End flash sale #{id} now? Later taps are refused, orders placed keep their units, and the unsold units go back to the warehouse.',
    top_up_units: 'Units to add',
    top_up: 'Top up',
    top_up_invalid: 'Enter a whole number from 1 to 100000000',
  },
});

function Pick() {
  const sales = useLoad(() => api.get('/v1/flash-sales?limit=50'), []);
  return html`<div class="page" data-page="live-pick">
    <h1>${tr('pick')}</h1>
    <${Loaded} state=${sales}>${(page) =>
      page.items.length
        ? html`<ul class="sales">${page.items.map(
            (sale) => html`<li><a href=${`/console/live/${sale.id}`}>${tr('sale', { id: sale.id, sku: sale.sku_id, price: yuan(sale.price_fen) })}</a>
              <span class=${`badge sale-${sale.status}`}>${sale.status}</span></li>`,
          )}</ul>`
        : html`<${Empty} />`}<//>
  </div>`;
}

// The latest view from the stream; `connected` is false while the browser reconnects.
function useLiveView(id) {
  const [live, setLive] = useState({ view: null, connected: false, error: null });
  useEffect(() => {
    const source = new EventSource(`/v1/flash-sales/${id}/live/stream`);
    source.addEventListener('live', (event) => setLive({ view: JSON.parse(event.data), connected: true, error: null }));
    source.onerror = () => {
      setLive((previous) => ({ ...previous, connected: false }));
      // A refusal (404, 403) closes the stream for good: show why.
      if (source.readyState === EventSource.CLOSED) {
        api.get(`/v1/flash-sales/${id}/live`).catch((error) => setLive((p) => ({ ...p, error })));
      }
    };
    return () => source.close();
  }, [id]);
  return live;
}

// Seconds left until `at`, ticking each second.
function useSecondsUntil(at) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  return at ? (new Date(at).getTime() - now) / 1000 : null;
}

function tapsOption(seconds) {
  return {
    animation: false,
    grid: { left: 40, right: 10, top: 10, bottom: 24 },
    xAxis: { type: 'category', data: seconds.map((s) => time(s.start)) },
    yAxis: { type: 'value', minInterval: 1 },
    series: [{ type: 'bar', data: seconds.map((s) => s.taps) }],
  };
}

function Room({ view }) {
  const untilExpiry = useSecondsUntil(view.next_expiry_at);
  const totals = view.totals;
  const provinces = view.provinces
    .filter((p) => p.longitude_micro_degrees !== null && p.latitude_micro_degrees !== null)
    .map((p) => ({
      name: p.name || p.adcode,
      longitude: p.longitude_micro_degrees / 1e6,
      latitude: p.latitude_micro_degrees / 1e6,
      value: p.orders,
    }));
  return html`<div>
    <div class="figures big">
      <${Figure} name="units-left" label=${tr('units_left')} value=${count(view.units_left)} />
      <${Figure} name="orders" label=${tr('orders')} value=${count(totals.orders)} />
      <${Figure} name="units" label=${tr('units')} value=${count(totals.units)} />
      <${Figure} name="gmv" label=${tr('gmv')} value=${yuan(totals.gmv_fen)} />
      <${Figure} name="paid-share" label=${tr('paid_share')} value=${percent(totals.paid_share_bps)} />
      <${Figure} name="unpaid" label=${tr('unpaid')} value=${count(view.unpaid_orders)} />
      <${Figure} name="next-expiry" label=${tr('next_expiry')} value=${view.next_expiry_at ? countdown(untilExpiry) : '—'} />
      <${Figure} name="sold-out-at" label=${tr('sold_out_at')} value=${view.sold_out_at ? time(view.sold_out_at) : tr('not_sold_out')} />
    </div>
    <p class="taps-total">${tr('taps_total', { taps: count(totals.taps), ordered: count(totals.ordered), sold_out: count(totals.sold_out), limit: count(totals.limit_reached) })}</p>
    <div class="two">
      <section><h2>${tr('taps')}</h2><${Chart} id="live-taps" option=${tapsOption(view.taps_per_second)} height=${220} /></section>
      <section><h2>${tr('provinces')}</h2><${Chart} id="live-provinces" option=${provinceBubbles(provinces, tr('orders'))} height=${300} /></section>
    </div>
  </div>`;
}

// The sale's two controls while it can still sell: end it now (after a confirmation; a sold-out
// sale holds nothing to return, so it has none), and top up its units from the warehouse.
function Controls({ sale }) {
  const [units, setUnits] = useState('');
  const [invalid, setInvalid] = useState(false);
  if (!['scheduled', 'live', 'sold_out'].includes(sale.status)) return null;
  const topUp = () => {
    const n = Number(units);
    if (!Number.isInteger(n) || n < 1 || n > 100000000) {
      setInvalid(true);
      return Promise.resolve(null);
    }
    setInvalid(false);
    return api.post(`/v1/flash-sales/${sale.id}/top-up`, { units: n });
  };
  return html`<div class="controls" data-controls="live-room">
    ${sale.status !== 'sold_out' &&
    html`<${ActionButton}
      name="end-sale"
      kind="danger"
      label=${tr('end_now')}
      confirmText=${tr('end_confirm', { id: sale.id })}
      action=${() => api.post(`/v1/flash-sales/${sale.id}/end`)}
    />`}
    <span class="top-up">
      <label>${tr('top_up_units')}<input name="top-up-units" inputmode="numeric" value=${units} onInput=${(e) => setUnits(e.target.value)} /></label>
      <${ActionButton} name="top-up" label=${tr('top_up')} action=${topUp} done=${(sale) => sale && setUnits('')} />
      ${invalid && html`<span class="error" data-error="top-up-units">${tr('top_up_invalid')}</span>`}
    </span>
  </div>`;
}

function Watch({ id }) {
  const live = useLiveView(id);
  return html`<div class="page" data-page="live-room">
    <h1>${tr('title', { id })}
      <span class=${live.connected ? 'badge live' : 'badge'} data-live=${live.connected ? 'connected' : 'waiting'}>
        ${live.connected ? tr('live') : tr('reconnecting')}
      </span>
    </h1>
    ${live.error && html`<${ErrorBox} error=${live.error} />`}
    ${live.view && html`<p class="as-of">${tr('as_of', { at: time(live.view.as_of) })}</p>
      <${Controls} sale=${live.view.sale} />
      <${Room} view=${live.view} />`}
  </div>`;
}

export function LiveRoom({ params }) {
  return params[0] ? html`<${Watch} id=${params[0]} />` : html`<${Pick} />`;
}
