// Chinese and English. The choice is remembered in the browser; without one, a Chinese browser
// locale gets Chinese and every other locale English. Each page keeps its own words beside its
// code (`texts({ zh: {...}, en: {...} })`); the words every page shares are here.

const STORED = 'miaodan.console.lang';

export function lang() {
  const chosen = localStorage.getItem(STORED);
  if (chosen === 'zh' || chosen === 'en') return chosen;
  return (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

export function setLang(value) {
  localStorage.setItem(STORED, value);
}

function fill(text, vars) {
  return text.replace(/\{(\w+)\}/g, (_, name) => (vars && name in vars ? String(vars[name]) : `{${name}}`));
}

// A translator for one dictionary: a missing word shows its key (and a test notices).
export function texts(dictionary) {
  return (key, vars) => {
    const words = dictionary[lang()] || dictionary.en;
    const text = words[key] ?? dictionary.en[key];
    if (text === undefined) {
      console.warn(`console: no words for "${key}"`);
      return key;
    }
    return fill(text, vars);
  };
}

export const t = texts({
  zh: {
    brand: '秒单商家后台',
    'nav.overview': '概览',
    'nav.orders': '订单',
    'nav.live': '直播间',
    'nav.compass': '数据罗盘',
    'nav.products': '商品与库存',
    'nav.package_center': '包裹中心',
    'nav.after_sales': '售后',
    'nav.integrity': '诚信与保证金',
    'nav.staff': '员工与日志',
    'nav.platform': '平台管理',
    'nav.risk': '风控审核',
    'role.owner': '店主',
    'role.operator': '运营',
    'role.customer_service': '客服',
    'role.finance': '财务',
    'role.platform_admin': '平台管理员',
    sign_out: '退出',
    language: 'English',
    loading: '加载中…',
    more: '加载更多',
    none: '暂无数据',
    retry: '重试',
    cancel: '取消',
    confirm: '确认',
    save: '保存',
    back: '返回',
    'error.title': '出错了',
    'error.forbidden_for_role': '你的角色无权执行此操作',
    'error.not_found': '找不到该页面或对象',
    shop: '店铺 {id}',
    'state.pending_payment': '待付款',
    'state.paid': '已付款',
    'state.cancelled': '已取消',
    'state.expired': '已过期',
    'state.shipped': '已发货',
    'state.delivered': '已签收',
  },
  en: {
    brand: 'miaodan console',
    'nav.overview': 'Overview',
    'nav.orders': 'Orders',
    'nav.live': 'Live room',
    'nav.compass': 'Compass',
    'nav.products': 'Products & stock',
    'nav.package_center': 'Package center',
    'nav.after_sales': 'After-sales',
    'nav.integrity': 'Integrity & deposit',
    'nav.staff': 'Staff & audit',
    'nav.platform': 'Platform',
    'nav.risk': 'Risk review',
    'role.owner': 'Owner',
    'role.operator': 'Operator',
    'role.customer_service': 'Customer service',
    'role.finance': 'Finance',
    'role.platform_admin': 'Platform admin',
    sign_out: 'Sign out',
    language: '中文',
    loading: 'Loading…',
    more: 'Load more',
    none: 'Nothing here yet',
    retry: 'Retry',
    cancel: 'Cancel',
    confirm: 'Confirm',
    save: 'Save',
    back: 'Back',
    'error.title': 'Something went wrong',
    'error.forbidden_for_role': 'Your role may not do this',
    'error.not_found': 'No such page or object',
    shop: 'Shop {id}',
    'state.pending_payment': 'Awaiting payment',
    'state.paid': 'Paid',
    'state.cancelled': 'Cancelled',
    'state.expired': 'Expired',
    'state.shipped': 'Shipped',
    'state.delivered': 'Delivered',
  },
});
