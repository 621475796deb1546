// Batch jobs: the tenant's batches (paged) with their state, a progress bar, items/s and ETA; running and queued
// batches refresh every 2 s while the page is shown; results download as NDJSON (fetched with the token, saved from a
// Blob URL); queued and running batches can be cancelled; an evaluate batch can be submitted from pasted NDJSON rows.
// GET/POST /v1/batches, GET /v1/batches/{id}, GET /v1/batches/{id}/results, POST /v1/batches/{id}/cancel.

import { api } from "../api.js";
import { clear, field, formatTime, h } from "../dom.js";
import { lang, register, t } from "../i18n.js";
import { errorBox, pager } from "../ui.js";

register({
  "zh-CN": {
    "batches.list": "批量任务列表",
    "batches.auto": "运行中和排队中的任务每 2 秒自动刷新。",
    "batches.col.batch": "任务",
    "batches.col.state": "状态",
    "batches.col.progress": "进度",
    "batches.col.rate": "速度",
    "batches.col.eta": "预计剩余",
    "batches.col.created": "创建时间",
    "batches.col.actions": "操作",
    "batches.state.queued": "排队中",
    "batches.state.running": "运行中",
    "batches.state.completed": "已完成",
    "batches.state.failed": "失败",
    "batches.state.cancelled": "已取消",
    "batches.kind.social.comment": "社媒评论",
    "batches.kind.social.reply": "社媒回复",
    "batches.kind.social.keywords": "社媒关键词",
    "batches.kind.social.beautify": "文案润色",
    "batches.kind.campaign": "召回活动",
    "batches.kind.evaluate": "智能体评测",
    "batches.kind.reindex": "重建索引",
    "batches.progress": "{finished} / {total}",
    "batches.progress.label": "任务 {id} 的进度",
    "batches.failed.count": "失败 {n} 条",
    "batches.cancelled.count": "取消 {n} 条",
    "batches.accuracy": "准确率 {pct}，未命中 {missed} 条",
    "batches.rate": "{n} 条/秒",
    "batches.none": "—",
    "batches.eta.seconds": "{s} 秒",
    "batches.eta.minutes": "{m} 分 {s} 秒",
    "batches.eta.hours": "{h} 小时 {m} 分",
    "batches.download": "下载结果",
    "batches.download.preparing": "正在准备…",
    "batches.download.ready": "结果已就绪：",
    "batches.cancel": "取消任务",
    "batches.cancel.confirm": "确认取消？",
    "batches.cancel.done": "任务已取消。",
    "batches.submit.title": "提交评测任务",
    "batches.submit.agent": "评测对象",
    "batches.agent.compliance": "合规检查",
    "batches.agent.sentiment": "情感分析",
    "batches.agent.intent": "意向识别",
    "batches.submit.rows": "标注数据（NDJSON，每行一条）",
    "batches.submit.hint.compliance": "每行：{\"text\": \"…\", \"channel\": \"ad|social|chat\", \"categories\": [\"absolute_terms\"]}",
    "batches.submit.hint.sentiment": "每行：{\"text\": \"…\", \"label\": \"positive|neutral|negative\"}",
    "batches.submit.hint.intent": "每行：{\"text\": \"…\", \"expected\": {\"strength\": \"none|weak|strong\"}}",
    "batches.submit": "提交",
    "batches.submit.empty": "请至少粘贴一行数据。",
    "batches.submit.badline": "第 {n} 行不是 JSON 对象：{message}",
    "batches.submitted": "已提交任务 {id}，共 {total} 条。",
  },
  en: {
    "batches.list": "All batches",
    "batches.auto": "Running and queued batches refresh every 2 seconds.",
    "batches.col.batch": "Batch",
    "batches.col.state": "State",
    "batches.col.progress": "Progress",
    "batches.col.rate": "Speed",
    "batches.col.eta": "Time left",
    "batches.col.created": "Created",
    "batches.col.actions": "Actions",
    "batches.state.queued": "Queued",
    "batches.state.running": "Running",
    "batches.state.completed": "Completed",
    "batches.state.failed": "Failed",
    "batches.state.cancelled": "Cancelled",
    "batches.kind.social.comment": "Social comments",
    "batches.kind.social.reply": "Social replies",
    "batches.kind.social.keywords": "Social keywords",
    "batches.kind.social.beautify": "Copy polishing",
    "batches.kind.campaign": "Re-engagement campaign",
    "batches.kind.evaluate": "Agent evaluation",
    "batches.kind.reindex": "Reindex",
    "batches.progress": "{finished} / {total}",
    "batches.progress.label": "Progress of batch {id}",
    "batches.failed.count": "{n} failed",
    "batches.cancelled.count": "{n} cancelled",
    "batches.accuracy": "Accuracy {pct}, {missed} missed",
    "batches.rate": "{n} items/s",
    "batches.none": "—",
    "batches.eta.seconds": "{s} s",
    "batches.eta.minutes": "{m} min {s} s",
    "batches.eta.hours": "{h} h {m} min",
    "batches.download": "Download results",
    "batches.download.preparing": "Preparing…",
    "batches.download.ready": "Results ready: ",
    "batches.cancel": "Cancel batch",
    "batches.cancel.confirm": "Really cancel?",
    "batches.cancel.done": "The batch was cancelled.",
    "batches.submit.title": "Submit an evaluation",
    "batches.submit.agent": "Agent to evaluate",
    "batches.agent.compliance": "Compliance",
    "batches.agent.sentiment": "Sentiment",
    "batches.agent.intent": "Intent",
    "batches.submit.rows": "Labelled rows (NDJSON, one per line)",
    "batches.submit.hint.compliance": "Each line: {\"text\": \"…\", \"channel\": \"ad|social|chat\", \"categories\": [\"absolute_terms\"]}",
    "batches.submit.hint.sentiment": "Each line: {\"text\": \"…\", \"label\": \"positive|neutral|negative\"}",
    "batches.submit.hint.intent": "Each line: {\"text\": \"…\", \"expected\": {\"strength\": \"none|weak|strong\"}}",
    "batches.submit": "Submit",
    "batches.submit.empty": "Paste at least one row.",
    "batches.submit.badline": "Line {n} is not a JSON object: {message}",
    "batches.submitted": "Submitted batch {id} with {total} items.",
  },
});

