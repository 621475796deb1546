// Conversations: the tenant's threads (newest activity first, filtered by who has them), and a thread's view: the
// customer's profile, the transcript with each run's per-agent detail (verdicts, sentiment, intent, memory hits,
// products, status and latency, model, tokens, cost, timings), and the hand-off controls (hand to a person, suggest
// replies, answer as a person, release to the AI), and, for a tenant admin, the customer's erasure with its receipt.
// Only the API is called; every value is shown as text.

import { api, session } from "../api.js";
import { clear, field, formatMoney, formatTime, h } from "../dom.js";
import { register, t } from "../i18n.js";
import { errorBox, pager } from "../ui.js";
import { categoryName } from "./compliance.js";

register({
  "zh-CN": {
    "conv.filter": "显示",
    "conv.filter.all": "全部",
    "conv.filter.human": "人工接待中",
    "conv.filter.ai": "AI 接待中",
    "conv.list": "会话列表",
    "conv.updated": "最近活动：{time}",
    "conv.anonymous": "未命名客户",
    "conv.status.HANDOFF": "HANDOFF · 人工接待",
    "conv.status.IDLE": "AI 接待",
    "conv.status.RUNNING": "AI 回复中",
    "conv.reason": "原因：{reason}",
    "conv.back": "← 返回会话列表",
    "conv.profile": "客户资料",
    "conv.field.nickname": "昵称",
    "conv.field.name": "名称",
    "conv.field.real_name": "真实姓名",
    "conv.field.sex": "性别",
    "conv.field.age": "年龄",
    "conv.field.phone": "电话",
    "conv.field.occupation": "职业",
    "conv.field.services": "关注项目",
    "conv.field.is_converted": "已转化",
    "conv.field.assistant_id": "助手",
    "conv.field.thread_id": "会话 ID",
    "conv.field.created_at": "创建时间",
    "conv.field.updated_at": "最近活动",
    "conv.field.handoff_at": "转人工时间",
    "conv.field.metadata": "附加信息",
    "conv.sex.MALE": "男",
    "conv.sex.FEMALE": "女",
    "conv.sex.OTHER": "其他",
    "conv.yes": "是",
    "conv.no": "否",
    "conv.transcript": "对话记录",
    "conv.transcript.empty": "还没有消息。",
    "conv.older": "加载更早的消息",
    "conv.author.customer": "客户",
    "conv.author.ai": "AI",
    "conv.author.human": "人工客服",
    "conv.author.system": "系统",
    "conv.media.input_image": "图片",
    "conv.media.input_audio": "语音",
    "conv.other_runs": "其他运行（没有对应的消息）",
    "conv.run": "运行详情",
    "conv.run.summary": "{status} · {model} · {tokens} tokens · {cost} · {time}",
    "conv.run.status": "状态",
    "conv.run.model": "模型",
    "conv.run.tokens": "Tokens（输入 / 输出）",
    "conv.run.cost": "费用",
    "conv.run.time": "处理时间",
    "conv.run.timings": "耗时拆分",
    "conv.run.mode": "方式",
    "conv.run.created": "开始时间",
    "conv.run.id": "运行 ID",
    "conv.run.blocked": "输入合规拦截了这条消息：回复是安全话术，未调用大模型。",
    "conv.run.handoff": "会话在人工手中，本次未由 AI 回复（原因：{reason}）。",
    "conv.run.error": "错误：{message}",
    "conv.run.invitation": "预约邀约：{service} {time} {name} {phone}",
    "conv.run.raw": "原始数据（JSON）",
    "conv.timing.queued_ms": "排队",
    "conv.timing.context_ms": "读取上下文",
    "conv.timing.agents_ms": "智能体",
    "conv.timing.first_token_ms": "首字",
    "conv.timing.generation_ms": "生成",
    "conv.timing.total_ms": "总计",
    "conv.agents": "各智能体",
    "conv.agent.compliance_input": "输入合规",
    "conv.agent.compliance_output": "输出合规",
    "conv.agent.sentiment": "情绪",
    "conv.agent.intent": "意图",
    "conv.agent.memory": "记忆",
    "conv.agent.products": "商品",
    "conv.agent.sales": "销售回复",
    "conv.agent.status.ok": "正常",
    "conv.agent.status.degraded": "降级",
    "conv.agent.status.skipped": "跳过",
    "conv.agent.reason": "说明：{reason}",
    "conv.verdict.approved": "通过",
    "conv.verdict.flagged": "需注意",
    "conv.verdict.blocked": "拦截",
    "conv.verdict.rewritten": "已改写",
    "conv.checks": "检查 {n} 次",
    "conv.no_findings": "没有发现问题",
    "conv.safe_reply": "安全回复：{text}",
    "conv.suggestion": "建议：{text}",
    "conv.sentiment.positive": "积极",
    "conv.sentiment.neutral": "中性",
    "conv.sentiment.negative": "消极",
    "conv.sentiment.score": "分值 {score}",
    "conv.urgency": "紧急程度：{level}",
    "conv.urgency.low": "低",
    "conv.urgency.medium": "中",
    "conv.urgency.high": "高",
    "conv.cues": "线索：{cues}",
    "conv.intent.appointment": "预约意向：{value}",
    "conv.intent.strength.none": "无",
    "conv.intent.strength.weak": "弱",
    "conv.intent.strength.strong": "强",
    "conv.intent.time": "时间：{time}",
    "conv.intent.services": "项目：{services}",
    "conv.intent.assets": "想要：{assets}",
    "conv.asset.price_list": "价目表",
    "conv.asset.cases": "案例",
    "conv.asset.certificates": "资质证书",
    "conv.asset.address": "地址",
    "conv.memory.window": "近期消息 {n} 条",
    "conv.memory.hits": "命中记忆 {n} 条",
    "conv.products.none": "没有匹配的商品",
    "conv.sales.attempts": "调用 {n} 次",
    "conv.sales.regenerated": "因合规重新生成",
    "conv.handoff": "人工接待",
    "conv.handoff.reason": "转人工原因",
    "conv.handoff.reason.hint": "会显示在会话列表和运行记录中。",
    "conv.handoff.submit": "转人工",
    "conv.handoff.active": "这个会话由人工接待，AI 暂停回复。",
    "conv.handoff.done": "已转人工。",
    "conv.suggest": "生成建议回复",
    "conv.suggest.busy": "正在生成…",
    "conv.suggest.list": "建议回复",
    "conv.suggest.use": "填入回复框",
    "conv.suggest.use.label": "把第 {n} 条建议填入回复框",
    "conv.suggest.none": "还没有客户消息，无法生成建议。",
    "conv.suggest.no_assistant": "会话没有绑定助手，无法生成建议。",
    "conv.suggest.cost": "{model} · {tokens} tokens · {cost}",
    "conv.answer": "人工回复",
    "conv.answer.hint": "以人工身份发送给客户，并记入对话记录。",
    "conv.answer.submit": "发送回复",
    "conv.answer.sent": "回复已发送。",
    "conv.release": "交还 AI",
    "conv.released": "已交还 AI。",
    "conv.erase": "删除客户数据",
    "conv.erase.hint": "按《个人信息保护法》删除这位客户在所有存储中的数据：消息、运行记录、记忆与向量、会话缓存，以及这个会话本身。无法撤销。",
    "conv.erase.confirm": "我确认永久删除这个会话的全部客户数据",
    "conv.erase.submit": "永久删除",
    "conv.erase.done": "已删除。各存储删除的条数：",
    "conv.erase.pending": "删除尚未完成（{error}），系统会自动继续；稍后可再次点击删除查看结果。",
  },
  en: {
    "conv.filter": "Show",
    "conv.filter.all": "All",
    "conv.filter.human": "With a person",
    "conv.filter.ai": "With the AI",
    "conv.list": "Threads",
    "conv.updated": "Last active: {time}",
    "conv.anonymous": "Unnamed customer",
    "conv.status.HANDOFF": "HANDOFF · with a person",
    "conv.status.IDLE": "With the AI",
    "conv.status.RUNNING": "AI replying",
    "conv.reason": "Reason: {reason}",
    "conv.back": "← Back to the threads",
    "conv.profile": "Customer profile",
    "conv.field.nickname": "Nickname",
    "conv.field.name": "Name",
    "conv.field.real_name": "Real name",
    "conv.field.sex": "Sex",
    "conv.field.age": "Age",
    "conv.field.phone": "Phone",
    "conv.field.occupation": "Occupation",
    "conv.field.services": "Services of interest",
    "conv.field.is_converted": "Converted",
    "conv.field.assistant_id": "Assistant",
    "conv.field.thread_id": "Thread ID",
    "conv.field.created_at": "Created",
    "conv.field.updated_at": "Last active",
    "conv.field.handoff_at": "Handed off at",
    "conv.field.metadata": "Metadata",
    "conv.sex.MALE": "Male",
    "conv.sex.FEMALE": "Female",
    "conv.sex.OTHER": "Other",
    "conv.yes": "Yes",
    "conv.no": "No",
    "conv.transcript": "Transcript",
    "conv.transcript.empty": "No messages yet.",
    "conv.older": "Load older messages",
    "conv.author.customer": "Customer",
    "conv.author.ai": "AI",
    "conv.author.human": "Human agent",
    "conv.author.system": "System",
    "conv.media.input_image": "Image",
    "conv.media.input_audio": "Audio",
    "conv.other_runs": "Other runs (no messages of theirs)",
    "conv.run": "Run details",
    "conv.run.summary": "{status} · {model} · {tokens} tokens · {cost} · {time}",
    "conv.run.status": "Status",
    "conv.run.model": "Model",
    "conv.run.tokens": "Tokens (in / out)",
    "conv.run.cost": "Cost",
    "conv.run.time": "Processing time",
    "conv.run.timings": "Where the time went",
    "conv.run.mode": "Mode",
    "conv.run.created": "Started",
    "conv.run.id": "Run ID",
    "conv.run.blocked": "Input compliance blocked this message: the reply is the safe reply, no LLM was called.",
    "conv.run.handoff": "The thread was with a person: no AI reply (reason: {reason}).",
    "conv.run.error": "Error: {message}",
    "conv.run.invitation": "Appointment invitation: {service} {time} {name} {phone}",
    "conv.run.raw": "Raw data (JSON)",
    "conv.timing.queued_ms": "Queued",
    "conv.timing.context_ms": "Context",
    "conv.timing.agents_ms": "Agents",
    "conv.timing.first_token_ms": "First token",
    "conv.timing.generation_ms": "Generation",
    "conv.timing.total_ms": "Total",
    "conv.agents": "Agents",
    "conv.agent.compliance_input": "Input compliance",
    "conv.agent.compliance_output": "Output compliance",
    "conv.agent.sentiment": "Sentiment",
    "conv.agent.intent": "Intent",
    "conv.agent.memory": "Memory",
    "conv.agent.products": "Products",
    "conv.agent.sales": "Sales reply",
    "conv.agent.status.ok": "OK",
    "conv.agent.status.degraded": "Degraded",
    "conv.agent.status.skipped": "Skipped",
    "conv.agent.reason": "Note: {reason}",
    "conv.verdict.approved": "Approved",
    "conv.verdict.flagged": "Flagged",
    "conv.verdict.blocked": "Blocked",
    "conv.verdict.rewritten": "Rewritten",
    "conv.checks": "{n} checks",
    "conv.no_findings": "No findings",
    "conv.safe_reply": "Safe reply: {text}",
    "conv.suggestion": "Suggestion: {text}",
    "conv.sentiment.positive": "Positive",
    "conv.sentiment.neutral": "Neutral",
    "conv.sentiment.negative": "Negative",
    "conv.sentiment.score": "score {score}",
    "conv.urgency": "Urgency: {level}",
    "conv.urgency.low": "low",
    "conv.urgency.medium": "medium",
    "conv.urgency.high": "high",
    "conv.cues": "Cues: {cues}",
    "conv.intent.appointment": "Appointment intent: {value}",
    "conv.intent.strength.none": "none",
    "conv.intent.strength.weak": "weak",
    "conv.intent.strength.strong": "strong",
    "conv.intent.time": "Time: {time}",
    "conv.intent.services": "Services: {services}",
    "conv.intent.assets": "Asks for: {assets}",
    "conv.asset.price_list": "price list",
    "conv.asset.cases": "cases",
    "conv.asset.certificates": "certificates",
    "conv.asset.address": "address",
    "conv.memory.window": "{n} recent messages",
    "conv.memory.hits": "{n} memories recalled",
    "conv.products.none": "No matching products",
    "conv.sales.attempts": "{n} calls",
    "conv.sales.regenerated": "regenerated for compliance",
    "conv.handoff": "Human hand-off",
    "conv.handoff.reason": "Reason for the hand-off",
    "conv.handoff.reason.hint": "Shown in the thread list and in the runs.",
    "conv.handoff.submit": "Hand to a person",
    "conv.handoff.active": "A person has this thread: the AI does not reply.",
    "conv.handoff.done": "Handed to a person.",
    "conv.suggest": "Suggest replies",
    "conv.suggest.busy": "Drafting…",
    "conv.suggest.list": "Suggested replies",
    "conv.suggest.use": "Use in the answer",
    "conv.suggest.use.label": "Put suggestion {n} in the answer box",
    "conv.suggest.none": "No customer message yet to suggest replies to.",
    "conv.suggest.no_assistant": "The thread has no assistant to draft replies with.",
    "conv.suggest.cost": "{model} · {tokens} tokens · {cost}",
    "conv.answer": "Your answer",
    "conv.answer.hint": "Sent to the customer as a person and kept in the transcript.",
    "conv.answer.submit": "Send the answer",
    "conv.answer.sent": "Answer sent.",
    "conv.release": "Release to the AI",
    "conv.released": "Released to the AI.",
    "conv.erase": "Erase the customer's data",
    "conv.erase.hint": "Deletes what every store holds of this customer (PIPL): messages, runs, memories and their vectors, cached windows, and the thread itself. It cannot be undone.",
    "conv.erase.confirm": "I confirm erasing all of this thread's customer data for good",
    "conv.erase.submit": "Erase for good",
    "conv.erase.done": "Erased. What each store removed:",
    "conv.erase.pending": "The erasure is not finished ({error}); it continues by itself. Erase again later to see its receipt.",
  },
});

