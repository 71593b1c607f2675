// The shop's integrity: its deposit (保证金) balance with the latest entries, its penalties, each
// with its reason and state (an in-force penalty can be appealed once, with a text, by the owner;
// the API refuses other roles, and the refusal is shown inline), and its promises over the last
// 30 days per warehouse and per warehouse and carrier service: parcels delivered, delivered late,
// the promise-kept rate and the targets missed.
import { html, useState, useLoad, Loaded, Figure, Empty, ActionButton } from '../ui.js';
import { api } from '../api.js';
import { texts } from '../i18n.js';
import { yuan, dateTime, count, percent } from '../format.js';

const tr = texts({
  zh: {
    title: '诚信与保证金',
    balance: '保证金余额',
    entries: '保证金流水',
    penalties: '处罚记录',
    penalty: '处罚 #{id}',
    appeal: '申诉',
    appeal_text: '申诉理由',
    appealed_with: '申诉：{text}',
    decided_with: '平台意见：{text}',
    'kind.warning': '警告',
    'kind.flash_units_cap': '秒杀限量 {units} 件',
    'kind.new_sales_suspended': '暂停新活动至 {until}',
    'kind.deposit_deduction': '扣除保证金 {amount}',
    'state.in_force': '生效中',
    'state.appealed': '申诉中',
    'state.upheld': '维持处罚',
    'state.revoked': '已撤销',
    'state.expired': '已到期',
    'entry.deposit': '缴纳',
    'entry.deduction': '扣除',
    'entry.refund': '退还',
    promises: '履约承诺（近 30 天）',
    by_warehouse: '按仓库',
    warehouse_column: '仓库',
    by_carrier: '按仓库与快递服务',
    warehouse: '仓库 #{id}',
    unknown_warehouse: '未知仓库',
    unknown_carrier: '未知',
    carrier: '快递服务',
    shipped: '揽收',
    delivered: '签收',
    delivered_late: '超时签收',
    promise_kept: '准时率',
    late_pickups: '揽收超时',
    alerts_unresolved: '超一天未处理异常',
    'broken.promises_missed': '准时率低于 95%',
    'broken.late_pickups': '揽收超时过多',
    'broken.alerts_left_open': '异常超一天未处理',
    kept: '达标',
  },
  en: {
    title: 'Integrity & deposit',
    balance: 'Deposit balance',
    entries: 'Deposit entries',
    penalties: 'Penalties',
    penalty: 'Penalty #{id}',
    appeal: 'Appeal',
    appeal_text: 'Why the penalty is wrong',
    appealed_with: 'Appeal: {text}',
    decided_with: "Platform's note: {text}",
    'kind.warning': 'Warning',
    'kind.flash_units_cap': 'Flash sales capped at {units} units',
    'kind.new_sales_suspended': 'No new sales until {until}',
    'kind.deposit_deduction': '{amount} deducted from the deposit',
    'state.in_force': 'In force',
    'state.appealed': 'Appealed',
    'state.upheld': 'Upheld',
    'state.revoked': 'Revoked',
    'state.expired': 'Expired',
    'entry.deposit': 'Paid in',
    'entry.deduction': 'Deducted',
    'entry.refund': 'Refunded',
    promises: 'Promises (last 30 days)',
    by_warehouse: 'By warehouse',
    warehouse_column: 'Warehouse',
    by_carrier: 'By warehouse and carrier service',
    warehouse: 'Warehouse #{id}',
    unknown_warehouse: 'Unknown warehouse',
    unknown_carrier: 'unknown',
    carrier: 'Carrier service',
    shipped: 'Shipped',
    delivered: 'Delivered',
    delivered_late: 'Delivered late',
    promise_kept: 'Promise kept',
    late_pickups: 'Late pickups',
    alerts_unresolved: 'Alerts open over a day',
    'broken.promises_missed': 'Under 95 % on time',
    'broken.late_pickups': 'Too many late pickups',
    'broken.alerts_left_open': 'Alerts left open',
    kept: 'On target',
  },
});

function kindText(p) {
  return tr(`kind.${p.kind}`, { units: p.units, until: dateTime(p.until), amount: yuan(p.amount_fen) });
}

function Appeal({ penalty, done }) {
  const [text, setText] = useState('');
  return html`<div class="actions">
    <label>${tr('appeal_text')}<textarea name="appeal-text" value=${text} onInput=${(e) => setText(e.target.value)} /></label>
    <${ActionButton}
      name="appeal"
      label=${tr('appeal')}
      action=${() => api.post(`/v1/penalties/${penalty.id}/appeal`, { text })}
      done=${done}
    />
  </div>`;
}

