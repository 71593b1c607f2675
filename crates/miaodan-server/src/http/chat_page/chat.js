// The buyer's chat with the assistant (智能客服), over the same API as programs
// (/v1/assistant/conversations) with the buyer's bearer token.
//
// The token comes from the page's fragment (/assistant#token=…: a fragment is never sent to a
// server, nor in a Referer) or from the form, and is kept in sessionStorage only: it is gone
// when the tab closes. The page's own words follow the UI language (navigator.language, or the
// toggle); the assistant answers in the language the buyer writes, whatever the UI shows.

const TOKEN_KEY = "miaodan.assistant.token";
const LANG_KEY = "miaodan.assistant.lang";
const TEXT_CHARS_MAX = 500;

const WORDS = {
  zh: {
    title: "智能客服",
    docTitle: "秒单 · 智能客服",
    newChat: "新对话",
    tokenLabel: "买家令牌",
    tokenSubmit: "开始",
    tokenHelp: "用演示买家的令牌（miaodan serve --demo 打印的 BUYER），或打开它打印的链接。",
    placeholder: "请输入您的问题，例如：我的订单到哪了？（Enter 发送，Shift+Enter 换行）",
    send: "发送",
    typing: "客服正在输入…",
    handover: "已转人工客服，店铺的客服人员会尽快回复您。",
    understood: "理解",
    order: "订单",
    action: "操作",
    done: "已完成",
    refused: "未执行",
    request: "售后单",
    loading: "正在连接…",
    aside: (text) => `（${text}）`,
    colon: "：",
    errors: {
      unauthorized: "令牌无效或已过期，请重新输入买家令牌。",
      forbidden: "这个令牌不是买家的令牌，请使用买家令牌。",
      not_found: "没有找到请求的内容。",
      conversation_gone: "找不到这个对话，已为您开始新的对话。",
      invalid_field: "消息需为 1 到 500 个字。",
      overloaded: "服务繁忙，请稍后再试。",
      server_busy: "服务繁忙，请稍后再试。",
      unavailable: "服务暂时不可用，请稍后再试。",
      request_timeout: "请求超时，请重试。",
      network: "无法连接服务器，请检查网络后重试。",
      other: "出错了",
    },
    intents: {
      track: "查物流", arrival: "到货时间", change_address: "改地址", cancel: "取消订单",
      refund_only: "仅退款", return_refund: "退货退款", exchange: "换货", payment: "付款",
      refund_status: "退款进度", flash_sale: "秒杀", coupons: "优惠券与积分", greeting: "问候",
      thanks: "感谢", goodbye: "再见", human: "转人工", affirm: "确认", deny: "否定", unknown: "未识别",
    },
    actions: { cancel_order: "取消订单", open_request: "提交售后", hand_over: "转人工" },
    kinds: {
      cancel: "发货前取消", refund_only: "仅退款", return_and_refund: "退货退款",
      exchange: "换货", change_address: "改地址",
    },
  },
  en: {
    title: "Customer service",
    docTitle: "miaodan · Customer service",
    newChat: "New chat",
    tokenLabel: "Buyer token",
    tokenSubmit: "Start",
    tokenHelp: "Use the demo buyer's token (BUYER, printed by miaodan serve --demo), or open the link it prints.",
    placeholder: "Ask anything, e.g. where is my order? (Enter sends, Shift+Enter for a new line)",
    send: "Send",
    typing: "The assistant is typing…",
    handover: "A person from the shop will answer you here.",
    understood: "Understood",
    order: "order",
    action: "Action",
    done: "done",
    refused: "not done",
    request: "request",
    loading: "Connecting…",
    aside: (text) => ` (${text})`,
    colon: ": ",
    errors: {
      unauthorized: "This token is not valid (or has expired): enter the buyer's token again.",
      forbidden: "This token is not a buyer's: use a buyer token.",
      not_found: "Not found.",
      conversation_gone: "That conversation is gone: a new one was started.",
      invalid_field: "A message is 1 to 500 characters.",
      overloaded: "The service is busy: try again in a moment.",
      server_busy: "The service is busy: try again in a moment.",
      unavailable: "The service is unavailable for now: try again in a moment.",
      request_timeout: "The request timed out: try again.",
      network: "The server cannot be reached: check the connection and try again.",
      other: "Something went wrong",
    },
    intents: {
      track: "where is my order", arrival: "when it arrives", change_address: "change the address",
      cancel: "cancel the order", refund_only: "refund only", return_refund: "return and refund",
      exchange: "exchange", payment: "payment", refund_status: "refund status", flash_sale: "flash sale",
      coupons: "coupons and points", greeting: "greeting", thanks: "thanks", goodbye: "goodbye",
      human: "ask for a person", affirm: "yes", deny: "no", unknown: "not understood",
    },
    actions: { cancel_order: "cancel the order", open_request: "after-sales request", hand_over: "hand over to a person" },
    kinds: {
      cancel: "cancel before shipment", refund_only: "refund only", return_and_refund: "return and refund",
      exchange: "exchange", change_address: "change the address",
    },
  },
};

