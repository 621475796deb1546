// Usage over the last 7, 30 or 90 Asia/Shanghai days (GET /v1/usage?days=): runs, failed runs, tokens and cost per
// day and model with totals, a bar per day (cost or runs), compliance findings by category and direction, and the
// output verdicts; says when the window held more runs than were counted.

import { api } from "../api.js";
import { clear, field, formatMoney, h } from "../dom.js";
import { lang, register, t } from "../i18n.js";
import { errorBox } from "../ui.js";
import { categoryName } from "./compliance.js";

register({
  "zh-CN": {
    "usage.days": "时间范围",
    "usage.days.option": "最近 {n} 天",
    "usage.metric": "柱状图指标",
    "usage.metric.cost": "费用",
    "usage.metric.runs": "运行次数",
    "usage.window": "自 {since} 起，共 {days} 天（按北京时间计日）。已统计 {n} 次运行。",
    "usage.truncated": "时间范围内的运行超过统计上限：只统计了最新的 {n} 次运行，更早的未计入。",
    "usage.summary": "汇总",
    "usage.total.runs": "运行",
    "usage.total.failed": "失败",
    "usage.total.input": "输入 tokens",
    "usage.total.output": "输出 tokens",
    "usage.total.cost": "费用（美元）",
    "usage.chart": "每日{metric}",
    "usage.chart.label": "{day}：{value}",
    "usage.table": "按日期和模型",
    "usage.col.day": "日期",
    "usage.col.model": "模型",
    "usage.col.runs": "运行",
    "usage.col.failed": "失败",
    "usage.col.input": "输入 tokens",
    "usage.col.output": "输出 tokens",
    "usage.col.cost": "费用",
    "usage.totals": "合计",
    "usage.model.none": "未调用模型",
    "usage.none": "所选时间范围内没有运行记录。",
    "usage.compliance": "合规发现",
    "usage.compliance.none": "没有发现合规问题。",
    "usage.col.category": "类别",
    "usage.col.direction": "方向",
    "usage.col.count": "次数",
    "usage.direction.input": "客户消息",
    "usage.direction.output": "助手回复",
    "usage.verdicts": "回复的合规结论",
    "usage.verdicts.none": "暂无结论。",
    "usage.verdict.approved": "通过",
    "usage.verdict.flagged": "需修改",
    "usage.verdict.rewritten": "已改写",
    "usage.verdict.blocked": "已拦截",
  },
  en: {
    "usage.days": "Period",
    "usage.days.option": "Last {n} days",
    "usage.metric": "Bars show",
    "usage.metric.cost": "Cost",
    "usage.metric.runs": "Runs",
    "usage.window": "Since {since}, {days} days (Asia/Shanghai calendar days). {n} runs counted.",
    "usage.truncated": "The period held more runs than are counted: only the newest {n} runs are included, older ones are left out.",
    "usage.summary": "Totals",
    "usage.total.runs": "Runs",
    "usage.total.failed": "Failed",
    "usage.total.input": "Input tokens",
    "usage.total.output": "Output tokens",
    "usage.total.cost": "Cost (USD)",
    "usage.chart": "{metric} per day",
    "usage.chart.label": "{day}: {value}",
    "usage.table": "By day and model",
    "usage.col.day": "Day",
    "usage.col.model": "Model",
    "usage.col.runs": "Runs",
    "usage.col.failed": "Failed",
    "usage.col.input": "Input tokens",
    "usage.col.output": "Output tokens",
    "usage.col.cost": "Cost",
    "usage.totals": "Total",
    "usage.model.none": "no model called",
    "usage.none": "No runs in this period.",
    "usage.compliance": "Compliance findings",
    "usage.compliance.none": "No compliance findings.",
    "usage.col.category": "Category",
    "usage.col.direction": "Direction",
    "usage.col.count": "Count",
    "usage.direction.input": "Customer messages",
    "usage.direction.output": "Assistant replies",
    "usage.verdicts": "Compliance verdicts of the replies",
    "usage.verdicts.none": "No verdicts yet.",
    "usage.verdict.approved": "Approved",
    "usage.verdict.flagged": "Needs changes",
    "usage.verdict.rewritten": "Rewritten",
    "usage.verdict.blocked": "Blocked",
  },
});

const DAYS = [7, 30, 90];
const DEFAULT_DAYS = 30;
let chosenMetric = null;  // "cost" | "runs": kept while the console is open; null picks cost when there is any

