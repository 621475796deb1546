// The console shell: sign in, pick a tenant (platform keys), the navigation and a page per hash route
// (#/compliance, #/conversations/<thread_id> …). Pages render into the main element and call only the API.

import { api, PLATFORM, session, signIn } from "./api.js";
import { clear, field, h } from "./dom.js";
import { LANGUAGES, lang, setLang, t } from "./i18n.js";
import batches from "./pages/batches.js";
import catalog from "./pages/catalog.js";
import compliance from "./pages/compliance.js";
import conversations from "./pages/conversations.js";
import prompts from "./pages/prompts.js";
import usage from "./pages/usage.js";
import { errorBox } from "./ui.js";

const PAGES = [prompts, catalog, compliance, conversations, batches, usage];
const root = document.getElementById("app");

function route() {
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const page = PAGES.find((candidate) => candidate.path === name) || PAGES.find((candidate) => candidate.path === "compliance");
  return { page, params: rest.map(decodeURIComponent) };
}

function languageSwitch() {
  const select = h("select", { "aria-label": "Language / 语言", onchange: (event) => { setLang(event.target.value); render(); } },
    Object.entries(LANGUAGES).map(([code, name]) => h("option", { value: code, selected: code === lang() }, name)));
  return select;
}

function signInView() {
  const key = h("input", { type: "password", name: "app_key", autocomplete: "off", required: true });
  const status = h("div", { class: "status", role: "status" });
  const form = h("form", { class: "card signin", onsubmit: async (event) => {
    event.preventDefault();
    clear(status);
    try {
      await signIn(key.value);
      render();
    } catch (error) {
      status.append(errorBox(error));
    }
  } },
    h("h1", {}, t("app.title")),
    h("h2", {}, t("signin.title")),
    field(t("signin.key"), key, t("signin.hint")),
    h("button", { type: "submit" }, t("signin.submit")),
    status);
  return h("main", { class: "center" }, h("div", { class: "corner" }, languageSwitch()), form);
}

async function tenantPicker() {
  const select = h("select", { name: "tenant", required: true });
  const status = h("div", { class: "status", role: "status" });
  const form = h("form", { class: "card signin", onsubmit: (event) => {
    event.preventDefault();
    session.pickTenant(select.value);
    render();
  } },
    h("h1", {}, t("app.title")),
    h("h2", {}, t("signin.tenant")),
    field(t("tenant"), select, t("signin.tenant.hint")),
    h("button", { type: "submit" }, t("signin.tenant.submit")),
    h("button", { type: "button", class: "secondary", onclick: () => { session.clear(); render(); } }, t("signout")),
    status);
  try {
    const listed = await api("GET", "/v1/tenants", { query: { page_size: 100 } });
    for (const tenant of listed.items) select.append(h("option", { value: tenant.tenant_id }, `${tenant.tenant_name} (${tenant.tenant_id})`));
  } catch (error) {
    status.append(errorBox(error));
  }
  return h("main", { class: "center" }, form);
}

function shell(current) {
  const nav = h("nav", { class: "nav", "aria-label": t("app.title") },
    PAGES.map((page) => h("a", { href: `#/${page.path}`, class: page === current ? "active" : "", "aria-current": page === current ? "page" : null },
      t(page.title))));
  const header = h("header", { class: "top" },
    h("strong", { class: "brand" }, t("app.title")),
    h("span", { class: "tenant", "data-testid": "tenant" }, `${t("tenant")}: ${session.tenant}`),
    session.isPlatform ? h("button", { type: "button", class: "secondary", onclick: () => { session.forgetTenant(); render(); } },
      t("switch.tenant")) : null,
    languageSwitch(),
    h("button", { type: "button", class: "secondary", onclick: () => { session.clear(); render(); } }, t("signout")));
  return { header, nav };
}

async function render() {
  document.documentElement.lang = lang();
  document.title = t("app.title");
  if (!session.token) {
    clear(root).append(signInView());
    root.querySelector("input")?.focus();
    return;
  }
  if (session.keyTenant === PLATFORM && !session.tenant) {
    clear(root).append(await tenantPicker());
    return;
  }
  const { page, params } = route();
  const { header, nav } = shell(page);
  const main = h("main", { class: "page", id: "main", tabindex: "-1" });
  clear(root).append(header, h("div", { class: "layout" }, nav, main));
  if (page.scope && !session.can(page.scope)) {
    main.append(h("div", { class: "error", role: "alert" }, t("forbidden", { scope: page.scope })));
    return;
  }
  main.append(h("p", { class: "muted" }, t("loading")));
  try {
    const content = h("div", {});
    await page.render(content, params);
    clear(main).append(h("h1", {}, t(page.title)), content);
  } catch (error) {
    clear(main).append(h("h1", {}, t(page.title)), errorBox(error));
  }
}

window.addEventListener("hashchange", render);
window.addEventListener("mas:signed-out", render);
render();
