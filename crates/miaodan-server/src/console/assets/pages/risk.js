// The platform's risk review queue, for platform admins: kept decisions newest first, filtered by
// verdict, review, shop, sale and buyer; a decision opens with the rules that fired and the
// buyer's links (the buyers it shares devices, flats and credentials with), and an open one is
// reviewed once, cleared (honest) or confirmed (a scalper or a fraud), with a note. Every check is
// the API's: a second review is refused inline (409 `already_reviewed`).
import { html, useState, useLoad, Loaded, Empty, ActionButton } from '../ui.js';
import { api, query } from '../api.js';
import { texts } from '../i18n.js';
import { dateTime } from '../format.js';

const tr = texts({
  zh: {
    title: '风控审核',
    filters: '筛选',
    verdict: '结论',
    review: '审核',
    shop: '店铺',
    sale: '秒杀',
    buyer: '买家',
    any: '全部',
    apply: '筛选',
    decision: '决定 #{id}',
    kind: '类型',
    score: '分数',
    at: '时间',
    'kind.tap': '秒杀抢购',
    'kind.checkout': '结算',
    'verdict.allow': '放行',
    'verdict.review': '待人工审核',
    'verdict.challenge': '需验证',
    'verdict.block': '拦截',
    'review.open': '未审核',
    'review.cleared': '正常买家',
    'review.confirmed': '确认违规',
    fired: '触发的规则',
    rule: '规则',
    signal: '信号',
    value: '值',
    threshold: '阈值',
    points: '分值',
    shadow: '影子模式',
    enforced: '已生效',
    shadow_only: '仅记录（影子模式）',
    ordered: '已下单',
    cluster: '关联买家',
    cluster_of: '分片 {shard}：{size} 个买家相互关联：',
    no_cluster: '未发现与其他买家的关联',
    history: '该买家最近的决定',
    outcome: '审核结论',
    note: '审核说明',
    submit_review: '提交审核',
    reviewed_with: '审核说明：{note}',
    close: '收起',
    open: '查看',
  },
  en: {
    title: 'Risk review',
    filters: 'Filters',
    verdict: 'Verdict',
    review: 'Review',
    shop: 'Shop',
    sale: 'Sale',
    buyer: 'Buyer',
    any: 'Any',
    apply: 'Filter',
    decision: 'Decision #{id}',
    kind: 'Kind',
    score: 'Score',
    at: 'At',
    'kind.tap': 'Flash-sale tap',
    'kind.checkout': 'Checkout',
    'verdict.allow': 'Allow',
    'verdict.review': 'Review',
    'verdict.challenge': 'Challenge',
    'verdict.block': 'Block',
    'review.open': 'Open',
    'review.cleared': 'Cleared',
    'review.confirmed': 'Confirmed',
    fired: 'Rules that fired',
    rule: 'Rule',
    signal: 'Signal',
    value: 'Value',
    threshold: 'Threshold',
    points: 'Points',
    shadow: 'Shadow',
    enforced: 'Enforced',
    shadow_only: 'Recorded only (shadow)',
    ordered: 'Ordered',
    cluster: 'Linked buyers',
    cluster_of: 'Shard {shard}: {size} buyers linked:',
    no_cluster: 'No link to another buyer',
    history: "The buyer's latest decisions",
    outcome: 'Outcome',
    note: 'Note',
    submit_review: 'Submit review',
    reviewed_with: 'Note: {note}',
    close: 'Close',
    open: 'Open',
  },
});

const VERDICTS = ['allow', 'review', 'challenge', 'block'];
const REVIEWS = ['open', 'cleared', 'confirmed'];

function Choice({ name, value, options, label, prefix, onChange }) {
  return html`<label>${label}<select name=${name} value=${value} onChange=${(e) => onChange(e.target.value)}>
    <option value="">${tr('any')}</option>
    ${options.map((o) => html`<option value=${o}>${tr(`${prefix}.${o}`)}</option>`)}
  </select></label>`;
}

function IdInput({ name, label, value, onChange }) {
  return html`<label>${label}<input type="number" min="1" name=${name} value=${value} onInput=${(e) => onChange(e.target.value)} /></label>`;
}

// The filter form; the queue reloads when it is submitted.
function Filters({ initial, apply }) {
  const [f, setF] = useState(initial);
  const set = (key) => (value) => setF({ ...f, [key]: value });
  const submit = (e) => {
    e.preventDefault();
    apply(f);
  };
  return html`<form class="filters" data-form="risk-filters" onSubmit=${submit}>
    <${Choice} name="verdict" label=${tr('verdict')} value=${f.verdict} options=${VERDICTS} prefix="verdict" onChange=${set('verdict')} />
    <${Choice} name="review" label=${tr('review')} value=${f.review} options=${REVIEWS} prefix="review" onChange=${set('review')} />
    <${IdInput} name="shop_id" label=${tr('shop')} value=${f.shop_id} onChange=${set('shop_id')} />
    <${IdInput} name="flash_sale_id" label=${tr('sale')} value=${f.flash_sale_id} onChange=${set('flash_sale_id')} />
    <${IdInput} name="buyer_id" label=${tr('buyer')} value=${f.buyer_id} onChange=${set('buyer_id')} />
    <button type="submit" data-action="filter">${tr('apply')}</button>
  </form>`;
}