function label(prefix, value) {
  const key = `${prefix}.${value}`;
  const text = t(key);
  return text === key ? value : text;
}

function count(value) {
  return Number(value || 0).toLocaleString(lang());
}

function shanghaiDate(iso) {
  return new Date(iso).toLocaleDateString(lang(), { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit" });
}

// Sums of the per-day rows; `byDay`: one entry per day (newest first) with its runs and cost over every model.
export function totals(perDay) {
  const sum = { runs: 0, failed: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0 };
  const byDay = new Map();
  for (const row of perDay) {
    for (const name of Object.keys(sum)) sum[name] += Number(row[name] || 0);
    const day = byDay.get(row.day) || { day: row.day, runs: 0, cost: 0 };
    day.runs += row.runs;
    day.cost += row.cost_usd;
    byDay.set(row.day, day);
  }
  return { sum, days: [...byDay.values()] };
}

function cell(column, content, attrs = {}) {
  return h("td", { ...attrs, "data-label": t(`usage.col.${column}`) }, content);
}

function summary(sum) {
  const stat = (key, value, testid) => h("div", { class: "usage-stat" },
    h("dt", {}, t(key)), h("dd", { "data-testid": testid }, value));
  return h("dl", { class: "usage-summary", "aria-label": t("usage.summary") },
    stat("usage.total.runs", count(sum.runs), "usage-total-runs"),
    stat("usage.total.failed", count(sum.failed), "usage-total-failed"),
    stat("usage.total.input", count(sum.input_tokens), "usage-total-input"),
    stat("usage.total.output", count(sum.output_tokens), "usage-total-output"),
    stat("usage.total.cost", formatMoney(sum.cost_usd), "usage-total-cost"));
}

function chart(days, hasCost) {
  const metric = chosenMetric || (hasCost ? "cost" : "runs");
  const select = h("select", { name: "metric" },
    ["cost", "runs"].map((value) => h("option", { value, selected: value === metric }, t(`usage.metric.${value}`))));
  const heading = h("h2", { id: "usage-chart-title" });
  const bars = h("ol", { class: "usage-bars", "aria-labelledby": "usage-chart-title", "data-testid": "usage-bars" });
  const draw = () => {
    const chosen = select.value;
    heading.textContent = t("usage.chart", { metric: t(`usage.metric.${chosen}`) });
    const value = (day) => (chosen === "cost" ? day.cost : day.runs);
    const most = Math.max(0, ...days.map(value));
    clear(bars).append(...days.map((day) => {
      const fill = h("span", {});
      fill.style.width = `${most > 0 ? (value(day) / most) * 100 : 0}%`;
      const shown = chosen === "cost" ? formatMoney(day.cost) : count(day.runs);
      return h("li", { "data-day": day.day },
        h("span", { class: "usage-bar-day" }, day.day),
        h("div", { class: "usage-bar", "aria-hidden": "true" }, fill),
        h("span", { class: "usage-bar-value" }, shown));
    }));
  };
  select.addEventListener("change", () => { chosenMetric = select.value; draw(); });
  draw();
  return [h("div", { class: "usage-chart-head" }, heading, h("div", { class: "usage-metric" }, field(t("usage.metric"), select))), bars];
}

function table(perDay, sum) {
  const numeric = { class: "num" };
  return h("table", { class: "usage-table", "data-testid": "usage-table", "aria-labelledby": "usage-table-title" },
    h("thead", {}, h("tr", {}, ["day", "model", "runs", "failed", "input", "output", "cost"].map((name) =>
      h("th", { scope: "col", class: ["day", "model"].includes(name) ? null : "num" }, t(`usage.col.${name}`))))),
    h("tbody", {}, perDay.map((row) => h("tr", { "data-day": row.day, "data-model": row.model },
      cell("day", row.day),
      cell("model", row.model === "none" ? h("span", { class: "muted" }, t("usage.model.none")) : h("code", {}, row.model)),
      cell("runs", count(row.runs), { ...numeric, "data-testid": "usage-runs" }),
      cell("failed", count(row.failed), { ...numeric, class: row.failed ? "num bad" : "num" }),
      cell("input", count(row.input_tokens), numeric),
      cell("output", count(row.output_tokens), numeric),
      cell("cost", formatMoney(row.cost_usd), numeric)))),
    h("tfoot", {}, h("tr", { "data-testid": "usage-totals" },
      h("th", { scope: "row", colspan: "2" }, t("usage.totals")),
      cell("runs", count(sum.runs), numeric),
      cell("failed", count(sum.failed), numeric),
      cell("input", count(sum.input_tokens), numeric),
      cell("output", count(sum.output_tokens), numeric),
      cell("cost", formatMoney(sum.cost_usd), numeric))));
}

function findings(compliance) {
  if (!compliance.length) return h("p", { class: "muted", "data-testid": "usage-compliance-none" }, t("usage.compliance.none"));
  const most = Math.max(...compliance.map((row) => row.count));
  return h("table", { class: "usage-findings", "data-testid": "usage-compliance" },
    h("thead", {}, h("tr", {}, ["category", "direction", "count"].map((name) =>
      h("th", { scope: "col", class: name === "count" ? "num" : null }, t(`usage.col.${name}`))))),
    h("tbody", {}, compliance.map((row) => {
      const fill = h("span", {});
      fill.style.width = `${(row.count / most) * 100}%`;
      return h("tr", { "data-category": row.category, "data-direction": row.direction },
        cell("category", h("span", { title: row.category }, categoryName(row.category))),
        cell("direction", label("usage.direction", row.direction)),
        cell("count", h("div", { class: "usage-count" }, h("div", { class: "usage-bar", "aria-hidden": "true" }, fill),
          h("span", { "data-testid": "usage-finding-count" }, count(row.count))), { class: "num" }));
    })));
}

function verdicts(counts) {
  const entries = Object.entries(counts || {});
  if (!entries.length) return h("p", { class: "muted" }, t("usage.verdicts.none"));
  return h("ul", { class: "usage-verdicts", "data-testid": "usage-verdicts" }, entries.map(([verdict, n]) =>
    h("li", { "data-verdict": verdict },
      h("span", { class: `badge verdict-${verdict}` }, label("usage.verdict", verdict)), " ",
      h("strong", {}, count(n)))));
}

function report(body) {
  const { sum, days } = totals(body.per_day);
  const parts = [
    h("p", { class: "muted", "data-testid": "usage-window" },
      t("usage.window", { since: shanghaiDate(body.since), days: body.days, n: count(body.runs_counted) })),
  ];
  if (body.truncated) {
    parts.push(h("div", { class: "usage-truncated", role: "note", "data-testid": "usage-truncated" },
      t("usage.truncated", { n: count(body.runs_counted) })));
  }
  parts.push(summary(sum));
  if (body.per_day.length) {
    parts.push(h("section", { class: "card usage-chart" }, chart(days, sum.cost_usd > 0)));
    parts.push(h("h2", { id: "usage-table-title" }, t("usage.table")), table(body.per_day, sum));
  } else {
    parts.push(h("p", { class: "muted", "data-testid": "usage-empty" }, t("usage.none")));
  }
  parts.push(h("div", { class: "usage-split" },
    h("section", { "aria-labelledby": "usage-compliance-title" },
      h("h2", { id: "usage-compliance-title" }, t("usage.compliance")), findings(body.compliance)),
    h("section", { "aria-labelledby": "usage-verdicts-title" },
      h("h2", { id: "usage-verdicts-title" }, t("usage.verdicts")), verdicts(body.verdicts))));
  return parts;
}

export default {
  path: "usage",
  title: "nav.usage",
  scope: "tenant:admin",
  async render(root, params = []) {
    const asked = Number(params[0]);
    const select = h("select", { name: "days" },
      DAYS.map((n) => h("option", { value: String(n) }, t("usage.days.option", { n }))));
    select.value = String(DAYS.includes(asked) ? asked : DEFAULT_DAYS);
    const output = h("div", { class: "usage-report", "aria-live": "polite", "aria-busy": "false" });

    async function load() {
      output.setAttribute("aria-busy", "true");
      try {
        const body = await api("GET", "/v1/usage", { query: { days: select.value } });
        clear(output).append(...report(body));
      } catch (error) {
        clear(output).append(errorBox(error));
      } finally {
        output.setAttribute("aria-busy", "false");
      }
    }

    select.addEventListener("change", () => {
      history.replaceState(null, "", `#/usage/${select.value}`);  // bookmarkable; no hashchange, so no re-render
      load();
    });
    root.append(
      h("div", { class: "usage-controls" },
        field(t("usage.days"), select),
        h("button", { type: "button", class: "secondary", onclick: load }, t("refresh"))),
      output);
    await load();
  },
};
