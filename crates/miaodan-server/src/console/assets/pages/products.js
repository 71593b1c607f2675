// Products, their SKUs and the stock of each in every warehouse: create a product, change a
// SKU's price, set a warehouse's stock, and preview the delivery options a buyer in a chosen city
// would see now for one unit of a SKU.
import { html, useState, useEffect, useLoad, Loaded, Empty, ErrorBox, ActionButton } from '../ui.js';
import { api, query } from '../api.js';
import { t, texts } from '../i18n.js';
import { yuan } from '../format.js';
import { Chart } from '../charts.js';

const tr = texts({
  zh: {
    title: '商品与库存',
    new_product: '新建商品',
    product_title: '商品标题',
    sku_name: 'SKU 名称',
    price: '价格（元）',
    create: '创建',
    skus: 'SKU',
    stock: '库存（可售 / 已锁定 / 已售）',
    warehouse: '仓库',
    set_price: '改价',
    set_stock: '设库存',
    preview: '配送预览',
    city: '买家所在城市',
    options: '{sku}：买家在{city}现在看到的配送选项',
    option: '{level} · {carrier} · 预计 {by} 送达 · {within}内下单 · 运费 {price}',
    no_option: '该城市现在无法配送',
    'level.one_hour': '1小时达',
    'level.same_day': '当日达',
    'level.next_day': '次日达',
    'level.standard': '标准快递',
    warehouses: '仓库',
    division: '所在地',
    settings: '履约设置',
    shift: '作业时间',
    per_hour: '每小时单量上限',
    per_day: '每日单量上限',
    cutoff: '{level}截单',
    holidays: '节假日作业',
    save_settings: '保存设置',
    booked: '今日各小时已排单（上限 {cap}）',
  },
  en: {
    title: 'Products & stock',
    new_product: 'New product',
    product_title: 'Title',
    sku_name: 'SKU name',
    price: 'Price (yuan)',
    create: 'Create',
    skus: 'SKUs',
    stock: 'Stock (available / reserved / sold)',
    warehouse: 'Warehouse',
    set_price: 'Set price',
    set_stock: 'Set stock',
    preview: 'Delivery preview',
    city: "Buyer's city",
    options: '{sku}: what a buyer in {city} is offered now',
    option: '{level} · {carrier} · by {by} · order within {within} · shipping {price}',
    no_option: 'Nothing can be delivered there now',
    'level.one_hour': 'One hour',
    'level.same_day': 'Same day',
    'level.next_day': 'Next day',
    'level.standard': 'Standard',
    warehouses: 'Warehouses',
    division: 'Located in',
    settings: 'Fulfillment settings',
    shift: 'Working hours',
    per_hour: 'Orders per hour, at most',
    per_day: 'Orders per day, at most',
    cutoff: '{level} cutoff',
    holidays: 'Works public holidays',
    save_settings: 'Save settings',
    booked: "Today's orders booked by hour (at most {cap})",
  },
});

// A few cities to preview from, by adcode (a district of each).
const CITIES = [
  ['110105000000', '北京 Beijing'],
  ['310101000000', '上海 Shanghai'],
  ['440106000000', '广州 Guangzhou'],
  ['510104000000', '成都 Chengdu'],
  ['650102000000', '乌鲁木齐 Ürümqi'],
];

const fenOf = (yuanText) => Math.round(Number(yuanText) * 100);

function NewProduct({ done }) {
  const [error, setError] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    try {
      await api.post('/v1/products', {
        title: form.get('title'),
        skus: [{ name: form.get('sku'), price_fen: fenOf(form.get('price')) }],
      });
      event.target.reset();
      setError(null);
      done();
    } catch (failure) {
      setError(failure);
    }
  };
  return html`<form class="filters" data-form="new-product" onSubmit=${submit}>
    <label>${tr('product_title')}<input name="title" required maxlength="200" /></label>
    <label>${tr('sku_name')}<input name="sku" required maxlength="60" /></label>
    <label>${tr('price')}<input name="price" required inputmode="decimal" /></label>
    <button type="submit">${tr('create')}</button>
    ${error && html`<${ErrorBox} error=${error} />`}
  </form>`;
}