const REFRESH_MS = 2000;
const PAGE_SIZE = 20;
const ACTIVE = new Set(["queued", "running"]);

function label(prefix, value) {
  const key = `${prefix}.${value}`;
  const text = t(key);
  return text === key ? value : text;
}

function number(value, digits = 0) {
  return Number(value).toLocaleString(lang(), { maximumFractionDigits: digits });
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return t("batches.none");
  const total = Math.max(0, Math.round(seconds));
  if (total < 60) return t("batches.eta.seconds", { s: total });
  if (total < 3600) return t("batches.eta.minutes", { m: Math.floor(total / 60), s: total % 60 });
  return t("batches.eta.hours", { h: Math.floor(total / 3600), m: Math.floor((total % 3600) / 60) });
}

// Rows of pasted NDJSON: each non-blank line a JSON object; throws naming the first bad line.
export function parseRows(text) {
  const rows = [];
  text.split(/\r?\n/).forEach((line, index) => {
    if (!line.trim()) return;
    let row;
    try {
      row = JSON.parse(line);
    } catch (error) {
      throw new Error(t("batches.submit.badline", { n: index + 1, message: error.message }));
    }
    if (row === null || typeof row !== "object" || Array.isArray(row)) {
      throw new Error(t("batches.submit.badline", { n: index + 1, message: typeof row }));
    }
    rows.push(row);
  });
  if (!rows.length) throw new Error(t("batches.submit.empty"));
  return rows;
}

// A cell labelled with its column (the label shows on a phone, where each row is a card); one wrapper inside.
function cell(column, attrs, ...children) {
  return h("td", { ...attrs, "data-label": t(`batches.col.${column}`) }, h("div", { class: "cell" }, children));
}

// One table row per batch, updated in place as its progress comes in (so a download link made here survives).
class BatchRow {
  constructor(progress, urls) {
    this.id = progress.batch_id;
    this.urls = urls;
    this.state = h("span", { class: "badge", "data-testid": "batch-state" });
    this.span = h("span", {});
    this.bar = h("div", { class: "progress", role: "progressbar", "aria-valuemin": "0",
                          "aria-label": t("batches.progress.label", { id: this.id }) }, this.span);
    this.counts = h("div", { class: "batch-counts", "data-testid": "batch-progress" });
    this.summary = h("div", { class: "muted batch-summary" });
    this.rate = h("div", {});
    this.eta = h("div", {});
    this.status = h("div", { class: "batch-status", role: "status" });
    this.link = h("span", { class: "batch-link" });
    this.download = h("button", { type: "button", class: "secondary", onclick: () => this.fetchResults() }, t("batches.download"));
    this.cancel = h("button", { type: "button", class: "danger", onclick: () => this.cancelClicked() }, t("batches.cancel"));
    this.element = h("tr", { "data-batch-id": this.id },
      cell("batch", {},
        h("div", { class: "batch-kind" }, label("batches.kind", progress.kind)),
        h("code", { class: "batch-id", title: progress.kind }, this.id)),
      cell("state", {}, this.state),
      cell("progress", { class: "batch-progress" }, this.bar, this.counts, this.summary),
      cell("rate", { class: "num" }, this.rate),
      cell("eta", { class: "num" }, this.eta),
      cell("created", {}, formatTime(progress.created_at)),
      cell("actions", { class: "batch-actions" },
        h("div", { class: "batch-buttons" }, this.download, this.cancel), this.link, this.status));
    this.update(progress);
  }

