// zh-CN first, English switchable; the choice is kept for this browser. Each page registers its own messages.

const LANG = "mas.console.lang";
export const LANGUAGES = { "zh-CN": "中文", en: "English" };
const catalogs = { "zh-CN": {}, en: {} };

export function register(messages) {
  for (const [lang, entries] of Object.entries(messages)) Object.assign(catalogs[lang], entries);
}

export function lang() {
  const chosen = localStorage.getItem(LANG);
  return chosen in LANGUAGES ? chosen : "zh-CN";
}

export function setLang(chosen) {
  localStorage.setItem(LANG, chosen);
  document.documentElement.lang = chosen;
}

// t("key", {n: 3}) fills {n}; an unknown key falls back to Chinese, then to the key itself.
export function t(key, values = {}) {
  const text = catalogs[lang()][key] ?? catalogs["zh-CN"][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in values ? String(values[name]) : `{${name}}`));
}

register({
  "zh-CN": {
    "app.title": "MAS 运营控制台",
    "signin.title": "登录",
    "signin.key": "App Key",
    "signin.hint": "令牌只保存在当前标签页，关闭即失效。",
    "signin.submit": "登录",
    "signin.tenant": "选择租户",
    "signin.tenant.hint": "平台密钥需要选择要管理的租户。",
    "signin.tenant.submit": "进入",
    "signout": "退出",
    "tenant": "租户",
    "switch.tenant": "切换租户",
    "nav.prompts": "助手与提示词",
    "nav.catalog": "商品库",
    "nav.compliance": "合规检查",
    "nav.conversations": "会话",
    "nav.batches": "批量任务",
    "nav.usage": "用量",
    "loading": "加载中…",
    "error": "出错了：{message}",
    "forbidden": "当前密钥没有此页面所需的权限（{scope}）。",
    "empty": "暂无数据",
    "save": "保存",
    "cancel": "取消",
    "close": "关闭",
    "refresh": "刷新",
    "previous": "上一页",
    "next": "下一页",
    "page": "第 {page} 页，共 {total} 条",
  },
  en: {
    "app.title": "MAS operator console",
    "signin.title": "Sign in",
    "signin.key": "App key",
    "signin.hint": "The token is kept for this tab only and is gone when it closes.",
    "signin.submit": "Sign in",
    "signin.tenant": "Choose a tenant",
    "signin.tenant.hint": "A platform key works on one tenant at a time.",
    "signin.tenant.submit": "Open",
    "signout": "Sign out",
    "tenant": "Tenant",
    "switch.tenant": "Switch tenant",
    "nav.prompts": "Assistants & prompts",
    "nav.catalog": "Catalog",
    "nav.compliance": "Compliance check",
    "nav.conversations": "Conversations",
    "nav.batches": "Batches",
    "nav.usage": "Usage",
    "loading": "Loading…",
    "error": "Something went wrong: {message}",
    "forbidden": "This key lacks the scope this page needs ({scope}).",
    "empty": "Nothing yet",
    "save": "Save",
    "cancel": "Cancel",
    "close": "Close",
    "refresh": "Refresh",
    "previous": "Previous",
    "next": "Next",
    "page": "Page {page}, {total} in all",
  },
});