function StockCell({ sku, level, warehouse }) {
  const [value, setValue] = useState(String(level ? level.available : 0));
  const [shown, setShown] = useState(level);
  return html`<td data-stock=${`${sku.id}:${warehouse.id}`}>
    <span>${shown ? `${shown.available} / ${shown.reserved} / ${shown.sold}` : '0 / 0 / 0'}</span>
    <input class="narrow" value=${value} onInput=${(e) => setValue(e.target.value)} />
    <${ActionButton}
      name="set-stock"
      label=${tr('set_stock')}
      action=${() => api.put(`/v1/skus/${sku.id}/stock/${warehouse.id}`, { available: Number(value) })}
      done=${(answer) => setShown(answer)}
    />
  </td>`;
}

function SkuRow({ sku, warehouses }) {
  const stock = useLoad(() => api.get(`/v1/skus/${sku.id}/stock?limit=200`), [sku.id]);
  const [price, setPrice] = useState((sku.price_fen / 100).toFixed(2));
  const [shownPrice, setShownPrice] = useState(sku.price_fen);
  return html`<tr data-sku=${sku.id}>
    <td>${sku.name}</td>
    <td>
      ${yuan(shownPrice)}
      <input class="narrow" value=${price} onInput=${(e) => setPrice(e.target.value)} />
      <${ActionButton} name="set-price" label=${tr('set_price')}
        action=${() => api.patch(`/v1/skus/${sku.id}`, { price_fen: fenOf(price) })}
        done=${(answer) => setShownPrice(answer.price_fen)} />
    </td>
    ${stock.value
      ? warehouses.map((w) => html`<${StockCell} sku=${sku} warehouse=${w} level=${stock.value.items.find((l) => l.warehouse_id === w.id)} />`)
      : html`<td colspan=${warehouses.length}>${stock.error ? stock.error.message : t('loading')}</td>`}
  </tr>`;
}

function Product({ product, warehouses }) {
  return html`<section class="card" data-product=${product.id}>
    <h2>${product.title}</h2>
    <table class="list">
      <thead><tr><th>${tr('skus')}</th><th>${tr('price')}</th>${warehouses.map((w) => html`<th>${w.name}<br />${tr('stock')}</th>`)}</tr></thead>
      <tbody>${product.skus.map((sku) => html`<${SkuRow} key=${sku.id} sku=${sku} warehouses=${warehouses} />`)}</tbody>
    </table>
  </section>`;
}

function Preview({ products }) {
  const skus = products.flatMap((p) => p.skus.map((s) => ({ id: s.id, name: `${p.title} · ${s.name}` })));
  const [sku, setSku] = useState(skus.length ? skus[0].id : null);
  const [city, setCity] = useState(CITIES[0][0]);
  const [answer, setAnswer] = useState(null);
  useEffect(() => {
    if (!sku) return;
    api.get(`/v1/delivery-options${query({ adcode: city, items: `${sku}:1` })}`).then(
      (value) => setAnswer({ value }),
      (error) => setAnswer({ error }),
    );
  }, [sku, city]);
  if (!sku) return null;
  const cityName = CITIES.find(([code]) => code === city)[1];
  const skuName = skus.find((s) => s.id === Number(sku)).name;
  const options = answer && answer.value ? answer.value.shops.flatMap((shop) => shop.options) : [];
  return html`<section data-section="preview">
    <h2>${tr('preview')}</h2>
    <div class="filters">
      <label>${tr('skus')}<select name="preview-sku" onChange=${(e) => setSku(Number(e.target.value))}>
        ${skus.map((s) => html`<option value=${s.id} selected=${s.id === sku}>${s.name}</option>`)}
      </select></label>
      <label>${tr('city')}<select name="preview-city" onChange=${(e) => setCity(e.target.value)}>
        ${CITIES.map(([code, name]) => html`<option value=${code} selected=${code === city}>${name}</option>`)}
      </select></label>
    </div>
    <p>${tr('options', { sku: skuName, city: cityName })}</p>
    ${answer && answer.error && html`<${ErrorBox} error=${answer.error} />`}
    ${answer && answer.value &&
    (options.length
      ? html`<ul data-list="delivery-options">${options.map(
          (o) => html`<li data-level=${o.level}>${tr('option', { level: tr(`level.${o.level}`), carrier: o.carrier_name, by: o.promised_by_local, within: o.order_within, price: yuan(o.price_fen) })}</li>`,
        )}</ul>`
      : html`<p class="empty">${tr('no_option')}</p>`)}
  </section>`;
}