function FiredRules({ fired }) {
  if (!fired.length) return html`<${Empty} />`;
  return html`<table class="list" data-table="fired">
    <thead><tr><th>${tr('rule')}</th><th>${tr('signal')}</th><th>${tr('value')}</th><th>${tr('threshold')}</th><th>${tr('points')}</th><th></th></tr></thead>
    <tbody>${fired.map(
      (r) => html`<tr data-rule=${r.code}><td>${r.code}</td><td>${r.signal}</td><td>${r.value}</td><td>${r.threshold}</td>
        <td>${r.points}</td><td>${r.shadow ? tr('shadow') : ''}</td></tr>`,
    )}</tbody>
  </table>`;
}

function Cluster({ buyer }) {
  const links = useLoad(() => api.get(`/v1/risk/buyers/${buyer}`), [buyer]);
  return html`<${Loaded} state=${links}>${(view) => html`<div data-cluster=${view.buyer_id}>
    ${view.clusters.length
      ? view.clusters.map(
          (c) => html`<p data-shard=${c.shard} data-size=${c.size}>${tr('cluster_of', { shard: c.shard, size: c.size })}
            ${c.buyer_ids.map((id) => html`<span class="badge" data-linked-buyer=${id}>${tr('buyer')} ${id}</span> `)}</p>`,
        )
      : html`<p class="muted" data-cluster-none>${tr('no_cluster')}</p>`}
    <h4>${tr('history')}</h4>
    <ul class="entries">${view.decisions.map(
      (d) => html`<li data-history=${d.id}>#${d.id} · ${tr(`verdict.${d.verdict}`)} · ${d.score} · ${tr(`review.${d.review}`)} ·
        <span class="muted">${dateTime(d.at)}</span></li>`,
    )}</ul>
  </div>`}<//>`;
}

function ReviewForm({ decision, done }) {
  const [outcome, setOutcome] = useState('cleared');
  const [note, setNote] = useState('');
  return html`<div class="actions">
    <label>${tr('outcome')}<select name="outcome" value=${outcome} onChange=${(e) => setOutcome(e.target.value)}>
      <option value="cleared">${tr('review.cleared')}</option>
      <option value="confirmed">${tr('review.confirmed')}</option>
    </select></label>
    <label>${tr('note')}<textarea name="review-note" value=${note} onInput=${(e) => setNote(e.target.value)} /></label>
    <${ActionButton}
      name="review"
      label=${tr('submit_review')}
      action=${() => api.post(`/v1/risk/decisions/${decision.id}/review`, { outcome, note })}
      done=${done}
    />
  </div>`;
}

function Detail({ decision, done }) {
  return html`<section class="card" data-detail=${decision.id}>
    <p>${decision.enforced ? tr('enforced') : tr('shadow_only')}${decision.ordered ? ` · ${tr('ordered')}` : ''}</p>
    <h3>${tr('fired')}</h3>
    <${FiredRules} fired=${decision.fired} />
    <h3>${tr('cluster')}</h3>
    <${Cluster} buyer=${decision.buyer_id} />
    ${decision.review === 'open'
      ? html`<${ReviewForm} decision=${decision} done=${done} />`
      : decision.review_note && html`<p class="muted">${tr('reviewed_with', { note: decision.review_note })}</p>`}
  </section>`;
}

function DecisionRow({ decision, opened, toggle }) {
  return html`<tr data-decision=${decision.id} data-verdict=${decision.verdict} data-review=${decision.review}>
    <td>${decision.id}</td><td>${tr(`kind.${decision.kind}`)}</td><td>${decision.shop_id}</td>
    <td>${decision.flash_sale_id ?? '—'}</td><td>${decision.buyer_id}</td>
    <td><span class="badge">${tr(`verdict.${decision.verdict}`)}</span></td><td>${decision.score}</td>
    <td><span class="badge" data-review-state>${tr(`review.${decision.review}`)}</span></td>
    <td class="muted">${dateTime(decision.at)}</td>
    <td><button type="button" class="link" data-action="open" onClick=${toggle}>${opened ? tr('close') : tr('open')}</button></td>
  </tr>`;
}

function Queue({ page, reload }) {
  const [opened, setOpened] = useState(null);
  if (!page.items.length) return html`<${Empty} />`;
  return html`<table class="list" data-table="risk-decisions">
    <thead><tr><th>#</th><th>${tr('kind')}</th><th>${tr('shop')}</th><th>${tr('sale')}</th><th>${tr('buyer')}</th>
      <th>${tr('verdict')}</th><th>${tr('score')}</th><th>${tr('review')}</th><th>${tr('at')}</th><th></th></tr></thead>
    <tbody>${page.items.map(
      (d) => html`<${DecisionRow} decision=${d} opened=${opened === d.id} toggle=${() => setOpened(opened === d.id ? null : d.id)} />
        ${opened === d.id && html`<tr><td colspan="10"><${Detail} decision=${d} done=${reload} /></td></tr>`}`,
    )}</tbody>
  </table>`;
}

const NO_FILTER = { verdict: '', review: 'open', shop_id: '', flash_sale_id: '', buyer_id: '' };

export function RiskReview() {
  const [filter, setFilter] = useState(NO_FILTER);
  const decisions = useLoad(() => api.get(`/v1/risk/decisions${query({ ...filter, limit: 50 })}`), [filter]);
  return html`<div class="page" data-page="risk">
    <h1>${tr('title')}</h1>
    <${Filters} initial=${filter} apply=${setFilter} />
    <${Loaded} state=${decisions}>${(page) => html`<${Queue} page=${page} reload=${decisions.reload} />`}<//>
  </div>`;
}