const PAGE_SIZE = 20;
const MESSAGES = 100;
const RUNS = 100;
const AGENT_ORDER = ["compliance_input", "sentiment", "intent", "memory", "products", "sales", "compliance_output"];

// The list's filter and page survive opening a thread and coming back.
const listState = { handoff: "", page: 1 };
// Runs whose details the operator opened stay open when the view reloads.
const opened = new Set();

// t(key) when the catalog has it, else the value itself (statuses and labels the API may add later).
function label(prefix, value) {
  const key = `${prefix}.${value}`;
  const text = t(key);
  return text === key ? String(value) : text;
}

function displayName(thread) {
  const main = thread.nickname || thread.name || thread.real_name;
  if (!main) return t("conv.anonymous");
  const other = [thread.name, thread.real_name].find((value) => value && value !== main);
  return other ? `${main}（${other}）` : main;
}

function statusBadge(thread) {
  const status = thread.status || "IDLE";
  return h("span", { class: `badge conv-status status-${status.toLowerCase()}`, "data-testid": "thread-status" },
    label("conv.status", status));
}

function milliseconds(value) {
  return value === null || value === undefined ? "—" : `${Math.round(Number(value))} ms`;
}

function seconds(value) {
  return value === null || value === undefined ? "—" : `${Number(value).toFixed(2)} s`;
}