const $ = (id) => document.getElementById(id);

const page = {
  lang: initialLanguage(),
  token: null,
  conversation: null,
  messages: [],
  handedOver: false,
  sending: false,
  error: null,
};

function initialLanguage() {
  const chosen = sessionStorage.getItem(LANG_KEY);
  if (chosen === "zh" || chosen === "en") return chosen;
  return (navigator.language || "").toLowerCase().startsWith("zh") ? "zh" : "en";
}

function words() {
  return WORDS[page.lang];
}

// ---- The API ----

class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || code);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${page.token}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "network", "");
  }
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    const code = (json && json.code) || `http_${response.status}`;
    throw new ApiError(response.status, code, json && json.detail);
  }
  return json;
}

async function openConversation() {
  const list = await api("GET", "/v1/assistant/conversations");
  const open = ((list && list.items) || []).find((c) => c.state === "open");
  if (open) return api("GET", `/v1/assistant/conversations/${open.id}`);
  return api("POST", "/v1/assistant/conversations", {});
}

async function newConversation() {
  return api("POST", "/v1/assistant/conversations", {});
}

// ---- What the page shows ----

function setText(id, text) {
  $(id).textContent = text;
}

function renderChrome() {
  const w = words();
  document.documentElement.lang = page.lang === "zh" ? "zh-CN" : "en";
  document.title = w.docTitle;
  setText("title", w.title);
  setText("new-chat", w.newChat);
  setText("token-label", w.tokenLabel);
  setText("token-submit", w.tokenSubmit);
  setText("token-help", w.tokenHelp);
  setText("send", w.send);
  setText("typing", w.typing);
  setText("handover", w.handover);
  $("text").placeholder = w.placeholder;
  for (const button of document.querySelectorAll("[data-lang]")) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === page.lang));
  }
  $("handover").hidden = !page.handedOver;
  $("typing").hidden = !page.sending;
  $("send").disabled = page.sending;
  renderError();
}

function renderError() {
  const banner = $("error");
  if (!page.error) {
    banner.hidden = true;
    banner.textContent = "";
    return;
  }
  const w = words();
  const { code, detail } = page.error;
  const known = w.errors[code];
  banner.textContent = known || `${w.errors.other} (${code})${detail ? `: ${detail}` : ""}`;
  banner.dataset.code = code;
  banner.hidden = false;
}

function showError(error) {
  page.error = error instanceof ApiError ? { code: error.code, detail: error.detail } : { code: "other", detail: String(error) };
  renderError();
}

function clearError() {
  page.error = null;
  renderError();
}

// The line under an assistant bubble: what was understood and what was done, so that a buyer
// sees why the assistant asked, acted or refused.
function metaLine(message, understood) {
  const w = words();
  const parts = [];
  if (understood) {
    let said = `${w.understood}${w.colon}${w.intents[understood.intent] || understood.intent}`;
    if (understood.order_id != null) said += ` · ${w.order} #${understood.order_id}`;
    parts.push(document.createTextNode(said));
  }
  const action = message.action;
  if (action) {
    let what = w.actions[action.kind] || action.kind;
    if (action.request_kind) what += w.aside(w.kinds[action.request_kind] || action.request_kind);
    const sameOrder = understood && understood.order_id === action.order_id;
    if (action.order_id != null && !sameOrder) what += ` · ${w.order} #${action.order_id}`;
    if (action.refused) {
      const refused = document.createElement("span");
      refused.className = "refused";
      refused.textContent = `${w.action}${w.colon}${what} — ${w.refused} (${action.refused})`;
      parts.push(refused);
    } else {
      const request = action.after_sales_id != null ? ` · ${w.request} #${action.after_sales_id}` : "";
      parts.push(document.createTextNode(`${w.action}${w.colon}${what} — ${w.done}${request}`));
    }
  }
  if (parts.length === 0) return null;
  const line = document.createElement("div");
  line.className = "meta";
  parts.forEach((part, i) => {
    if (i > 0) line.append(document.createTextNode(" · "));
    line.append(part);
  });
  return line;
}

// `asked`: the buyer's message this one answers, whose understanding it shows when the answer
// does not carry its own.
function turn(message, pending, asked) {
  const box = document.createElement("div");
  box.className = `turn ${message.author === "buyer" ? "buyer" : "assistant"}${pending ? " pending" : ""}`;
  if (message.seq != null) box.dataset.seq = message.seq;
  const bubble = document.createElement("div");
  bubble.className = "bubble";
  bubble.textContent = message.text;
  if (message.at) bubble.title = new Date(message.at).toLocaleString(page.lang === "zh" ? "zh-CN" : "en");
  box.append(bubble);
  if (message.author !== "buyer") {
    const understood = message.understood || (asked && asked.author === "buyer" && asked.understood) || null;
    if (understood) box.dataset.lang = understood.lang;
    const meta = metaLine(message, understood);
    if (meta) box.append(meta);
  }
  return box;
}

