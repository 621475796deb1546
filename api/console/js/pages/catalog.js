// The product catalog: import a JSON array or NDJSON (a file picked or text pasted) through POST /v1/products/import,
// with the count imported and each item refused (its index, id and name, the API's message); then try a search
// (GET /v1/products/search) and see the hits with their scores.

import { api } from "../api.js";
import { clear, field, h } from "../dom.js";
import { register, t } from "../i18n.js";
import { errorBox } from "../ui.js";

register({
  "zh-CN": {
    "catalog.import": "导入商品",
    "catalog.import.intro": "上传或粘贴商品数据：JSON 数组，或 NDJSON（每行一个商品）。已存在的 product_id 会被更新。每次最多 1000 个。",
    "catalog.file": "选择文件",
    "catalog.file.hint": "支持 .json、.ndjson、.jsonl；选中后内容会填入下方文本框。",
    "catalog.file.loaded": "已读取文件 {name}（{lines} 行）。",
    "catalog.text": "商品数据",
    "catalog.text.hint": "必填字段：product_id、name、category、description；可选：price、tags、indications、contraindications、aliases。",
    "catalog.format": "格式",
    "catalog.format.auto": "自动识别",
    "catalog.format.json": "JSON 数组",
    "catalog.format.ndjson": "NDJSON（每行一个）",
    "catalog.example": "查看示例",
    "catalog.submit": "导入",
    "catalog.importing": "正在导入…",
    "catalog.empty": "请先选择文件或粘贴商品数据。",
    "catalog.result": "导入完成：新增 {imported} 个，更新 {updated} 个，失败 {failed} 个。",
    "catalog.failures": "未导入的条目（{n}）",
    "catalog.col.index": "序号（从 0 开始）",
    "catalog.col.item": "商品 ID / 名称",
    "catalog.col.error": "错误",
    "catalog.item.unknown": "（无法识别）",
    "catalog.search": "试搜索",
    "catalog.search.intro": "用顾客可能的问法搜索商品库（向量 + 关键词混合检索）。",
    "catalog.q": "搜索内容",
    "catalog.k": "返回条数",
    "catalog.search.submit": "搜索",
    "catalog.searching": "正在搜索…",
    "catalog.results": "“{q}” 的搜索结果（{n}）",
    "catalog.noresults": "没有找到与“{q}”匹配的商品。",
    "catalog.score": "得分 {score}",
    "catalog.price": "价格 {price}",
    "catalog.matched": "匹配方式：{by}",
    "catalog.by.vector": "语义",
    "catalog.by.keyword": "关键词",
  },
  en: {
    "catalog.import": "Import products",
    "catalog.import.intro": "Upload or paste products: a JSON array, or NDJSON (one product per line). A product_id already there is updated. At most 1000 at a time.",
    "catalog.file": "Choose a file",
    "catalog.file.hint": ".json, .ndjson or .jsonl; its content fills the box below.",
    "catalog.file.loaded": "Read {name} ({lines} lines).",
    "catalog.text": "Product data",
    "catalog.text.hint": "Required: product_id, name, category, description; optional: price, tags, indications, contraindications, aliases.",
    "catalog.format": "Format",
    "catalog.format.auto": "Detect",
    "catalog.format.json": "JSON array",
    "catalog.format.ndjson": "NDJSON (one per line)",
    "catalog.example": "Show an example",
    "catalog.submit": "Import",
    "catalog.importing": "Importing…",
    "catalog.empty": "Choose a file or paste products first.",
    "catalog.result": "Import done: {imported} new, {updated} updated, {failed} failed.",
    "catalog.failures": "Items not imported ({n})",
    "catalog.col.index": "Index (from 0)",
    "catalog.col.item": "Product id / name",
    "catalog.col.error": "Error",
    "catalog.item.unknown": "(unreadable)",
    "catalog.search": "Try a search",
    "catalog.search.intro": "Search the catalog the way a customer might ask (vectors and keywords combined).",
    "catalog.q": "Search for",
    "catalog.k": "Results",
    "catalog.search.submit": "Search",
    "catalog.searching": "Searching…",
    "catalog.results": "Results for “{q}” ({n})",
    "catalog.noresults": "No product matches “{q}”.",
    "catalog.score": "score {score}",
    "catalog.price": "price {price}",
    "catalog.matched": "matched by: {by}",
    "catalog.by.vector": "meaning",
    "catalog.by.keyword": "keywords",
  },
});

