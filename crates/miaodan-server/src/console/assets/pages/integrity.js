// The shop's integrity: its deposit (保证金) balance with the latest entries, and its penalties,
// each with its reason and state; an in-force penalty can be appealed once, with a text, by the
// owner (the API refuses other roles, and the refusal is shown inline).
import { html, useState, useLoad, Loaded, Figure, Empty, ActionButton } from '../ui.js';
import { api } from '../api.js';
import { texts } from '../i18n.js';
import { yuan, dateTime } from '../format.js';

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

export function Integrity() {
  const deposit = useLoad(() => api.get('/v1/deposit'), []);
  const penalties = useLoad(() => api.get('/v1/penalties?limit=50'), []);
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
  </div>`;
}