function renderMessages(pendingText) {
  const list = $("messages");
  list.replaceChildren(...page.messages.map((m, i) => turn(m, false, i > 0 ? page.messages[i - 1] : null)));
  if (pendingText) list.append(turn({ author: "buyer", text: pendingText }, true));
  list.scrollTop = list.scrollHeight;
}

function showConversation(conversation) {
  page.conversation = conversation.id;
  page.messages = conversation.messages || [];
  page.handedOver = conversation.state === "handed_over" || page.messages.some((m) => m.handed_over);
  $("token-form").hidden = true;
  $("composer").hidden = false;
  $("new-chat").hidden = false;
  document.body.dataset.state = "ready";
  renderChrome();
  renderMessages();
  $("text").focus();
}

function askForToken() {
  page.token = null;
  page.conversation = null;
  page.messages = [];
  page.handedOver = false;
  sessionStorage.removeItem(TOKEN_KEY);
  $("token-form").hidden = false;
  $("composer").hidden = true;
  $("new-chat").hidden = true;
  $("messages").replaceChildren();
  renderChrome();
  document.body.dataset.state = "needs-token";
  $("token-input").focus();
}

// ---- What the buyer does ----

async function start(opening) {
  clearError();
  document.body.dataset.state = "loading";
  const loading = document.createElement("p");
  loading.className = "help";
  loading.textContent = words().loading;
  $("messages").replaceChildren(loading);
  try {
    showConversation(await opening());
  } catch (error) {
    showError(error);
    if (error.status === 401 || error.status === 403) askForToken();
    else document.body.dataset.state = "error";
  }
}

async function send(text) {
  page.sending = true;
  document.body.dataset.state = "typing";
  clearError();
  renderChrome();
  renderMessages(text);
  try {
    const exchange = await api("POST", `/v1/assistant/conversations/${page.conversation}/messages`, { text });
    page.messages.push(exchange.buyer, exchange.reply);
    page.handedOver = exchange.state === "handed_over" || exchange.reply.handed_over;
    $("text").value = "";
    updateCount();
  } catch (error) {
    showError(error);
    if (error.status === 401 || error.status === 403) {
      page.sending = false;
      askForToken();
      renderChrome();
      return;
    }
    if (error.status === 404) {
      page.sending = false;
      await start(newConversation);
      if (!page.error) showError(new ApiError(404, "conversation_gone", ""));
      return;
    }
  } finally {
    page.sending = false;
  }
  document.body.dataset.state = "ready";
  renderChrome();
  renderMessages();
  $("text").focus();
}

function submitText() {
  const text = $("text").value.trim();
  if (!text || page.sending || !page.conversation) return;
  if ([...text].length > TEXT_CHARS_MAX) {
    showError(new ApiError(422, "invalid_field", ""));
    return;
  }
  send(text);
}

function updateCount() {
  setText("count", `${[...$("text").value].length}/${TEXT_CHARS_MAX}`);
}

function tokenFromFragment() {
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
  const token = fragment.get("token");
  if (!token) return null;
  // Off the address bar and the history entry, so it is not shared with a copied link.
  history.replaceState(null, "", location.pathname + location.search);
  return token.trim();
}

function wire() {
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    submitText();
  });
  $("text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submitText();
    }
  });
  $("text").addEventListener("input", updateCount);
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token-input").value.trim();
    if (!token) return;
    page.token = token;
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token-input").value = "";
    start(openConversation);
  });
  // A link with another token opened in this tab changes only the fragment: no new page load.
  window.addEventListener("hashchange", () => {
    const token = tokenFromFragment();
    if (!token || page.sending) return;
    page.token = token;
    sessionStorage.setItem(TOKEN_KEY, token);
    start(openConversation);
  });
  $("new-chat").addEventListener("click", () => {
    if (!page.sending) start(newConversation);
  });
  for (const button of document.querySelectorAll("[data-lang]")) {
    button.addEventListener("click", () => {
      page.lang = button.dataset.lang;
      sessionStorage.setItem(LANG_KEY, page.lang);
      renderChrome();
      renderMessages();
    });
  }
}

function main() {
  wire();
  renderChrome();
  const fromFragment = tokenFromFragment();
  if (fromFragment) sessionStorage.setItem(TOKEN_KEY, fromFragment);
  page.token = fromFragment || sessionStorage.getItem(TOKEN_KEY);
  if (page.token) start(openConversation);
  else askForToken();
}

try {
  main();
} catch (error) {
  showError(error);
  document.body.dataset.state = "error";
}
