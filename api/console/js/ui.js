// Pieces every page uses: the error box and a pager.

import { ApiError } from "./api.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";

export function errorBox(error) {
  const message = error instanceof ApiError ? `${error.code}: ${error.message}` : String((error && error.message) || error);
  return h("div", { class: "error", role: "alert" }, t("error", { message }));
}

// Previous/next for a `Page` body ({items, total, page, page_size}); `go(page)` loads another page.
export function pager(body, go) {
  const last = Math.max(1, Math.ceil(body.total / body.page_size));
  return h("div", { class: "pager" },
    h("button", { type: "button", class: "secondary", disabled: body.page <= 1, onclick: () => go(body.page - 1) }, t("previous")),
    h("span", {}, t("page", { page: body.page, total: body.total })),
    h("button", { type: "button", class: "secondary", disabled: body.page >= last, onclick: () => go(body.page + 1) }, t("next")));
}