function PenaltyCard({ penalty, done }) {
  return html`<li class="card" data-penalty=${penalty.id} data-state=${penalty.state}>
    <div class="card-head">
      <strong>${tr('penalty', { id: penalty.id })}</strong>
      <span class="badge">${kindText(penalty)}</span>
      <span class="badge" data-penalty-state>${tr(`state.${penalty.state}`)}</span>
      <span class="muted">${dateTime(penalty.issued_at)}</span>
    </div>
    <p>${penalty.reason}</p>
    ${penalty.appeal_text && html`<p class="muted">${tr('appealed_with', { text: penalty.appeal_text })}</p>`}
    ${penalty.decision_note && html`<p class="muted">${tr('decided_with', { text: penalty.decision_note })}</p>`}
    ${penalty.state === 'in_force' && html`<${Appeal} penalty=${penalty} done=${done} />`}
  </li>`;
}

function Deposit({ deposit }) {
  return html`<section>
    <div class="figures">
      <${Figure} name="deposit-balance" label=${tr('balance')} value=${yuan(deposit.balance_fen)} />
    </div>
    <h2>${tr('entries')}</h2>
    ${deposit.entries.length
      ? html`<ul class="entries">
          ${deposit.entries.map(
            (e) => html`<li data-entry=${e.seq}>
              ${tr(`entry.${e.kind}`)} ${yuan(e.amount_fen)} → ${yuan(e.balance_fen)} ·
              <span class="muted">${dateTime(e.at)}</span>
            </li>`,
          )}
        </ul>`
      : html`<${Empty} />`}
  </section>`;
}

function warehouseName(id) {
  return id ? tr('warehouse', { id }) : tr('unknown_warehouse');
}

// One group's figures; `carrier` adds its column (a carrier's line) or leaves it out.
function PromiseRow({ group, carrier }) {
  const key = carrier ? `${group.warehouse_id}/${group.carrier}` : String(group.warehouse_id);
  return html`<tr data-promise=${key} data-broken=${group.broken.join(' ')}>
    <td>${warehouseName(group.warehouse_id)}</td>
    ${carrier && html`<td>${group.carrier || tr('unknown_carrier')}</td>`}
    <td>${count(group.shipped)}</td><td>${count(group.delivered)}</td><td>${count(group.delivered_late)}</td>
    <td data-promise-kept>${percent(group.promise_kept_bps)}</td>
    <td>${count(group.late_pickups)}</td><td>${count(group.alerts_unresolved)}</td>
    <td>${group.broken.length ? group.broken.map((b) => tr(`broken.${b}`)).join(' · ') : tr('kept')}</td>
  </tr>`;
}

function PromiseTable({ groups, carrier, name }) {
  if (!groups.length) return html`<${Empty} />`;
  return html`<table class="list" data-table=${name}>
    <thead><tr>
      <th>${tr('warehouse_column')}</th>${carrier && html`<th>${tr('carrier')}</th>`}
      <th>${tr('shipped')}</th><th>${tr('delivered')}</th><th>${tr('delivered_late')}</th>
      <th>${tr('promise_kept')}</th><th>${tr('late_pickups')}</th><th>${tr('alerts_unresolved')}</th><th></th>
    </tr></thead>
    <tbody>${groups.map((g) => html`<${PromiseRow} group=${g} carrier=${carrier} />`)}</tbody>
  </table>`;
}

function Promises({ view }) {
  return html`<section data-section="promises">
    <h3>${tr('by_warehouse')}</h3>
    <${PromiseTable} groups=${view.warehouses} carrier=${false} name="promises-by-warehouse" />
    <h3>${tr('by_carrier')}</h3>
    <${PromiseTable} groups=${view.carriers} carrier=${true} name="promises-by-carrier" />
  </section>`;
}

export function Integrity() {
  const deposit = useLoad(() => api.get('/v1/deposit'), []);
  const penalties = useLoad(() => api.get('/v1/penalties?limit=50'), []);
  const promises = useLoad(() => api.get('/v1/integrity/promises?days=30'), []);
  const reload = () => {
    deposit.reload();
    penalties.reload();
  };
  return html`<div class="page" data-page="integrity">
    <h1>${tr('title')}</h1>
    <${Loaded} state=${deposit}>${(value) => html`<${Deposit} deposit=${value} />`}<//>
    <h2>${tr('penalties')}</h2>
    <${Loaded} state=${penalties}>
      ${(page) =>
        page.items.length
          ? html`<ul class="cards">
              ${page.items.map((p) => html`<${PenaltyCard} penalty=${p} done=${reload} />`)}
            </ul>`
          : html`<${Empty} />`}
    <//>
    <h2>${tr('promises')}</h2>
    <${Loaded} state=${promises}>${(value) => html`<${Promises} view=${value} />`}<//>
  </div>`;
}
