// Sign in with a staff login and password; the answer sets the session cookie.
import { html, useState, ErrorBox } from '../ui.js';
import { api } from '../api.js';
import { lang, setLang, texts } from '../i18n.js';

const tr = texts({
  zh: {
    title: '登录商家后台',
    login: '账号',
    password: '密码',
    submit: '登录',
    failed: '账号或密码不正确',
    throttled: '尝试次数过多，请稍后再试',
    switch: 'English',
  },
  en: {
    title: 'Sign in to the console',
    login: 'Login',
    password: 'Password',
    submit: 'Sign in',
    failed: 'Wrong login or password',
    throttled: 'Too many attempts; try again later',
    switch: '中文',
  },
});

export function SignIn() {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    setBusy(true);
    setError(null);
    try {
      await api.post('/v1/sessions', { login: form.get('login'), password: form.get('password') });
      window.location.reload();
    } catch (failure) {
      if (failure.code === 'sign_in_failed') failure.message = tr('failed');
      if (failure.code === 'sign_in_throttled') failure.message = tr('throttled');
      setError(failure);
      setBusy(false);
    }
  };
  const other = () => {
    setLang(lang() === 'zh' ? 'en' : 'zh');
    window.location.reload();
  };
  return html`<form class="sign-in" onSubmit=${submit}>
    <h1>${tr('title')}</h1>
    <label>${tr('login')}<input name="login" autocomplete="username" required /></label>
    <label>${tr('password')}<input name="password" type="password" autocomplete="current-password" required /></label>
    <button type="submit" disabled=${busy}>${tr('submit')}</button>
    ${error && html`<${ErrorBox} error=${error} />`}
    <button type="button" class="link" data-action="language" onClick=${other}>${tr('switch')}</button>
  </form>`;
}
