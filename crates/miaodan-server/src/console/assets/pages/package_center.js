// The package center (包裹中心) as a work queue: the shop's open alerts, timed out before warnings,
// newest first within each; filtered by level, rule and whose they are; each acknowledged,
// assigned to me, noted or resolved through the API; kept live by the alerts stream.
import { html, useState, useEffect, Loading, ErrorBox, Empty, ActionButton } from '../ui.js';
import { api, query } from '../api.js';
import { t, texts } from '../i18n.js';
import { dateTime } from '../format.js';

const tr = texts({
  zh: {
    title: '包裹中心',
    level: '级别',
    rule: '规则',
    whose: '处理人',
    all: '全部',
    mine: '我的',
    unassigned: '未分配',
    apply: '筛选',
    'level.timed_out': '已超时',
    'level.warning': '即将超时',
    'rule.not_picked_up': '未揽收',
    'rule.not_departed': '揽收后未发出',
    'rule.stalled': '物流停滞',
    'rule.promise_at_risk': '承诺时效有风险',
    'rule.stock_shortage': '缺货',
    order: '订单',
    raised: '发生时间',
    deadline: '时限',
    assignee: '处理人',
    nobody: '未分配',
    me: '我',
    staff: '员工 {id}',
    acknowledged: '已确认',
    acknowledge: '确认',
    assign_me: '分配给我',
    unassign: '取消分配',
    note: '备注',
    resolve: '解决',
    note_prompt: '备注内容（最多 500 字）',
    resolve_prompt: '解决说明（最多 500 字）',
    notes: '备注 {n} 条',
    live: '实时',
    offline: '离线',
    shortage: '缺货提醒在订单里处理',
  },
  en: {
    title: 'Package center',
    level: 'Level',
    rule: 'Rule',
    whose: 'Assigned to',
    all: 'All',
    mine: 'Me',
    unassigned: 'Nobody',
    apply: 'Filter',
    'level.timed_out': 'Timed out',
    'level.warning': 'About to time out',
    'rule.not_picked_up': 'Not picked up',
    'rule.not_departed': 'Not departed',
    'rule.stalled': 'Stalled',
    'rule.promise_at_risk': 'Promise at risk',
    'rule.stock_shortage': 'Stock shortage',
    order: 'Order',
    raised: 'Raised',
    deadline: 'Deadline',
    assignee: 'Assignee',
    nobody: 'Nobody',
    me: 'Me',
    staff: 'Staff {id}',
    acknowledged: 'Acknowledged',
    acknowledge: 'Acknowledge',
    assign_me: 'Assign to me',
    unassign: 'Unassign',
    note: 'Note',
    resolve: 'Resolve',
    note_prompt: 'Note (at most 500 characters)',
    resolve_prompt: 'How it was resolved (at most 500 characters)',
    notes: 'Notes: {n}',
    live: 'Live',
    offline: 'Offline',
    shortage: 'Shortages are handled on the order',
  },
});

// Severity first: each level is paged through on its own, timed out before warnings.
const LEVELS = ['timed_out', 'warning'];
const RULES = ['not_picked_up', 'not_departed', 'stalled', 'promise_at_risk', 'stock_shortage'];
const PAGE_SIZE = 20;

// Only SLA alerts (`{shipment}-{rule}-{occurrence}`) are worked; shortage notices are not.
const workable = (alert) => alert.shipment_id !== null && !alert.id.startsWith('order-');

// The list's query parameters for one level, from the filter.
function paramsOf(filter, level, me) {
  const assignee = filter.whose === 'mine' ? me : filter.whose === 'unassigned' ? 'none' : '';
  return { state: 'open', level, rule: filter.rule, assignee, limit: PAGE_SIZE };
}

// Whether a streamed alert belongs in the queue the filter shows.
function fits(alert, filter, me) {
  if (!alert.open) return false;
  if (filter.level && alert.level !== filter.level) return false;
  if (filter.rule && alert.rule !== filter.rule) return false;
  if (filter.whose === 'mine') return alert.assignee === me;
  if (filter.whose === 'unassigned') return workable(alert) && alert.assignee === null;
  return true;
}