// The settings as the API takes them back: the form's first shift, capacities, cutoff times and
// holidays over what the warehouse has (its other shifts, regions and carriers kept).
function settingsOf(current, form) {
  const shifts = current.shifts.slice();
  shifts[0] = { start: form.get('shift-start'), end: form.get('shift-end') };
  return {
    shifts,
    orders_per_hour: Number(form.get('per-hour')),
    orders_per_day: Number(form.get('per-day')),
    cutoffs: current.cutoffs.map((c, i) => ({ ...c, time: form.get(`cutoff-${i}`) })),
    works_holidays: form.get('holidays') === 'on',
    carriers: current.carriers.length ? current.carriers : null,
  };
}

function bookedOption(settings) {
  return {
    animation: false,
    grid: { left: 40, right: 10, top: 10, bottom: 24 },
    xAxis: { type: 'category', data: settings.today.map((h) => h.hour) },
    yAxis: { type: 'value', minInterval: 1, max: Math.max(1, ...settings.today.map((h) => h.orders)) },
    series: [{ type: 'bar', data: settings.today.map((h) => h.orders) }],
  };
}

function Settings({ warehouse }) {
  const loaded = useLoad(() => api.get(`/v1/warehouses/${warehouse.id}/fulfillment`), [warehouse.id]);
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState(false);
  const submit = (current) => async (event) => {
    event.preventDefault();
    setSaved(false);
    try {
      await api.put(`/v1/warehouses/${warehouse.id}/fulfillment`, settingsOf(current, new FormData(event.target)));
      setError(null);
      setSaved(true);
      loaded.reload();
    } catch (failure) {
      setError(failure);
    }
  };
  return html`<${Loaded} state=${loaded}>${(current) => html`<form class="filters" data-form=${`settings-${warehouse.id}`} onSubmit=${submit(current)}>
      <label>${tr('shift')}<span><input class="narrow" name="shift-start" value=${current.shifts[0].start} /> – <input class="narrow" name="shift-end" value=${current.shifts[0].end} /></span></label>
      <label>${tr('per_hour')}<input class="narrow" name="per-hour" value=${current.orders_per_hour} /></label>
      <label>${tr('per_day')}<input class="narrow" name="per-day" value=${current.orders_per_day} /></label>
      ${current.cutoffs.map(
        (c, i) => html`<label>${tr('cutoff', { level: tr(`level.${c.level}`) })}<input class="narrow" name=${`cutoff-${i}`} value=${c.time} /></label>`,
      )}
      <label>${tr('holidays')}<input type="checkbox" name="holidays" checked=${current.works_holidays} /></label>
      <button type="submit">${tr('save_settings')}</button>
      ${saved && html`<span class="badge state-paid" data-saved="true">✓</span>`}
      ${error && html`<${ErrorBox} error=${error} />`}
    </form>
    <p class="muted">${tr('booked', { cap: current.orders_per_hour })}</p>
    <${Chart} id=${`booked-${warehouse.id}`} option=${bookedOption(current)} height=${140} />`}<//>`;
}

function Warehouses({ warehouses }) {
  return html`<div>${warehouses.map(
    (w) => html`<section class="card" data-warehouse=${w.id}>
      <strong>${w.name}</strong> · ${tr('division')} ${w.division}
      <h3>${tr('settings')}</h3>
      <${Settings} warehouse=${w} />
    </section>`,
  )}</div>`;
}

async function loadCatalog() {
  const [products, warehouses] = await Promise.all([api.get('/v1/products?limit=50'), api.get('/v1/warehouses?limit=50')]);
  return { products: products.items, warehouses: warehouses.items };
}

export function Products() {
  const catalog = useLoad(loadCatalog, []);
  return html`<div class="page" data-page="products">
    <h1>${tr('title')}</h1>
    <h2>${tr('new_product')}</h2>
    <${NewProduct} done=${catalog.reload} />
    <${Loaded} state=${catalog}>${({ products, warehouses }) =>
      html`<h2>${tr('warehouses')}</h2>
        <${Warehouses} warehouses=${warehouses} />
        <${Preview} products=${products} />
        ${products.length ? products.map((p) => html`<${Product} key=${p.id} product=${p} warehouses=${warehouses} />`) : html`<${Empty} />`}`}<//>
  </div>`;
}
