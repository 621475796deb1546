// Compliance checker: paste copy, pick a channel, see each violation highlighted on its span with its category, the
// law it breaks, the suggestion and the rewrite (POST /v1/compliance/check, with the tenant's own rules applied).

import { api } from "../api.js";
import { clear, field, h } from "../dom.js";
import { register, t } from "../i18n.js";
import { errorBox } from "../ui.js";

register({
  "zh-CN": {
    "compliance.text": "待检查文案",
    "compliance.channel": "渠道",
    "compliance.channel.chat": "对话回复",
    "compliance.channel.social": "社交平台",
    "compliance.channel.ad": "广告文案",
    "compliance.submit": "检查",
    "compliance.verdict.approved": "通过",
    "compliance.verdict.flagged": "需修改",
    "compliance.verdict.blocked": "禁止发布",
    "compliance.violations": "问题（{n}）",
    "compliance.suggestion": "建议",
    "compliance.rewritten": "改写后的文案",
    "compliance.rewritten.empty": "没有可保留的内容，请重写。",
    "compliance.second": "大模型复核：{status}",
    "compliance.agrees": "与规则一致",
    "compliance.disagrees": "发现规则遗漏的问题",
    "category.absolute_terms": "绝对化用语",
    "category.efficacy_guarantee": "功效保证",
    "category.safety_guarantee": "安全保证",
    "category.cure_rate": "治愈率/有效率",
    "category.before_after": "前后对比",
    "category.endorsement": "代言与证明",
    "category.appearance_anxiety": "容貌焦虑",
    "category.medical_claims_cosmetics": "化妆品医疗宣称",
    "category.loan_inducement": "诱导贷款",
    "category.comparison": "比较与贬低",
    "category.contact_diversion": "站外引流",
    "category.brand_rule": "品牌禁用词",
    "category.abuse": "辱骂",
    "category.self_harm": "自伤风险",
    "category.illegal_request": "违法请求",
    "category.prompt_injection": "提示词注入",
  },
  en: {
    "compliance.text": "Copy to check",
    "compliance.channel": "Channel",
    "compliance.channel.chat": "Chat reply",
    "compliance.channel.social": "Social post",
    "compliance.channel.ad": "Advertising",
    "compliance.submit": "Check",
    "compliance.verdict.approved": "Approved",
    "compliance.verdict.flagged": "Needs changes",
    "compliance.verdict.blocked": "Must not be published",
    "compliance.violations": "Findings ({n})",
    "compliance.suggestion": "Suggestion",
    "compliance.rewritten": "Rewritten copy",
    "compliance.rewritten.empty": "Nothing of it can be kept; please rewrite it.",
    "compliance.second": "Model review: {status}",
    "compliance.agrees": "agrees with the rules",
    "compliance.disagrees": "found what the rules missed",
    "category.absolute_terms": "Absolute terms",
    "category.efficacy_guarantee": "Efficacy guarantee",
    "category.safety_guarantee": "Safety guarantee",
    "category.cure_rate": "Cure or success rate",
    "category.before_after": "Before/after",
    "category.endorsement": "Endorsement",
    "category.appearance_anxiety": "Appearance anxiety",
    "category.medical_claims_cosmetics": "Medical claims for cosmetics",
    "category.loan_inducement": "Loan inducement",
    "category.comparison": "Comparison",
    "category.contact_diversion": "Off-platform contact",
    "category.brand_rule": "Brand rule",
    "category.abuse": "Abuse",
    "category.self_harm": "Self-harm risk",
    "category.illegal_request": "Illegal request",
    "category.prompt_injection": "Prompt injection",
  },
});

export function categoryName(category) {
  const key = `category.${category}`;
  const name = t(key);
  return name === key ? category : name;
}

// The text with each violation's span marked; overlapping spans are merged into the first.
export function highlighted(text, violations) {
  const spans = [...violations].sort((a, b) => a.span.start - b.span.start);
  const parts = [];
  let cursor = 0;
  spans.forEach((violation, index) => {
    const { start, end } = violation.span;
    if (start < cursor) return;
    parts.push(text.slice(cursor, start));
    parts.push(h("mark", { class: `violation sev-${violation.severity}`, "data-category": violation.category, "data-index": index,
                           title: `${categoryName(violation.category)}：${violation.message}`, tabindex: "0" },
      text.slice(start, end)));
    cursor = end;
  });
  parts.push(text.slice(cursor));
  return h("p", { class: "highlighted", "data-testid": "highlighted" }, parts);
}

function findings(result, text) {
  const verdict = h("span", { class: `badge verdict-${result.verdict}`, "data-testid": "verdict" }, t(`compliance.verdict.${result.verdict}`));
  const list = h("ol", { class: "violations" }, result.violations.map((violation) =>
    h("li", { "data-category": violation.category },
      h("strong", {}, categoryName(violation.category)), " ",
      h("code", {}, violation.span.text), " ",
      h("span", { class: "muted" }, `(${violation.rule_id}, ${violation.severity})`),
      h("div", { class: "law" }, violation.message),
      h("div", {}, `${t("compliance.suggestion")}: ${violation.suggestion}`))));
  const parts = [verdict, highlighted(text, result.violations)];
  if (result.violations.length) parts.push(h("h2", {}, t("compliance.violations", { n: result.violations.length })), list);
  if (result.rewritten !== null && result.rewritten !== undefined) {
    parts.push(h("h2", {}, t("compliance.rewritten")),
      h("p", { class: "rewritten", "data-testid": "rewritten" }, result.rewritten || t("compliance.rewritten.empty")));
  }
  const second = result.second_opinion;
  if (second) {
    parts.push(h("p", { class: "muted" }, t("compliance.second", { status: second.status }), " ",
      second.status === "reviewed" ? t(second.agrees ? "compliance.agrees" : "compliance.disagrees") : second.error || ""));
  }
  return parts;
}

export default {
  path: "compliance",
  title: "nav.compliance",
  scope: "tenant:chat",
  async render(root) {
    const text = h("textarea", { name: "text", rows: 6, maxlength: 20000, required: true });
    const channel = h("select", { name: "channel" },
      ["ad", "social", "chat"].map((value) => h("option", { value }, t(`compliance.channel.${value}`))));
    const output = h("section", { class: "result", "aria-live": "polite" });
    const form = h("form", { class: "card", onsubmit: async (event) => {
      event.preventDefault();
      clear(output);
      try {
        const checked = text.value;
        const result = await api("POST", "/v1/compliance/check", { body: { text: checked, channel: channel.value } });
        output.append(...findings(result, checked));
      } catch (error) {
        output.append(errorBox(error));
      }
    } },
      field(t("compliance.text"), text),
      field(t("compliance.channel"), channel),
      h("button", { type: "submit" }, t("compliance.submit")));
    root.append(form, output);
  },
};