  get active() {
    return ACTIVE.has(this.progress.state);
  }

  update(progress) {
    this.progress = progress;
    const finished = progress.done + progress.failed;
    const share = progress.total ? Math.min(100, (finished / progress.total) * 100) : 0;
    this.element.dataset.state = progress.state;
    this.state.className = `badge state-${progress.state}`;
    this.state.textContent = label("batches.state", progress.state);
    this.span.style.width = `${share}%`;
    this.bar.setAttribute("aria-valuemax", String(progress.total));
    this.bar.setAttribute("aria-valuenow", String(finished));
    const counts = [t("batches.progress", { finished: number(finished), total: number(progress.total) })];
    if (progress.failed) counts.push(t("batches.failed.count", { n: number(progress.failed) }));
    if (progress.cancelled) counts.push(t("batches.cancelled.count", { n: number(progress.cancelled) }));
    this.counts.textContent = counts.join(" · ");
    const summary = progress.summary;
    this.summary.textContent = summary && typeof summary.accuracy === "number"
      ? t("batches.accuracy", { pct: `${(summary.accuracy * 100).toFixed(1)}%`, missed: number(summary.missed ?? 0) }) : "";
    this.rate.textContent = progress.items_per_s === null || progress.items_per_s === undefined
      ? t("batches.none") : t("batches.rate", { n: number(progress.items_per_s, 1) });
    this.eta.textContent = ACTIVE.has(progress.state) ? duration(progress.eta_s) : t("batches.none");
    const hide = !ACTIVE.has(progress.state);
    if (hide && !this.cancel.hidden && document.activeElement === this.cancel) this.download.focus();
    this.cancel.hidden = hide;
  }

  async fetchResults() {
    if (this.fetching) return;
    this.fetching = true;  // like cancel, kept focusable while busy
    clear(this.status);
    this.download.setAttribute("aria-disabled", "true");
    this.download.textContent = t("batches.download.preparing");
    try {
      const response = await api("GET", `/v1/batches/${encodeURIComponent(this.id)}/results`, { raw: true });
      const blob = new Blob([await response.blob()], { type: "application/x-ndjson" });
      const old = this.link.querySelector("a");
      if (old) {
        URL.revokeObjectURL(old.href);
        this.urls.delete(old.href);
      }
      const url = URL.createObjectURL(blob);
      this.urls.add(url);
      const name = `${this.id}.ndjson`;
      const anchor = h("a", { href: url, download: name, class: "download", "data-testid": "batch-download" }, name);
      clear(this.link).append(h("span", { class: "muted" }, t("batches.download.ready")), anchor);
      anchor.focus();
    } catch (error) {
      this.status.append(errorBox(error));
    } finally {
      this.fetching = false;
      this.download.removeAttribute("aria-disabled");
      this.download.textContent = t("batches.download");
    }
  }

  // The first press asks again (the button says so for a few seconds); the second cancels.
  async cancelClicked() {
    if (!this.confirming) {
      this.confirming = true;
      this.cancel.textContent = t("batches.cancel.confirm");
      this.revert = setTimeout(() => this.resetCancel(), 5000);
      return;
    }
    if (this.busy) return;
    this.resetCancel();
    clear(this.status);
    this.busy = true;  // not `disabled`: a disabled button loses the focus, which then moves to this row's download
    this.cancel.setAttribute("aria-disabled", "true");
    try {
      this.update(await api("POST", `/v1/batches/${encodeURIComponent(this.id)}/cancel`));
      this.status.append(t("batches.cancel.done"));
    } catch (error) {
      this.status.append(errorBox(error));
      await this.refresh();
    } finally {
      this.busy = false;
      this.cancel.removeAttribute("aria-disabled");
    }
  }

  resetCancel() {
    clearTimeout(this.revert);
    this.confirming = false;
    this.cancel.textContent = t("batches.cancel");
  }