const NDJSON = "application/x-ndjson";
const EXAMPLE = [
  { product_id: "hy-001", name: "玻尿酸填充（中分子）", category: "注射美容", description: "改善苹果肌、泪沟凹陷", price: 3800,
    tags: ["玻尿酸"], indications: ["泪沟"], contraindications: ["孕期"], aliases: ["水光填充"] },
].map((item) => JSON.stringify(item)).join("\n");

export function detectFormat(text, fileName = "") {
  if (/\.(ndjson|jsonl)$/i.test(fileName)) return "ndjson";
  return text.trimStart().startsWith("[") ? "json" : "ndjson";
}

// The items as the API counts them (its `index`), parsed here only to name each refused one; null where unreadable.
export function itemsOf(text, format) {
  if (format === "json") {
    try {
      const parsed = JSON.parse(text);
      return Array.isArray(parsed) ? parsed : [];
    } catch {
      return [];
    }
  }
  return text.split(/\r\n|\r|\n/).filter((line) => line.trim()).map((line) => {
    try { return JSON.parse(line); } catch { return { raw: line }; }
  });
}

function describe(item) {
  if (!item || typeof item !== "object" || Array.isArray(item)) return t("catalog.item.unknown");
  if ("raw" in item && Object.keys(item).length === 1) return String(item.raw).slice(0, 80);
  const parts = [item.product_id, item.name].filter((part) => typeof part === "string" || typeof part === "number").map(String)
    .filter((part) => part.trim());
  return parts.length ? parts.join(" / ") : t("catalog.item.unknown");
}

function importResult(result, items) {
  const parts = [h("p", { class: `notice ${result.failed.length ? "warn" : "ok"}`, "data-testid": "import-summary" },
    t("catalog.result", { imported: result.imported, updated: result.updated, failed: result.failed.length }))];
  if (result.failed.length) {
    parts.push(h("h3", {}, t("catalog.failures", { n: result.failed.length })),
      h("table", { class: "failures", "data-testid": "import-failures" },
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, t("catalog.col.index")),
          h("th", { scope: "col" }, t("catalog.col.item")),
          h("th", { scope: "col" }, t("catalog.col.error")))),
        h("tbody", {}, result.failed.map((failure) => h("tr", { "data-index": failure.index },
          h("td", {}, String(failure.index)),
          h("td", { class: "item" }, describe(items[failure.index])),
          h("td", { class: "message" }, failure.error))))));
  }
  return parts;
}

function importCard() {
  const file = h("input", { type: "file", name: "file", accept: ".json,.ndjson,.jsonl,application/json,application/x-ndjson" });
  const text = h("textarea", { name: "products", rows: 8, spellcheck: "false", autocomplete: "off" });
  const format = h("select", { name: "format" },
    ["auto", "json", "ndjson"].map((value) => h("option", { value }, t(`catalog.format.${value}`))));
  const fileNote = h("div", { class: "file-note", role: "status" });
  const output = h("section", { class: "import-result", "aria-live": "polite" });
  const submit = h("button", { type: "submit" }, t("catalog.submit"));
  let fileName = "";

  file.addEventListener("change", async () => {
    clear(fileNote);
    const picked = file.files && file.files[0];
    if (!picked) return;
    try {
      text.value = await picked.text();
      fileName = picked.name;
      if (/\.(ndjson|jsonl)$/i.test(picked.name)) format.value = "ndjson";
      else format.value = "auto";
      const lines = text.value.split(/\r\n|\r|\n/).filter((line) => line.trim()).length;
      fileNote.append(h("p", { class: "muted" }, t("catalog.file.loaded", { name: picked.name, lines })));
    } catch (error) {
      fileNote.append(errorBox(error));
    }
  });
  text.addEventListener("input", () => { fileName = ""; });

  const form = h("form", { class: "card catalog-import", "aria-labelledby": "import-title", onsubmit: async (event) => {
    event.preventDefault();
    clear(output);
    const body = text.value;
    if (!body.trim()) {
      output.append(h("div", { class: "error", role: "alert" }, t("catalog.empty")));
      text.focus();
      return;
    }
    const kind = format.value === "auto" ? detectFormat(body, fileName) : format.value;
    submit.disabled = true;
    output.append(h("p", { class: "muted" }, t("catalog.importing")));
    try {
      const result = await api("POST", "/v1/products/import", { body, contentType: kind === "ndjson" ? NDJSON : "application/json" });
      clear(output).append(...importResult(result, itemsOf(body, kind)));
    } catch (error) {
      clear(output).append(errorBox(error));
    } finally {
      submit.disabled = false;
    }
  } },
    h("h2", { id: "import-title" }, t("catalog.import")),
    h("p", { class: "muted" }, t("catalog.import.intro")),
    field(t("catalog.file"), file, t("catalog.file.hint")),
    fileNote,
    field(t("catalog.text"), text, t("catalog.text.hint")),
    h("details", { class: "example" }, h("summary", {}, t("catalog.example")), h("pre", {}, EXAMPLE)),
    h("div", { class: "row" }, field(t("catalog.format"), format), h("div", { class: "submit" }, submit)),
    output);
  return form;
}