// ---------------------------------------------------------------------------------------------------- the list

async function listView(root) {
  const results = h("div", { class: "conv-results", "aria-live": "polite" });
  const choices = [["", "conv.filter.all"], ["true", "conv.filter.human"], ["false", "conv.filter.ai"]];
  const name = `conv-filter-${Math.random().toString(36).slice(2, 7)}`;
  const filter = h("fieldset", { class: "conv-filter" },
    h("legend", {}, t("conv.filter")),
    choices.map(([value, key]) => h("label", { class: "conv-choice" },
      h("input", { type: "radio", name, value, checked: listState.handoff === value, onchange: () => {
        listState.handoff = value;
        listState.page = 1;
        load();
      } }),
      h("span", {}, t(key)))));
  const refresh = h("button", { type: "button", class: "secondary", onclick: () => load() }, t("refresh"));

  async function load() {
    clear(results).append(h("p", { class: "muted" }, t("loading")));
    try {
      const body = await api("GET", "/v1/threads", { query: { handoff: listState.handoff, page: listState.page, page_size: PAGE_SIZE } });
      if (!body.items.length && body.page > 1 && body.total > 0) {
        listState.page = Math.max(1, Math.ceil(body.total / body.page_size));
        return load();
      }
      clear(results);
      if (!body.items.length) {
        results.append(h("p", { class: "muted" }, t("empty")));
        return;
      }
      results.append(
        h("ul", { class: "conv-list", "aria-label": t("conv.list"), "data-testid": "thread-list" }, body.items.map(threadRow)),
        pager(body, (page) => { listState.page = page; load(); }));
    } catch (error) {
      clear(results).append(errorBox(error));
    }
  }

  root.append(h("div", { class: "conv-toolbar" }, filter, refresh), results);
  await load();
}