function severityFirst(a, b) {
  const byLevel = LEVELS.indexOf(a.level) - LEVELS.indexOf(b.level);
  return byLevel || (a.raised_at < b.raised_at ? 1 : a.raised_at > b.raised_at ? -1 : 0);
}

// The queue: alerts by id, and where paging stands (the level being paged, its cursor).
function useQueue(filter, me) {
  const levels = filter.level ? [filter.level] : LEVELS;
  const [queue, setQueue] = useState({ alerts: new Map(), phase: 0, cursor: null, done: false, loaded: false, error: null });
  const load = async (from) => {
    const level = levels[from.phase];
    try {
      const page = await api.get(`/v1/package-center/alerts${query({ ...paramsOf(filter, level, me), cursor: from.cursor })}`);
      const alerts = new Map(from.alerts);
      for (const alert of page.items) alerts.set(alert.id, alert);
      const last = from.phase + 1 >= levels.length;
      if (page.next_cursor) {
        setQueue({ alerts, phase: from.phase, cursor: page.next_cursor, done: false, loaded: true, error: null });
      } else if (!last && page.items.length < PAGE_SIZE) {
        // This level is through and the page is not full: go straight on to the next level.
        await load({ alerts, phase: from.phase + 1, cursor: null });
      } else {
        setQueue({ alerts, phase: from.phase + 1, cursor: null, done: last, loaded: true, error: null });
      }
    } catch (error) {
      setQueue({ ...from, loaded: true, error });
    }
  };
  useEffect(() => {
    const start = { alerts: new Map(), phase: 0, cursor: null, done: false, loaded: false, error: null };
    setQueue(start);
    load(start);
  }, [JSON.stringify(filter)]);
  // An alert as it now stands (from an action or the stream): kept if it fits, else dropped.
  const update = (alert) =>
    setQueue((previous) => {
      const alerts = new Map(previous.alerts);
      if (fits(alert, filter, me)) alerts.set(alert.id, alert);
      else alerts.delete(alert.id);
      return { ...previous, alerts };
    });
  return { queue, more: () => load(queue), update };
}

// The alerts stream: every change after `ready` (the current state before it is what the list
// pages through). One subscription for the page's life; `update` is read when an event comes.
function useLive(update) {
  const [connected, setConnected] = useState(false);
  const [latest] = useState(() => ({ update }));
  latest.update = update;
  useEffect(() => {
    const source = new EventSource('/v1/package-center/alerts/stream');
    let ready = false;
    source.addEventListener('ready', () => {
      ready = true;
      setConnected(true);
    });
    source.addEventListener('alert', (event) => {
      if (ready) latest.update(JSON.parse(event.data));
    });
    source.onerror = () => setConnected(false);
    return () => source.close();
  }, []);
  return connected;
}

function Assignee({ alert, me }) {
  if (alert.assignee === null) return tr('nobody');
  return alert.assignee === me ? tr('me') : tr('staff', { id: alert.assignee });
}

function Actions({ alert, me, update }) {
  if (!workable(alert)) return html`<span class="muted">${tr('shortage')}</span>`;
  const post = (verb, body) => () => api.post(`/v1/package-center/alerts/${alert.id}/${verb}`, body);
  const asked = (prompt, verb, field) => async () => {
    const text = window.prompt(prompt);
    if (!text || !text.trim()) return null;
    return post(verb, { [field]: text })();
  };
  const done = (changed) => changed && update(changed);
  return html`<span class="actions">
    ${!alert.acknowledged_at &&
    html`<${ActionButton} name="acknowledge" label=${tr('acknowledge')} action=${post('acknowledge')} done=${done} />`}
    ${alert.assignee === me
      ? html`<${ActionButton} name="unassign" label=${tr('unassign')} action=${post('assign', { staff_id: null })} done=${done} />`
      : html`<${ActionButton} name="assign-me" label=${tr('assign_me')} action=${post('assign', { staff_id: me })} done=${done} />`}
    <${ActionButton} name="note" label=${tr('note')} action=${asked(tr('note_prompt'), 'notes', 'text')} done=${done} />
    <${ActionButton} name="resolve" kind="primary" label=${tr('resolve')} action=${asked(tr('resolve_prompt'), 'resolve', 'note')} done=${done} />
  </span>`;
}