function hits(result) {
  if (!result.results.length) return [h("p", { class: "muted", "data-testid": "search-empty" }, t("catalog.noresults", { q: result.query }))];
  const top = Math.max(...result.results.map((hit) => hit.score), 0) || 1;
  return [
    h("h3", {}, t("catalog.results", { q: result.query, n: result.results.length })),
    h("ol", { class: "search-results", "data-testid": "search-results" }, result.results.map((hit) =>
      h("li", { "data-product-id": hit.product_id },
        h("div", { class: "hit-title" }, h("strong", {}, hit.name), " ", h("code", {}, hit.product_id)),
        h("div", { class: "muted" }, [hit.category, hit.price === null || hit.price === undefined ? null : t("catalog.price", { price: hit.price })]
          .filter(Boolean).join(" · ")),
        h("div", { class: "hit-score" },
          h("span", { class: "score", "data-testid": "score" }, t("catalog.score", { score: Number(hit.score).toFixed(4) })),
          h("meter", { min: 0, max: top, value: Math.max(0, hit.score), "aria-hidden": "true" }),
          h("span", { class: "muted" }, t("catalog.matched", {
            by: hit.matched_by.map((by) => { const name = t(`catalog.by.${by}`); return name === `catalog.by.${by}` ? by : name; }).join("、"),
          })))))),
  ];
}

function searchCard() {
  const q = h("input", { type: "search", name: "q", required: true, maxlength: 500, autocomplete: "off" });
  const k = h("input", { type: "number", name: "k", min: 1, max: 50, step: 1, value: "5", required: true, inputmode: "numeric" });
  const output = h("section", { class: "search-output", "aria-live": "polite" });
  const submit = h("button", { type: "submit" }, t("catalog.search.submit"));
  return h("form", { class: "card catalog-search", "aria-labelledby": "search-title", onsubmit: async (event) => {
    event.preventDefault();
    clear(output).append(h("p", { class: "muted" }, t("catalog.searching")));
    submit.disabled = true;
    try {
      const result = await api("GET", "/v1/products/search", { query: { q: q.value, k: k.value } });
      clear(output).append(...hits(result));
    } catch (error) {
      clear(output).append(errorBox(error));
    } finally {
      submit.disabled = false;
    }
  } },
    h("h2", { id: "search-title" }, t("catalog.search")),
    h("p", { class: "muted" }, t("catalog.search.intro")),
    h("div", { class: "row" }, field(t("catalog.q"), q), h("div", { class: "k" }, field(t("catalog.k"), k)),
      h("div", { class: "submit" }, submit)),
    output);
}

export default {
  path: "catalog",
  title: "nav.catalog",
  scope: "tenant:admin",
  async render(root) {
    root.classList.add("catalog-page");
    root.append(importCard(), searchCard());
  },
};