function threadRow(thread) {
  const handedOff = thread.status === "HANDOFF";
  return h("li", { class: handedOff ? "handoff" : "", "data-thread-id": thread.thread_id },
    h("a", { href: `#/conversations/${encodeURIComponent(thread.thread_id)}`, class: "conv-row" },
      h("span", { class: "conv-row-head" },
        h("strong", { class: "conv-name" }, displayName(thread)),
        statusBadge(thread)),
      handedOff && thread.handoff_reason ? h("span", { class: "conv-reason" }, t("conv.reason", { reason: thread.handoff_reason })) : null,
      h("span", { class: "conv-row-meta muted" },
        h("span", {}, t("conv.updated", { time: formatTime(thread.updated_at) })),
        h("code", {}, thread.thread_id))));
}

// ---------------------------------------------------------------------------------------------------- a thread

async function threadView(root, threadId) {
  const base = `/v1/threads/${encodeURIComponent(threadId)}`;
  const back = h("p", { class: "conv-back" }, h("a", { href: "#/conversations" }, t("conv.back")));
  const body = h("div", { class: "conv-thread" });
  const state = { thread: null, messages: [], hasMore: false, before: null, runs: [] };
  root.append(back, body);

  async function fetchAll() {
    const [thread, page, runs] = await Promise.all([
      api("GET", base),
      api("GET", `${base}/messages`, { query: { limit: MESSAGES } }),
      api("GET", `${base}/runs`, { query: { limit: RUNS } }),
    ]);
    Object.assign(state, {
      thread,
      messages: [...page.messages].reverse(),
      hasMore: page.has_more,
      before: page.next_before,
      runs: runs.runs,
    });
  }

  async function loadOlder() {
    const page = await api("GET", `${base}/messages`, { query: { limit: MESSAGES, before: state.before } });
    state.messages = [...[...page.messages].reverse(), ...state.messages];
    state.hasMore = page.has_more;
    state.before = page.next_before;
  }

  // Reloads everything and draws it again; `focus` names what gets the focus afterwards, `notice` what to announce.
  async function reload({ focus = null, notice = null } = {}) {
    await fetchAll();
    draw({ focus, notice });
  }

  function draw({ focus = null, notice = null } = {}) {
    const { thread } = state;
    const status = h("div", { class: "status", role: "status" }, notice || "");
    const head = h("section", { class: "card conv-head" },
      h("div", { class: "conv-head-line" },
        h("h2", { id: "conv-thread-title", tabindex: "-1" }, displayName(thread)),
        statusBadge(thread),
        h("button", { type: "button", class: "secondary", onclick: () => guarded(status, () => reload({ focus: "title" })) }, t("refresh"))),
      thread.status === "HANDOFF" && thread.handoff_reason
        ? h("p", { class: "conv-reason", "data-testid": "handoff-reason" }, t("conv.reason", { reason: thread.handoff_reason }))
        : null,
      status);
    const transcript = transcriptSection(state, async (button) => {
      button.disabled = true;
      try {
        await loadOlder();
        draw({ focus: "transcript" });
      } catch (error) {
        button.disabled = false;
        button.after(errorBox(error));
      }
    });
    const aside = h("div", { class: "conv-side" }, handoffPanel(state, base, status, reload), profileCard(thread),
      session.can("tenant:admin") ? erasePanel(base) : null);
    clear(body).append(head, h("div", { class: "conv-grid" }, transcript, aside));
    if (focus === "title") body.querySelector("#conv-thread-title")?.focus();
    else if (focus === "transcript") body.querySelector(".transcript")?.focus();
    else if (focus) body.querySelector(focus)?.focus();
  }

  try {
    await fetchAll();
  } catch (error) {
    // Another tenant's thread is the API's 404 like a missing one: nothing of it is shown.
    clear(body).append(errorBox(error), error.status ? h("p", { class: "muted", "data-testid": "http-status" }, `HTTP ${error.status}`) : null);
    return;
  }
  draw();
}