function Row({ alert, me, update }) {
  const notes = alert.notes || [];
  return html`<tr data-alert=${alert.id} class=${`level-${alert.level}`}>
    <td><span class=${`badge level-${alert.level}`}>${tr(`level.${alert.level}`)}</span></td>
    <td>${tr(`rule.${alert.rule}`)}<div class="muted">${alert.detail}</div></td>
    <td><a href=${`/console/orders/${alert.order_id}`}>#${alert.order_id}</a></td>
    <td>${dateTime(alert.raised_at)}</td>
    <td>${dateTime(alert.deadline)}</td>
    <td>
      <${Assignee} alert=${alert} me=${me} />
      ${alert.acknowledged_at && html`<div class="muted" data-acknowledged="true">${tr('acknowledged')}</div>`}
      ${notes.length > 0 && html`<div class="muted" title=${notes[notes.length - 1].text}>${tr('notes', { n: notes.length })}</div>`}
    </td>
    <td><${Actions} alert=${alert} me=${me} update=${update} /></td>
  </tr>`;
}

function Filters({ onFilter }) {
  const submit = (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    onFilter({ level: form.get('level'), rule: form.get('rule'), whose: form.get('whose') });
  };
  return html`<form class="filters" onSubmit=${submit}>
    <label>${tr('level')}
      <select name="level">
        <option value="">${tr('all')}</option>
        ${LEVELS.map((level) => html`<option value=${level}>${tr(`level.${level}`)}</option>`)}
      </select>
    </label>
    <label>${tr('rule')}
      <select name="rule">
        <option value="">${tr('all')}</option>
        ${RULES.map((rule) => html`<option value=${rule}>${tr(`rule.${rule}`)}</option>`)}
      </select>
    </label>
    <label>${tr('whose')}
      <select name="whose">
        <option value="">${tr('all')}</option>
        <option value="mine">${tr('mine')}</option>
        <option value="unassigned">${tr('unassigned')}</option>
      </select>
    </label>
    <button type="submit">${tr('apply')}</button>
  </form>`;
}

export function PackageCenter({ session }) {
  const me = session.staff.id;
  const [filter, setFilter] = useState({ level: '', rule: '', whose: '' });
  const { queue, more, update } = useQueue(filter, me);
  const connected = useLive(update);
  const alerts = [...queue.alerts.values()].sort(severityFirst);
  return html`<div class="page" data-page="package_center">
    <h1>${tr('title')} <span class=${connected ? 'live on' : 'live off'}>${connected ? tr('live') : tr('offline')}</span></h1>
    <${Filters} onFilter=${setFilter} />
    ${queue.error && html`<${ErrorBox} error=${queue.error} retry=${more} />`}
    ${!queue.loaded && html`<${Loading} />`}
    ${queue.loaded && !alerts.length && !queue.error && html`<${Empty} />`}
    ${alerts.length > 0 &&
    html`<table class="list">
      <thead><tr>
        <th>${tr('level')}</th><th>${tr('rule')}</th><th>${tr('order')}</th><th>${tr('raised')}</th>
        <th>${tr('deadline')}</th><th>${tr('assignee')}</th><th></th>
      </tr></thead>
      <tbody>${alerts.map((alert) => html`<${Row} key=${alert.id} alert=${alert} me=${me} update=${update} />`)}</tbody>
    </table>`}
    ${queue.loaded && !queue.done && !queue.error &&
    html`<button type="button" data-action="more" onClick=${more}>${t('more')}</button>`}
  </div>`;
}