  async refresh() {
    try {
      this.update(await api("GET", `/v1/batches/${encodeURIComponent(this.id)}`));
    } catch (error) {
      clear(this.status).append(errorBox(error));
    }
  }
}

function submitForm(onSubmitted) {
  const agent = h("select", { name: "agent" },
    ["compliance", "sentiment", "intent"].map((value) => h("option", { value }, t(`batches.agent.${value}`))));
  const rows = h("textarea", { name: "rows", rows: 6, required: true, spellcheck: "false", class: "batch-rows" });
  const hint = h("small", { class: "hint" });
  const showHint = () => { hint.textContent = t(`batches.submit.hint.${agent.value}`); };
  agent.addEventListener("change", showHint);
  showHint();
  const status = h("div", { class: "status", role: "status" });
  const button = h("button", { type: "submit" }, t("batches.submit"));
  let busy = false;
  const rowsField = field(t("batches.submit.rows"), rows);
  rowsField.append(hint);
  const form = h("form", { class: "batch-submit", onsubmit: async (event) => {
    event.preventDefault();
    clear(status);
    let items;
    try {
      items = parseRows(rows.value);
    } catch (error) {
      status.append(errorBox(error));
      rows.focus();
      return;
    }
    if (busy) return;
    busy = true;
    button.setAttribute("aria-disabled", "true");
    try {
      const accepted = await api("POST", "/v1/batches", { body: { kind: "evaluate", items, options: { agent: agent.value } } });
      rows.value = "";
      status.append(h("p", { class: "ok" }, t("batches.submitted", { id: accepted.batch_id, total: number(accepted.total) })));
      await onSubmitted();
    } catch (error) {
      status.append(errorBox(error));
    } finally {
      busy = false;
      button.removeAttribute("aria-disabled");
    }
  } },
    field(t("batches.submit.agent"), agent),
    rowsField,
    button,
    status);
  return h("details", { class: "card batch-submit-card" }, h("summary", {}, t("batches.submit.title")), form);
}

export default {
  path: "batches",
  title: "nav.batches",
  scope: "tenant:chat",
  async render(root) {
    const urls = new Set();  // Blob URLs of downloads made here, revoked when the list is rebuilt or the page left
    let rows = [];
    let current = 1;
    let timer = null;
    let attached = false;
    const list = h("div", { class: "batch-list" });
    const listStatus = h("div", { class: "status", role: "status" });

    const revokeAll = () => {
      for (const url of urls) URL.revokeObjectURL(url);
      urls.clear();
    };
    const shown = () => {
      if (root.isConnected) attached = true;
      const onRoute = /^#\/?batches(\/|$)/.test(location.hash);
      return onRoute && (root.isConnected || !attached);
    };
    const stop = () => {
      clearTimeout(timer);
      timer = null;
      revokeAll();
      for (const row of rows) clearTimeout(row.revert);
    };

    async function load(page = current) {
      clear(listStatus);
      let body;
      try {
        body = await api("GET", "/v1/batches", { query: { page, page_size: PAGE_SIZE } });
      } catch (error) {
        listStatus.append(errorBox(error));
        return;
      }
      current = body.page;
      revokeAll();
      rows = body.items.map((progress) => new BatchRow(progress, urls));
      clear(list);
      if (!rows.length) {
        list.append(h("p", { class: "muted", "data-testid": "batches-empty" }, t("empty")));
      } else {
        list.append(h("table", { class: "batches-table" },
          h("thead", {}, h("tr", {}, ["batch", "state", "progress", "rate", "eta", "created", "actions"].map((name) =>
            h("th", { scope: "col" }, t(`batches.col.${name}`))))),
          h("tbody", {}, rows.map((row) => row.element))));
      }
      if (body.total > body.page_size) list.append(pager(body, (page) => load(page)));
    }

    async function tick() {
      timer = null;
      if (!shown()) {
        stop();
        return;
      }
      const active = rows.filter((row) => row.active);
      await Promise.all(active.map((row) => row.refresh()));
      if (shown()) timer = setTimeout(tick, REFRESH_MS);
      else stop();
    }

    root.append(
      submitForm(() => load(1)),
      h("section", { class: "batches", "aria-labelledby": "batches-list-title" },
        h("div", { class: "batches-head" },
          h("h2", { id: "batches-list-title" }, t("batches.list")),
          h("button", { type: "button", class: "secondary", onclick: () => load() }, t("refresh"))),
        h("p", { class: "muted" }, t("batches.auto")),
        listStatus,
        list));
    await load(1);
    timer = setTimeout(tick, REFRESH_MS);
  },
};