// Runs `action`; an API error is shown in `where` instead of escaping.
async function guarded(where, action) {
  try {
    await action();
  } catch (error) {
    clear(where).append(errorBox(error));
  }
}

function profileCard(thread) {
  const rows = [
    ["nickname", thread.nickname],
    ["name", thread.name],
    ["real_name", thread.real_name],
    ["sex", thread.sex ? label("conv.sex", thread.sex) : null],
    ["age", thread.age],
    ["phone", thread.phone],
    ["occupation", thread.occupation],
    ["services", thread.services && thread.services.length ? thread.services.join("、") : null],
    ["is_converted", t(thread.is_converted ? "conv.yes" : "conv.no")],
    ["assistant_id", thread.assistant_id],
    ["handoff_at", thread.handoff_at ? formatTime(thread.handoff_at) : null],
    ["created_at", formatTime(thread.created_at)],
    ["updated_at", formatTime(thread.updated_at)],
    ["thread_id", thread.thread_id],
  ];
  const metadata = thread.metadata && Object.keys(thread.metadata).length ? thread.metadata : null;
  return h("section", { class: "card conv-profile", "aria-labelledby": "conv-profile-title", "data-testid": "profile" },
    h("h2", { id: "conv-profile-title" }, t("conv.profile")),
    h("dl", { class: "conv-dl" }, rows.filter(([, value]) => value !== null && value !== undefined && value !== "").map(([key, value]) => [
      h("dt", {}, t(`conv.field.${key}`)),
      h("dd", { "data-field": key }, key === "thread_id" || key === "assistant_id" ? h("code", {}, String(value)) : String(value)),
    ])),
    metadata ? [h("h3", {}, t("conv.field.metadata")), h("pre", {}, JSON.stringify(metadata, null, 2))] : null);
}

// ---------------------------------------------------------------------------------------------------- transcript

function author(message) {
  if (message.author === "human") return "human";
  if (message.role === "user") return "customer";
  if (message.role === "assistant") return "ai";
  return "system";
}

