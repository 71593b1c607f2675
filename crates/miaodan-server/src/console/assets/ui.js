// What every page is made of: loading and error states, a data hook, tables, figures, buttons
// that call the API once.
import { html, useState, useEffect, useCallback } from './vendor/preact-htm.js';
import { t } from './i18n.js';

export { html, useState, useEffect, useCallback };

// Loads `load()` (an async function) when `deps` change; gives { value, error, reload }.
export function useLoad(load, deps = []) {
  const [state, setState] = useState({ value: undefined, error: null });
  const reload = useCallback(() => {
    let live = true;
    load().then(
      (value) => live && setState({ value, error: null }),
      (error) => live && setState({ value: undefined, error }),
    );
    return () => {
      live = false;
    };
  }, deps);
  useEffect(reload, [reload]);
  return { ...state, reload };
}

export function Loading() {
  return html`<p class="loading">${t('loading')}</p>`;
}

export function ErrorBox({ error, retry }) {
  const known = error && error.code && `error.${error.code}`;
  const words = known === 'error.forbidden_for_role' || known === 'error.not_found' ? t(known) : error.message;
  return html`<div class="error" role="alert">
    <strong>${t('error.title')}</strong>
    <span data-code=${error.code || ''}>${words}</span>
    ${retry && html`<button type="button" onClick=${retry}>${t('retry')}</button>`}
  </div>`;
}

// Renders `children(value)` once loaded, else the loading or error state.
export function Loaded({ state, children }) {
  if (state.error) return html`<${ErrorBox} error=${state.error} retry=${state.reload} />`;
  if (state.value === undefined) return html`<${Loading} />`;
  return children(state.value);
}

// A figure card: a label and a big number.
export function Figure({ label, value, name }) {
  return html`<div class="figure" data-figure=${name || ''}>
    <span class="figure-label">${label}</span>
    <span class="figure-value">${value}</span>
  </div>`;
}

// A button that runs `action` (async) once at a time, shows a refusal inline, and reports success.
export function ActionButton({ label, action, done, confirmText, kind, name }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const run = async () => {
    if (confirmText && !window.confirm(confirmText)) return;
    setBusy(true);
    setError(null);
    try {
      const value = await action();
      if (done) done(value);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return html`<span class="action">
    <button type="button" class=${kind || ''} data-action=${name || ''} disabled=${busy} onClick=${run}>${label}</button>
    ${error && html`<${ErrorBox} error=${error} />`}
  </span>`;
}

export function StateBadge({ state }) {
  return html`<span class=${`badge state-${state}`}>${t(`state.${state}`)}</span>`;
}

export function Empty() {
  return html`<p class="empty">${t('none')}</p>`;
}