function messageContent(content) {
  if (typeof content === "string") return h("div", { class: "msg-body" }, content);
  if (Array.isArray(content)) {
    return h("div", { class: "msg-body" }, content.map((part) => {
      if (part && part.type === "text") return h("p", {}, String(part.content ?? ""));
      const url = String((part && part.content) || "");
      const kind = label("conv.media", part && part.type);
      return h("p", { class: "msg-media" }, `[${kind}] `,
        /^https?:\/\//i.test(url) ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, url) : url);
    }));
  }
  return h("div", { class: "msg-body" }, h("pre", {}, JSON.stringify(content, null, 2)));
}

function transcriptSection(state, loadOlder) {
  const runsById = new Map(state.runs.map((run) => [run.run_id, run]));
  // Each run's details go under its last message in the transcript.
  const lastOfRun = new Map();
  state.messages.forEach((message, index) => { if (message.run_id && runsById.has(message.run_id)) lastOfRun.set(message.run_id, index); });
  const items = state.messages.map((message, index) => {
    const who = author(message);
    const run = message.run_id && lastOfRun.get(message.run_id) === index ? runsById.get(message.run_id) : null;
    return h("li", { class: `msg from-${who}`, "data-author": who, "data-message-id": message.message_id },
      h("div", { class: "msg-meta" },
        h("span", { class: "msg-who", "data-testid": "message-author" }, t(`conv.author.${who}`)),
        h("time", { datetime: message.created_at }, formatTime(message.created_at))),
      messageContent(message.content),
      run ? runDetails(run) : null);
  });
  const others = state.runs.filter((run) => !lastOfRun.has(run.run_id));
  const older = state.hasMore
    ? h("button", { type: "button", class: "secondary conv-older", onclick: (event) => loadOlder(event.currentTarget) }, t("conv.older"))
    : null;
  return h("section", { class: "conv-transcript", "aria-labelledby": "conv-transcript-title" },
    h("h2", { id: "conv-transcript-title" }, t("conv.transcript")),
    older,
    items.length
      ? h("ol", { class: "transcript", "data-testid": "transcript", tabindex: "-1", "aria-labelledby": "conv-transcript-title" }, items)
      : h("p", { class: "muted" }, t("conv.transcript.empty")),
    // Runs with no message here: failed or cancelled ones, or ones whose messages are older than those loaded.
    others.length && !state.hasMore
      ? [h("h3", {}, t("conv.other_runs")), h("ul", { class: "conv-other-runs" }, [...others].reverse().map((run) => h("li", {}, runDetails(run))))]
      : null);
}

// ---------------------------------------------------------------------------------------------------- a run

function runDetails(run) {
  const result = run.result || {};
  const tokens = `${run.input_tokens ?? 0} / ${run.output_tokens ?? 0}`;
  const summaryText = t("conv.run.summary", {
    status: run.status,
    model: run.model || "—",
    tokens,
    cost: formatMoney(run.cost_usd),
    time: seconds(result.processing_time),
  });
  const details = h("details", { class: "run", "data-testid": "run-details", "data-run-id": run.run_id, open: opened.has(run.run_id),
                                 ontoggle: (event) => { if (event.currentTarget.open) opened.add(run.run_id); else opened.delete(run.run_id); } },
    h("summary", {}, h("strong", {}, t("conv.run")), " ", h("span", { class: "muted" }, summaryText)),
    runBody(run));
  return details;
}

function runBody(run) {
  const result = run.result || {};
  const timings = result.timings || null;
  const facts = [
    ["conv.run.status", h("span", { class: `badge run-${run.status}`, "data-testid": "run-status" }, run.status)],
    ["conv.run.model", run.model || run.requested_model || "—"],
    ["conv.run.tokens", h("span", { "data-testid": "run-tokens" }, `${run.input_tokens ?? 0} / ${run.output_tokens ?? 0}`)],
    ["conv.run.cost", h("span", { "data-testid": "run-cost" }, formatMoney(run.cost_usd))],
    ["conv.run.time", h("span", { "data-testid": "run-time" }, seconds(result.processing_time))],
    ["conv.run.mode", run.mode],
    ["conv.run.created", formatTime(run.created_at)],
    ["conv.run.id", h("code", {}, run.run_id)],
  ];
  const parts = [h("dl", { class: "conv-dl run-facts" }, facts.map(([key, value]) => [h("dt", {}, t(key)), h("dd", {}, value)]))];
  if (timings) {
    parts.push(h("p", { class: "run-timings" }, h("strong", {}, t("conv.run.timings")), " ",
      ["queued_ms", "context_ms", "agents_ms", "first_token_ms", "generation_ms", "total_ms"]
        .filter((name) => timings[name] !== null && timings[name] !== undefined)
        .map((name) => `${t(`conv.timing.${name}`)} ${milliseconds(timings[name])}`).join(" · ")));
  }
  if (result.status === "handoff") parts.push(h("p", { class: "conv-reason" }, t("conv.run.handoff", { reason: result.handoff_reason || "" })));
  if (result.blocked) parts.push(h("p", { class: "conv-warn" }, t("conv.run.blocked")));
  if (run.error) parts.push(h("p", { class: "error" }, t("conv.run.error", { message: `${run.error.code || ""} ${run.error.message || ""}`.trim() })));
  const invitation = result.invitation;
  if (invitation && invitation.status === 1) {
    parts.push(h("p", {}, t("conv.run.invitation", { service: invitation.service || "", time: invitation.time || "",
                                                    name: invitation.name || "", phone: invitation.phone || "" })));
  }
  const steps = agentSteps(result.agents);
  if (steps.length) {
    parts.push(h("h3", {}, t("conv.agents")), h("ul", { class: "agents" }, steps.map(([name, step]) => agentItem(name, step))));
  }
  parts.push(h("details", { class: "run-raw" }, h("summary", {}, t("conv.run.raw")), h("pre", {}, JSON.stringify(run, null, 2))));
  return h("div", { class: "run-body" }, parts);
}

// The stored `agents` nests compliance as {input, output}: flattened here, in the graph's order.
function agentSteps(agents) {
  if (!agents || typeof agents !== "object") return [];
  const flat = {};
  for (const [name, step] of Object.entries(agents)) {
    if (name === "compliance" && step && typeof step === "object" && !("status" in step)) {
      if (step.input) flat.compliance_input = step.input;
      if (step.output) flat.compliance_output = step.output;
    } else if (step) {
      flat[name] = step;
    }
  }
  const known = AGENT_ORDER.filter((name) => name in flat);
  const rest = Object.keys(flat).filter((name) => !AGENT_ORDER.includes(name));
  return [...known, ...rest].map((name) => [name, flat[name]]);
}

function agentItem(name, step) {
  const summary = step.output ? agentSummary(name, step.output) : null;
  return h("li", { class: `agent agent-${step.status}`, "data-agent": name, "data-testid": `agent-${name}` },
    h("div", { class: "agent-head" },
      h("strong", {}, label("conv.agent", name)),
      h("span", { class: `badge agent-status status-${step.status}` }, label("conv.agent.status", step.status)),
      h("span", { class: "muted" }, milliseconds(step.latency_ms))),
    step.reason ? h("p", { class: "muted" }, t("conv.agent.reason", { reason: step.reason })) : null,
    summary);
}

function verdictBadge(verdict, testid) {
  return h("span", { class: `badge verdict-${verdict}`, "data-testid": testid }, label("conv.verdict", verdict));
}

function violationsList(violations) {
  if (!violations || !violations.length) return h("p", { class: "muted" }, t("conv.no_findings"));
  return h("ul", { class: "conv-violations" }, violations.map((violation) =>
    h("li", { "data-category": violation.category },
      h("strong", { "data-testid": "finding-category" }, categoryName(violation.category)), " ",
      violation.span && violation.span.text ? h("code", {}, violation.span.text) : null, " ",
      h("span", { class: "muted" }, `(${[violation.rule_id, violation.severity].filter(Boolean).join(", ")})`),
      violation.message ? h("div", { class: "law" }, violation.message) : null,
      violation.suggestion ? h("div", {}, t("conv.suggestion", { text: violation.suggestion })) : null)));
}

function agentSummary(name, output) {
  switch (name) {
    case "compliance_input":
      return h("div", { class: "agent-body" },
        verdictBadge(output.verdict, "input-verdict"),
        violationsList(output.violations),
        output.safe_reply ? h("p", {}, t("conv.safe_reply", { text: output.safe_reply })) : null);
    case "compliance_output":
      return h("div", { class: "agent-body" },
        verdictBadge(output.verdict, "output-verdict"), " ",
        output.checks !== undefined ? h("span", { class: "muted" }, t("conv.checks", { n: output.checks })) : null,
        violationsList(output.violations));
    case "sentiment":
      return h("div", { class: "agent-body" },
        h("span", { class: `badge sentiment-${output.label}`, "data-testid": "sentiment-label" }, label("conv.sentiment", output.label)), " ",
        output.score !== undefined && output.score !== null ? h("span", { class: "muted" }, t("conv.sentiment.score", { score: output.score })) : null,
        output.urgency ? h("div", {}, t("conv.urgency", { level: label("conv.urgency", output.urgency) })) : null,
        output.cues && output.cues.length ? h("div", {}, t("conv.cues", { cues: output.cues.join("、") })) : null);
    case "intent": {
      const entities = output.entities || {};
      const services = entities.services || [];
      const assets = output.asset_requests || [];
      return h("div", { class: "agent-body", "data-testid": "intent" },
        h("div", {}, t("conv.intent.appointment", {
          value: `${t(output.appointment ? "conv.yes" : "conv.no")}${output.strength ? `（${label("conv.intent.strength", output.strength)}）` : ""}`,
        })),
        output.time_text || output.time ? h("div", {}, t("conv.intent.time", { time: output.time_text || output.time })) : null,
        services.length ? h("div", {}, t("conv.intent.services", { services: services.join("、") })) : null,
        assets.length ? h("div", {}, t("conv.intent.assets", { assets: assets.map((asset) => label("conv.asset", asset)).join("、") })) : null);
    }
    case "memory": {
      const hits = output.memories || [];
      return h("div", { class: "agent-body" },
        h("div", { class: "muted" }, t("conv.memory.window", { n: (output.window || []).length }), " · ",
          t("conv.memory.hits", { n: hits.length })),
        hits.length ? h("ul", { class: "conv-hits" }, hits.map((hit) => h("li", {},
          (hit.memory && hit.memory.text) || "", " ",
          h("span", { class: "muted" }, `(${Number(hit.score || 0).toFixed(2)})`)))) : null);
    }
    case "products": {
      const products = output.products || [];
      if (!products.length) return h("p", { class: "muted" }, t("conv.products.none"));
      return h("ul", { class: "conv-hits" }, products.map((product) => h("li", {},
        h("strong", {}, product.name || product.product_id), " ",
        product.category ? h("span", {}, product.category) : null, " ",
        product.price !== null && product.price !== undefined ? h("span", {}, `¥${product.price}`) : null, " ",
        h("span", { class: "muted" }, `(${Number(product.score || 0).toFixed(2)})`))));
    }
    case "sales":
      return h("div", { class: "agent-body muted" },
        [output.model, output.provider].filter(Boolean).join(" / "),
        output.attempts ? ` · ${t("conv.sales.attempts", { n: output.attempts.length })}` : "",
        output.regenerated ? ` · ${t("conv.sales.regenerated")}` : "");
    default:
      return h("pre", { class: "agent-body" }, JSON.stringify(output, null, 2));
  }
}

// ---------------------------------------------------------------------------------------------------- hand-off

function handoffPanel(state, base, status, reload) {
  const { thread } = state;
  const heading = h("h2", { id: "conv-handoff-title" }, t("conv.handoff"));
  if (thread.status !== "HANDOFF") {
    const reason = h("input", { type: "text", name: "handoff_reason", maxlength: 200, required: true, autocomplete: "off" });
    const submit = h("button", { type: "submit" }, t("conv.handoff.submit"));
    const form = h("form", { class: "card conv-handoff", "aria-labelledby": "conv-handoff-title", onsubmit: async (event) => {
      event.preventDefault();
      if (!reason.value.trim()) { reason.focus(); return; }
      submit.disabled = true;
      await guarded(status, async () => {
        await api("POST", `${base}/handoff`, { body: { reason: reason.value.trim() } });
        await reload({ focus: "#conv-thread-title", notice: t("conv.handoff.done") });
      });
      submit.disabled = false;
    } },
      heading,
      field(t("conv.handoff.reason"), reason, t("conv.handoff.reason.hint")),
      submit);
    return form;
  }

  const answer = h("textarea", { name: "answer", rows: 4, maxlength: 20000, required: true });
  const suggestions = h("div", { class: "conv-suggestions", "aria-live": "polite" });
  const customer = [...state.messages].reverse().find((message) => message.role === "user" && message.author !== "human");
  const latestRun = state.runs.find((run) => run.assistant_id);
  const assistantId = thread.assistant_id || (latestRun && latestRun.assistant_id);
  const blocker = !customer ? t("conv.suggest.none") : !assistantId ? t("conv.suggest.no_assistant") : null;

  const suggest = h("button", { type: "button", class: "secondary", disabled: Boolean(blocker), onclick: async () => {
    suggest.disabled = true;
    clear(suggestions).append(h("p", { class: "muted" }, t("conv.suggest.busy")));
    try {
      // The replies for the customer's latest message (the thread's recent history is the context).
      const drafted = await api("POST", `${base}/runs/suggestion`, {
        body: { assistant_id: assistantId, input: [{ role: "user", content: customer.content }] },
      });
      clear(suggestions).append(
        h("h3", { id: "conv-suggest-title" }, t("conv.suggest.list")),
        h("ol", { class: "conv-suggestion-list", "data-testid": "suggestions", "aria-labelledby": "conv-suggest-title" },
          drafted.response.map((text, index) => h("li", {},
            h("p", { class: "suggestion-text" }, text),
            h("button", { type: "button", class: "secondary", "aria-label": t("conv.suggest.use.label", { n: index + 1 }), onclick: () => {
              answer.value = text;
              answer.focus();
            } }, t("conv.suggest.use"))))),
        h("p", { class: "muted" }, t("conv.suggest.cost", {
          model: drafted.model, tokens: (drafted.input_tokens || 0) + (drafted.output_tokens || 0), cost: formatMoney(drafted.cost_usd),
        })));
    } catch (error) {
      clear(suggestions).append(errorBox(error));
    }
    suggest.disabled = false;
  } }, t("conv.suggest"));

  const send = h("button", { type: "submit" }, t("conv.answer.submit"));
  const form = h("form", { class: "conv-answer", onsubmit: async (event) => {
    event.preventDefault();
    const content = answer.value.trim();
    if (!content) { answer.focus(); return; }
    send.disabled = true;
    await guarded(status, async () => {
      await api("POST", `${base}/messages`, { body: { role: "assistant", content, author: "human" } });
      await reload({ focus: "textarea[name=answer]", notice: t("conv.answer.sent") });
    });
    send.disabled = false;
  } },
    field(t("conv.answer"), answer, t("conv.answer.hint")),
    send);

  const release = h("button", { type: "button", class: "secondary", onclick: async () => {
    release.disabled = true;
    await guarded(status, async () => {
      await api("POST", `${base}/release`);
      await reload({ focus: "#conv-thread-title", notice: t("conv.released") });
    });
    release.disabled = false;
  } }, t("conv.release"));

  return h("section", { class: "card conv-handoff", "aria-labelledby": "conv-handoff-title", "data-testid": "handoff-panel" },
    heading,
    h("p", {}, t("conv.handoff.active")),
    h("div", { class: "conv-actions" }, suggest, release),
    blocker ? h("p", { class: "muted" }, blocker) : null,
    suggestions,
    form);
}

// ---------------------------------------------------------------------------------------------------- erasure

function erasePanel(base) {
  const heading = h("h2", { id: "conv-erase-title" }, t("conv.erase"));
  const outcome = h("div", { "aria-live": "polite", "data-testid": "erase-outcome" });
  const confirmed = h("input", { type: "checkbox", name: "erase_confirm", required: true });
  const submit = h("button", { type: "submit", class: "danger" }, t("conv.erase.submit"));
  const form = h("form", { class: "card conv-erase", "aria-labelledby": "conv-erase-title", onsubmit: async (event) => {
    event.preventDefault();
    if (!confirmed.checked) { confirmed.focus(); return; }
    submit.disabled = true;
    await guarded(outcome, async () => {
      const erasure = await api("DELETE", base, { query: { erase: "true" } });
      if (erasure.state !== "done") {
        clear(outcome).append(h("p", {}, t("conv.erase.pending", { error: erasure.last_error || erasure.state })));
        return;
      }
      clear(form).append(heading, h("p", {}, t("conv.erase.done")),
        h("ul", { class: "conv-receipt", "data-testid": "erase-receipt" },
          Object.entries(erasure.receipt).map(([store, count]) => h("li", {}, `${store}: ${count}`))));
    });
    submit.disabled = false;
  } },
    heading,
    h("p", { class: "muted" }, t("conv.erase.hint")),
    h("label", { class: "conv-erase-confirm" }, confirmed, " ", t("conv.erase.confirm")),
    submit,
    outcome);
  return form;
}

export default {
  path: "conversations",
  title: "nav.conversations",
  scope: "tenant:chat",
  async render(root, params = []) {
    const [threadId] = params;
    if (threadId) await threadView(root, threadId);
    else await listView(root);
  },
};
