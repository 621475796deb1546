// Assistants and their versioned prompts: list and create the tenant's assistants; pick one (#/prompts/<assistant_id>)
// to edit its active prompt_config, checked by POST /v1/prompts/validate before every save (each issue shown on the
// field it names); every save, edit or rollback appends a version; any two versions can be compared side by side.

import { api, ApiError } from "../api.js";
import { clear, field, formatTime, h } from "../dom.js";
import { register, t } from "../i18n.js";
import { errorBox, pager } from "../ui.js";

register({
  "zh-CN": {
    "prompts.assistants": "助手列表",
    "prompts.assistants.none": "还没有助手，请先新建一个。",
    "prompts.assistants.meta": "{occupation} · {industry} · {status}",
    "prompts.status.ACTIVE": "启用",
    "prompts.status.INACTIVE": "停用",
    "prompts.create": "新建助手",
    "prompts.create.submit": "创建助手",
    "prompts.create.failed": "助手未创建，请按提示修改。",
    "prompts.created": "已创建助手“{name}”，现在可以为它编写提示词。",
    "prompts.field.assistant_name": "助手名称",
    "prompts.field.personality": "性格",
    "prompts.field.occupation": "职业",
    "prompts.field.industry": "行业",
    "prompts.pick": "在列表中选择一个助手，查看并编辑它的提示词。",
    "prompts.editor": "提示词",
    "prompts.editor.title": "提示词：{name}",
    "prompts.active": "当前生效版本 v{version}",
    "prompts.noversion": "该助手还没有提示词，保存后生成 v1。",
    "prompts.cfg.personality_prompt": "人设提示词",
    "prompts.cfg.personality_prompt.hint": "必填。可用占位符：{assistant_name}、{nickname}、{occupation}、{brand_name}、{customer_name}、{customer_nickname}、{current_time}、{products}、{memories}、{industry}。",
    "prompts.cfg.safety_guidelines": "安全准则",
    "prompts.cfg.forbidden_topics": "禁止话题",
    "prompts.cfg.lines.hint": "每行一条。",
    "prompts.cfg.greeting_prompt": "开场白",
    "prompts.cfg.product_recommendation_prompt": "产品推荐话术",
    "prompts.cfg.objection_handling_prompt": "异议处理话术",
    "prompts.cfg.closing_prompt": "收尾话术",
    "prompts.cfg.context_instructions": "上下文说明",
    "prompts.cfg.brand_voice": "品牌语气",
    "prompts.cfg.product_knowledge": "产品知识",
    "prompts.cfg.llm_parameters.model": "模型",
    "prompts.cfg.llm_parameters.temperature": "温度（0–2）",
    "prompts.cfg.llm_parameters.max_tokens": "最大输出 token 数",
    "prompts.cfg.llm.hint": "留空则使用默认值。",
    "prompts.more": "更多字段（话术、品牌、模型参数）",
    "prompts.validate": "检查",
    "prompts.save": "保存为新版本",
    "prompts.revert": "放弃修改",
    "prompts.checking": "正在检查…",
    "prompts.valid": "检查通过，没有发现问题。",
    "prompts.invalid": "发现 {n} 个问题，已标在对应字段下，请修改后再保存。",
    "prompts.warnings": "有 {n} 条提醒，已标在对应字段下。",
    "prompts.issue.item": "第 {n} 条：",
    "prompts.issue.other": "其他问题",
    "prompts.saved": "已保存，当前生效版本为 v{version}。",
    "prompts.unchanged": "与当前版本相比没有改动，无需保存。",
    "prompts.conflict": "保存冲突：你是在 v{base} 上修改的，但现在生效的是 v{latest}（可能有人刚刚保存过）。你的修改仍保留在表单中；请重新加载最新版本，再把修改应用上去。",
    "prompts.reload": "重新加载最新版本",
    "prompts.history": "版本历史",
    "prompts.history.limit": "只列出最近 {n} 个版本。",
    "prompts.col.version": "版本",
    "prompts.col.note": "说明",
    "prompts.col.created": "创建时间",
    "prompts.col.actions": "操作",
    "prompts.current": "当前",
    "prompts.rollback": "回滚到 v{version}",
    "prompts.rolledback": "已回滚：v{from} 的内容现为生效版本 v{version}。",
    "prompts.diff": "版本对比",
    "prompts.diff.left": "左侧版本",
    "prompts.diff.right": "右侧版本",
    "prompts.diff.need2": "至少有两个版本时才能对比。",
    "prompts.diff.summary": "v{a} → v{b}：删除 {del} 行，新增 {ins} 行。",
    "prompts.diff.same": "v{a} 与 v{b} 的内容相同。",
    "prompts.diff.approx": "改动过多，未逐行比对：变化部分整体显示为删除与新增。",
  },
  en: {
    "prompts.assistants": "Assistants",
    "prompts.assistants.none": "No assistant yet: create one first.",
    "prompts.assistants.meta": "{occupation} · {industry} · {status}",
    "prompts.status.ACTIVE": "active",
    "prompts.status.INACTIVE": "inactive",
    "prompts.create": "New assistant",
    "prompts.create.submit": "Create assistant",
    "prompts.create.failed": "The assistant was not created: see the fields below.",
    "prompts.created": "Assistant “{name}” created: now write its prompt.",
    "prompts.field.assistant_name": "Assistant name",
    "prompts.field.personality": "Personality",
    "prompts.field.occupation": "Occupation",
    "prompts.field.industry": "Industry",
    "prompts.pick": "Pick an assistant in the list to see and edit its prompt.",
    "prompts.editor": "Prompt",
    "prompts.editor.title": "Prompt: {name}",
    "prompts.active": "Active version v{version}",
    "prompts.noversion": "This assistant has no prompt yet; saving creates v1.",
    "prompts.cfg.personality_prompt": "Persona prompt",
    "prompts.cfg.personality_prompt.hint": "Required. Placeholders: {assistant_name}, {nickname}, {occupation}, {brand_name}, {customer_name}, {customer_nickname}, {current_time}, {products}, {memories}, {industry}.",
    "prompts.cfg.safety_guidelines": "Safety guidelines",
    "prompts.cfg.forbidden_topics": "Forbidden topics",
    "prompts.cfg.lines.hint": "One per line.",
    "prompts.cfg.greeting_prompt": "Greeting",
    "prompts.cfg.product_recommendation_prompt": "Product recommendation",
    "prompts.cfg.objection_handling_prompt": "Objection handling",
    "prompts.cfg.closing_prompt": "Closing",
    "prompts.cfg.context_instructions": "Context instructions",
    "prompts.cfg.brand_voice": "Brand voice",
    "prompts.cfg.product_knowledge": "Product knowledge",
    "prompts.cfg.llm_parameters.model": "Model",
    "prompts.cfg.llm_parameters.temperature": "Temperature (0–2)",
    "prompts.cfg.llm_parameters.max_tokens": "Max output tokens",
    "prompts.cfg.llm.hint": "Leave empty for the default.",
    "prompts.more": "More fields (scripts, brand, model parameters)",
    "prompts.validate": "Check",
    "prompts.save": "Save as a new version",
    "prompts.revert": "Discard changes",
    "prompts.checking": "Checking…",
    "prompts.valid": "Checked: no issue found.",
    "prompts.invalid": "{n} issue(s) found, shown under their fields: fix them before saving.",
    "prompts.warnings": "{n} warning(s), shown under their fields.",
    "prompts.issue.item": "Item {n}: ",
    "prompts.issue.other": "Other issues",
    "prompts.saved": "Saved: v{version} is now active.",
    "prompts.unchanged": "Nothing differs from the active version: nothing to save.",
    "prompts.conflict": "Save conflict: you edited v{base}, but v{latest} is active now (someone may have just saved). Your changes are still in the form; reload the latest version and apply them again.",
    "prompts.reload": "Reload the latest version",
    "prompts.history": "Version history",
    "prompts.history.limit": "Only the latest {n} versions are listed.",
    "prompts.col.version": "Version",
    "prompts.col.note": "Note",
    "prompts.col.created": "Created",
    "prompts.col.actions": "Actions",
    "prompts.current": "active",
    "prompts.rollback": "Roll back to v{version}",
    "prompts.rolledback": "Rolled back: the content of v{from} is now the active v{version}.",
    "prompts.diff": "Compare versions",
    "prompts.diff.left": "Left version",
    "prompts.diff.right": "Right version",
    "prompts.diff.need2": "Comparing needs at least two versions.",
    "prompts.diff.summary": "v{a} → v{b}: {del} line(s) removed, {ins} added.",
    "prompts.diff.same": "v{a} and v{b} hold the same content.",
    "prompts.diff.approx": "Too many changes to compare line by line: the changed part is shown as removed and added as a whole.",
  },
});

const PAGE_SIZE = 10;
const HISTORY_LIMIT = 100;
const DIFF_MAX_CELLS = 1_000_000; // LCS table size (lines × lines) above which the changed middle is not aligned
const TEXT_FIELDS = ["personality_prompt", "greeting_prompt", "product_recommendation_prompt", "objection_handling_prompt",
  "closing_prompt", "context_instructions", "brand_voice", "product_knowledge"];
const LIST_FIELDS = ["safety_guidelines", "forbidden_topics"];
const LLM_FIELDS = ["model", "temperature", "max_tokens"];
const CONFIG_KEYS = [...TEXT_FIELDS, ...LIST_FIELDS, "llm_parameters"];
const MORE_FIELDS = new Set(["product_recommendation_prompt", "objection_handling_prompt", "closing_prompt", "context_instructions",
  "brand_voice", "product_knowledge", "llm_parameters"]);

const enc = encodeURIComponent;
let flash = null; // a notice shown once by the next render (after creating an assistant, the route changes)

// ---------------------------------------------------------------------------------------------------------------
// The line diff (exported for reuse): an LCS over lines, after trimming the common head and tail; when the changed
// middle would need a table larger than `maxCells`, it is reported as removed then added (`exact: false`).

export function diffLines(a, b, maxCells = DIFF_MAX_CELLS) {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start += 1;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) { endA -= 1; endB -= 1; }
  const ops = a.slice(0, start).map((text) => ({ op: "same", text }));
  const n = endA - start;
  const m = endB - start;
  let exact = true;
  if (n * m > maxCells) {
    exact = false;
    for (let i = start; i < endA; i += 1) ops.push({ op: "del", text: a[i] });
    for (let j = start; j < endB; j += 1) ops.push({ op: "ins", text: b[j] });
  } else {
    const width = m + 1;
    const lcs = new Uint32Array((n + 1) * width); // lcs[i][j]: LCS length of a[start+i..endA) and b[start+j..endB)
    for (let i = n - 1; i >= 0; i -= 1) {
      for (let j = m - 1; j >= 0; j -= 1) {
        lcs[i * width + j] = a[start + i] === b[start + j]
          ? lcs[(i + 1) * width + j + 1] + 1
          : Math.max(lcs[(i + 1) * width + j], lcs[i * width + j + 1]);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n && j < m) {
      if (a[start + i] === b[start + j]) { ops.push({ op: "same", text: a[start + i] }); i += 1; j += 1; }
      else if (lcs[(i + 1) * width + j] >= lcs[i * width + j + 1]) { ops.push({ op: "del", text: a[start + i] }); i += 1; }
      else { ops.push({ op: "ins", text: b[start + j] }); j += 1; }
    }
    for (; i < n; i += 1) ops.push({ op: "del", text: a[start + i] });
    for (; j < m; j += 1) ops.push({ op: "ins", text: b[start + j] });
  }
  for (let i = endA; i < a.length; i += 1) ops.push({ op: "same", text: a[i] });
  return { ops, exact };
}

function sortedKeys(value) {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((key) => [key, sortedKeys(value[key])]));
  }
  return value;
}

function pretty(config) {
  return JSON.stringify(sortedKeys(config ?? {}), null, 2);
}

function same(a, b) {
  return JSON.stringify(sortedKeys(a ?? null)) === JSON.stringify(sortedKeys(b ?? null));
}

// ---------------------------------------------------------------------------------------------------------------
// Fields that can show the issues the API names ("safety_guidelines.2" lands on safety_guidelines).

function issueSlots() {
  const slots = new Map();
  return {
    add(name, label, control, hint = null) {
      const wrap = field(label, control, hint);
      const list = h("ul", { class: "issues", id: `${control.id}-issues`, hidden: true });
      wrap.append(list);
      slots.set(name, { control, list, wrap });
      return wrap;
    },
    clear() {
      for (const { control, list } of slots.values()) {
        control.classList.remove("invalid");
        control.removeAttribute("aria-invalid");
        control.removeAttribute("aria-describedby");
        clear(list).hidden = true;
      }
    },
    // Shows each issue on its field; returns those that name no field here.
    show(issues) {
      const unplaced = [];
      for (const issue of issues) {
        const parts = String(issue.field || "").split(".");
        let name = null;
        for (let size = parts.length; size > 0 && !name; size -= 1) {
          const candidate = parts.slice(0, size).join(".");
          if (slots.has(candidate)) name = candidate;
        }
        if (!name) { unplaced.push(issue); continue; }
        const { control, list, wrap } = slots.get(name);
        const rest = parts.slice(name.split(".").length);
        const item = /^\d+$/.test(rest[0] || "") ? t("prompts.issue.item", { n: Number(rest[0]) + 1 }) : "";
        const warning = issue.severity === "warning";
        list.append(h("li", { class: warning ? "warning" : "", "data-code": issue.code || "" },
          item, issue.message, issue.code ? h("span", { class: "code" }, ` (${issue.code})`) : null));
        list.hidden = false;
        control.setAttribute("aria-describedby", list.id);
        if (!warning) {
          control.classList.add("invalid");
          control.setAttribute("aria-invalid", "true");
        }
        const details = wrap.closest("details");
        if (details) details.open = true;
      }
      return unplaced;
    },
    focusFirstInvalid() {
      for (const { control } of slots.values()) {
        if (control.getAttribute("aria-invalid") === "true") { control.focus(); return; }
      }
    },
  };
}

function issueList(issues) {
  if (!issues.length) return null;
  return h("div", { class: "error", role: "alert" }, h("strong", {}, t("prompts.issue.other")),
    h("ul", { class: "issues" }, issues.map((issue) => h("li", {}, `${issue.field || ""}: ${issue.message} (${issue.code || ""})`))));
}

// A 422's fields ({loc: ["body", "prompt_config", "x"], message}) as issues named like the validator's.
function fieldsAsIssues(error, prefix) {
  const fields = (error.details && error.details.fields) || [];
  return fields.map((item) => {
    const loc = (item.loc || []).map(String);
    const at = loc[0] === "body" ? loc.slice(1) : loc;
    const rest = prefix && at[0] === prefix ? at.slice(1) : at;
    return { field: rest.join("."), code: error.code, message: item.message, severity: "error" };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The assistants list and the create form.

async function loadList(box, page, currentId) {
  try {
    const body = await api("GET", "/v1/assistants", { query: { page, page_size: PAGE_SIZE } });
    const list = h("ul", { class: "assistant-list", "data-testid": "assistants" }, body.items.map((assistant) => {
      const current = assistant.assistant_id === currentId;
      return h("li", { class: current ? "current" : "" },
        h("a", { href: `#/prompts/${enc(assistant.assistant_id)}`, "aria-current": current ? "true" : null }, assistant.assistant_name),
        h("span", { class: "meta" }, t("prompts.assistants.meta", {
          occupation: assistant.occupation, industry: assistant.industry, status: t(`prompts.status.${assistant.status}`),
        })));
    }));
    clear(box).append(body.items.length ? list : h("p", { class: "muted" }, t("prompts.assistants.none")));
    if (body.total > body.page_size) box.append(pager(body, (next) => loadList(box, next, currentId)));
  } catch (error) {
    clear(box).append(errorBox(error));
  }
}

function createForm() {
  const slots = issueSlots();
  const name = h("input", { id: "af-assistant_name", name: "assistant_name", maxlength: 200, required: true, autocomplete: "off" });
  const personality = h("textarea", { id: "af-personality", name: "personality", rows: 3, maxlength: 4000, required: true });
  const occupation = h("input", { id: "af-occupation", name: "occupation", maxlength: 200, required: true, autocomplete: "off" });
  const industry = h("input", { id: "af-industry", name: "industry", maxlength: 200, required: true, autocomplete: "off" });
  const status = h("div", { class: "status", role: "status" });
  const submit = h("button", { type: "submit" }, t("prompts.create.submit"));
  const form = h("form", { class: "card create-assistant", "aria-labelledby": "create-title", onsubmit: async (event) => {
    event.preventDefault();
    slots.clear();
    clear(status);
    submit.disabled = true;
    try {
      const body = { assistant_name: name.value, personality: personality.value, occupation: occupation.value, industry: industry.value };
      const created = await api("POST", "/v1/assistants", { body });
      flash = t("prompts.created", { name: created.assistant_name });
      location.hash = `#/prompts/${enc(created.assistant_id)}`;
    } catch (error) {
      const unplaced = error instanceof ApiError ? slots.show(fieldsAsIssues(error, null)) : [];
      status.append(errorBox(error), issueList(unplaced));
      slots.focusFirstInvalid();
    } finally {
      submit.disabled = false;
    }
  } },
    h("h2", { id: "create-title" }, t("prompts.create")),
    slots.add("assistant_name", t("prompts.field.assistant_name"), name),
    slots.add("personality", t("prompts.field.personality"), personality),
    h("div", { class: "row" },
      slots.add("occupation", t("prompts.field.occupation"), occupation),
      slots.add("industry", t("prompts.field.industry"), industry)),
    submit,
    status);
  return form;
}

// ---------------------------------------------------------------------------------------------------------------
// The prompt editor of one assistant.

function readConfig(controls) {
  const config = {};
  for (const name of TEXT_FIELDS) {
    const value = controls[name].value;
    if (value.trim()) config[name] = value;
  }
  for (const name of LIST_FIELDS) {
    config[name] = controls[name].value.split(/\r?\n/).map((line) => line.trim()).filter(Boolean);
  }
  const llm = {};
  const model = controls["llm_parameters.model"].value.trim();
  if (model) llm.model = model;
  for (const name of ["temperature", "max_tokens"]) {
    const raw = controls[`llm_parameters.${name}`].value.trim();
    if (raw !== "") llm[name] = Number(raw);
  }
  if (Object.keys(llm).length) config.llm_parameters = llm;
  return config;
}

// The active config as the form would read it back, so that an untouched form has no change.
function normalized(config) {
  const out = {};
  for (const name of TEXT_FIELDS) if (typeof config[name] === "string" && config[name].trim()) out[name] = config[name];
  for (const name of LIST_FIELDS) out[name] = Array.isArray(config[name]) ? config[name] : [];
  const llm = Object.fromEntries(Object.entries(config.llm_parameters || {}).filter(([, value]) => value !== null && value !== undefined));
  if (Object.keys(llm).length) out.llm_parameters = llm;
  return out;
}

// The partial update: each field that differs from the active version (null clears an optional one).
function changesFrom(config, activeConfig) {
  const before = normalized(activeConfig);
  const patch = {};
  for (const key of CONFIG_KEYS) {
    if (!same(config[key], before[key])) patch[key] = config[key] ?? null;
  }
  return patch;
}

function editorForm(assistant, active, reload) {
  const config = active ? active.prompt_config : {};
  const slots = issueSlots();
  const controls = {};
  const textarea = (name, rows) => {
    controls[name] = h("textarea", { id: `pf-${name}`, name, rows, value: config[name] || "" });
    return controls[name];
  };
  const lines = (name) => {
    controls[name] = h("textarea", { id: `pf-${name}`, name, rows: 4, value: (config[name] || []).join("\n") });
    return controls[name];
  };
  const llm = config.llm_parameters || {};
  controls["llm_parameters.model"] = h("input", { id: "pf-llm-model", name: "llm_model", autocomplete: "off", value: llm.model ?? "" });
  controls["llm_parameters.temperature"] = h("input", { id: "pf-llm-temperature", name: "llm_temperature", type: "number", step: "any",
    inputmode: "decimal", value: llm.temperature ?? "" });
  controls["llm_parameters.max_tokens"] = h("input", { id: "pf-llm-max_tokens", name: "llm_max_tokens", type: "number", step: "1",
    inputmode: "numeric", value: llm.max_tokens ?? "" });

  const more = h("details", { class: "more", open: [...MORE_FIELDS].some((name) => config[name] !== undefined && config[name] !== null) || null },
    h("summary", {}, t("prompts.more")),
    slots.add("product_recommendation_prompt", t("prompts.cfg.product_recommendation_prompt"), textarea("product_recommendation_prompt", 3)),
    slots.add("objection_handling_prompt", t("prompts.cfg.objection_handling_prompt"), textarea("objection_handling_prompt", 3)),
    slots.add("closing_prompt", t("prompts.cfg.closing_prompt"), textarea("closing_prompt", 3)),
    slots.add("context_instructions", t("prompts.cfg.context_instructions"), textarea("context_instructions", 3)),
    slots.add("brand_voice", t("prompts.cfg.brand_voice"), textarea("brand_voice", 2)),
    slots.add("product_knowledge", t("prompts.cfg.product_knowledge"), textarea("product_knowledge", 4)),
    h("div", { class: "row" },
      LLM_FIELDS.map((name) => slots.add(`llm_parameters.${name}`, t(`prompts.cfg.llm_parameters.${name}`),
        controls[`llm_parameters.${name}`], name === "model" ? t("prompts.cfg.llm.hint") : null))));

  const status = h("div", { class: "status", role: "status", "data-testid": "prompt-status" });
  const checkButton = h("button", { type: "button", class: "secondary" }, t("prompts.validate"));
  const saveButton = h("button", { type: "submit" }, t("prompts.save"));
  const revertButton = h("button", { type: "button", class: "secondary", onclick: () => reload(null) }, t("prompts.revert"));
  const busy = (on) => { for (const button of [checkButton, saveButton, revertButton]) button.disabled = on; };

  // Validates the form's config; shows each issue on its field. Returns whether it may be saved.
  const check = async (config) => {
    const result = await api("POST", "/v1/prompts/validate", { body: { prompt_config: config } });
    const unplaced = slots.show(result.issues);
    const errors = result.issues.filter((issue) => issue.severity !== "warning").length;
    const warnings = result.issues.length - errors;
    if (!result.valid) status.append(h("div", { class: "error", role: "alert", "data-testid": "prompt-invalid" }, t("prompts.invalid", { n: errors })));
    else if (warnings) status.append(h("p", { class: "notice warn" }, t("prompts.warnings", { n: warnings })));
    status.append(issueList(unplaced));
    if (!result.valid) slots.focusFirstInvalid();
    return result.valid;
  };

  const failed = (error) => {
    if (error instanceof ApiError && error.status === 409) {
      const details = error.details || {};
      status.append(h("div", { class: "error conflict", role: "alert", "data-testid": "prompt-conflict" },
        h("p", {}, t("prompts.conflict", { base: details.base_version ?? active?.version ?? "?", latest: details.latest_version ?? "?" })),
        h("p", { class: "code" }, `${error.code}: ${error.message}`),
        h("button", { type: "button", class: "secondary", onclick: () => reload(null) }, t("prompts.reload"))));
      return;
    }
    let unplaced = [];
    if (error instanceof ApiError && error.code === "INVALID_PROMPT") unplaced = slots.show((error.details && error.details.issues) || []);
    else if (error instanceof ApiError && error.status === 422) unplaced = slots.show(fieldsAsIssues(error, "prompt_config"));
    status.append(errorBox(error), issueList(unplaced));
    slots.focusFirstInvalid();
  };

  // Both buttons read the form and validate it first; `then(config)` is what each does after.
  const withConfig = async (then) => {
    slots.clear();
    clear(status).append(h("p", { class: "muted" }, t("prompts.checking")));
    busy(true);
    try {
      const config = readConfig(controls);
      clear(status);
      await then(config);
    } catch (error) {
      clear(status);
      failed(error);
    } finally {
      busy(false);
    }
  };

  checkButton.addEventListener("click", () => withConfig(async (config) => {
    if (await check(config) && !status.querySelector(".warn")) status.append(h("p", { class: "notice ok" }, t("prompts.valid")));
  }));

  const form = h("form", { class: "prompt-form", novalidate: true, "aria-labelledby": "editor-title", onsubmit: (event) => {
    event.preventDefault();
    return withConfig(async (config) => {
      if (!(await check(config))) return;
      let saved;
      if (!active) {
        saved = await api("POST", `/v1/prompts/${enc(assistant.assistant_id)}`, { body: { prompt_config: config } });
      } else {
        const patch = changesFrom(config, active.prompt_config);
        if (!Object.keys(patch).length) {
          status.append(h("p", { class: "notice" }, t("prompts.unchanged")));
          return;
        }
        saved = await api("PUT", `/v1/prompts/${enc(active.tenant_id)}/${enc(assistant.assistant_id)}`,
          { body: { prompt_config: patch, base_version: active.version } });
      }
      await reload(t("prompts.saved", { version: saved.version }));
    });
  } },
    slots.add("personality_prompt", t("prompts.cfg.personality_prompt"), textarea("personality_prompt", 6), t("prompts.cfg.personality_prompt.hint")),
    h("div", { class: "row" },
      slots.add("safety_guidelines", t("prompts.cfg.safety_guidelines"), lines("safety_guidelines"), t("prompts.cfg.lines.hint")),
      slots.add("forbidden_topics", t("prompts.cfg.forbidden_topics"), lines("forbidden_topics"), t("prompts.cfg.lines.hint"))),
    slots.add("greeting_prompt", t("prompts.cfg.greeting_prompt"), textarea("greeting_prompt", 2)),
    more,
    h("div", { class: "actions" }, saveButton, checkButton, active ? revertButton : null),
    status);
  return form;
}

// ---------------------------------------------------------------------------------------------------------------
// Version history, rollback and the side-by-side diff.

function renderDiff(left, right) {
  const { ops, exact } = diffLines(pretty(left.prompt_config).split("\n"), pretty(right.prompt_config).split("\n"));
  const removed = ops.filter((op) => op.op === "del").length;
  const added = ops.filter((op) => op.op === "ins").length;
  const names = { a: left.version, b: right.version };
  if (!removed && !added) return h("p", { class: "notice", "data-testid": "diff-summary" }, t("prompts.diff.same", names));
  const grid = h("div", { class: "diff diff-grid", "data-testid": "diff" },
    h("div", { class: "cell head left" }, `v${left.version}`),
    h("div", { class: "cell head right" }, `v${right.version}`));
  let dels = [];
  let inss = [];
  const flush = () => {
    for (let k = 0; k < Math.max(dels.length, inss.length); k += 1) {
      grid.append(
        k < dels.length ? h("div", { class: "cell del left" }, h("del", {}, dels[k])) : h("div", { class: "cell empty left" }),
        k < inss.length ? h("div", { class: "cell ins right" }, h("ins", {}, inss[k])) : h("div", { class: "cell empty right" }));
    }
    dels = [];
    inss = [];
  };
  for (const op of ops) {
    if (op.op === "del") dels.push(op.text);
    else if (op.op === "ins") inss.push(op.text);
    else {
      flush();
      grid.append(h("div", { class: "cell same left" }, op.text), h("div", { class: "cell same right" }, op.text));
    }
  }
  flush();
  return [
    h("p", { class: "muted", "data-testid": "diff-summary" }, t("prompts.diff.summary", { ...names, del: removed, ins: added })),
    exact ? null : h("p", { class: "notice warn" }, t("prompts.diff.approx")),
    grid,
  ];
}

function diffSection(versions) {
  if (versions.length < 2) return h("p", { class: "muted" }, t("prompts.diff.need2"));
  const options = () => versions.map((version) =>
    h("option", { value: String(version.version) }, `v${version.version}${version.is_active ? ` · ${t("prompts.current")}` : ""}`));
  const left = h("select", { id: "diff-left", name: "diff_left" }, options());
  const right = h("select", { id: "diff-right", name: "diff_right" }, options());
  left.value = String(versions[1].version);
  right.value = String(versions[0].version);
  const out = h("div", { class: "diff-out", "aria-live": "polite" });
  const show = () => {
    const a = versions.find((version) => String(version.version) === left.value);
    const b = versions.find((version) => String(version.version) === right.value);
    clear(out).append(...[renderDiff(a, b)].flat().filter(Boolean));
  };
  left.addEventListener("change", show);
  right.addEventListener("change", show);
  show();
  return h("section", { class: "diff-section", "aria-labelledby": "diff-title" },
    h("h3", { id: "diff-title" }, t("prompts.diff")),
    h("div", { class: "row" }, field(t("prompts.diff.left"), left), field(t("prompts.diff.right"), right)),
    out);
}

function historySection(assistant, versions, reload) {
  if (!versions.length) return null;
  const status = h("div", { class: "status", role: "status" });
  const rollback = async (button, version) => {
    clear(status);
    button.disabled = true;
    try {
      const created = await api("POST", `/v1/prompts/${enc(assistant.assistant_id)}/rollback`, { body: { version } });
      await reload(t("prompts.rolledback", { from: version, version: created.version }));
    } catch (error) {
      status.append(errorBox(error));
      button.disabled = false;
    }
  };
  const rows = versions.map((version) => {
    const button = version.is_active ? null
      : h("button", { type: "button", class: "secondary small", onclick: (event) => rollback(event.currentTarget, version.version) },
        t("prompts.rollback", { version: version.version }));
    return h("tr", { "data-version": version.version, class: version.is_active ? "active" : "" },
      h("td", {}, h("strong", {}, `v${version.version}`), version.is_active ? h("span", { class: "badge current" }, t("prompts.current")) : null),
      h("td", { class: "note" }, version.note || ""),
      h("td", { class: "created" }, formatTime(version.created_at)),
      h("td", {}, button));
  });
  return h("section", { class: "history", "aria-labelledby": "history-title" },
    h("h3", { id: "history-title" }, t("prompts.history")),
    versions.length >= HISTORY_LIMIT ? h("p", { class: "muted" }, t("prompts.history.limit", { n: HISTORY_LIMIT })) : null,
    h("table", { class: "versions", "data-testid": "versions" },
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, t("prompts.col.version")),
        h("th", { scope: "col" }, t("prompts.col.note")),
        h("th", { scope: "col", class: "created" }, t("prompts.col.created")),
        h("th", { scope: "col" }, t("prompts.col.actions")))),
      h("tbody", {}, rows)),
    status,
    diffSection(versions));
}

async function loadEditor(panel, assistantId, notice = null) {
  clear(panel).append(h("p", { class: "muted" }, t("loading")));
  let assistant;
  let active = null;
  let versions = [];
  try {
    assistant = await api("GET", `/v1/assistants/${enc(assistantId)}`);
    try {
      active = await api("GET", `/v1/prompts/${enc(assistantId)}`);
    } catch (error) {
      if (!(error instanceof ApiError && error.code === "PROMPT_NOT_FOUND")) throw error;
    }
    if (active) versions = (await api("GET", `/v1/prompts/${enc(assistantId)}/history`, { query: { limit: HISTORY_LIMIT } })).versions;
  } catch (error) {
    clear(panel).append(h("h2", { id: "editor-title" }, t("prompts.editor")), errorBox(error));
    return;
  }
  const reload = (message) => loadEditor(panel, assistantId, message);
  const noticeBox = notice ? h("p", { class: "notice ok", role: "status", tabindex: "-1", "data-testid": "prompt-notice" }, notice) : null;
  clear(panel).append(
    h("h2", { id: "editor-title" }, t("prompts.editor.title", { name: assistant.assistant_name })),
    h("p", { class: "muted assistant-meta" }, `${assistant.occupation} · ${assistant.industry} · ID `, h("code", {}, assistant.assistant_id)),
    h("p", { class: "active-version", "data-testid": "active-version" },
      active ? t("prompts.active", { version: active.version }) : t("prompts.noversion")),
    noticeBox,
    editorForm(assistant, active, reload),
    historySection(assistant, versions, reload));
  if (noticeBox) noticeBox.focus();
}

export default {
  path: "prompts",
  title: "nav.prompts",
  scope: "tenant:admin",
  async render(root, params = []) {
    const assistantId = params[0] || null;
    const listBox = h("div", {}, h("p", { class: "muted" }, t("loading")));
    const listCard = h("section", { class: "card", "aria-labelledby": "assistants-title" },
      h("h2", { id: "assistants-title" }, t("prompts.assistants")), listBox);
    const editor = h("section", { class: "card prompt-editor", "aria-labelledby": "editor-title" });
    root.classList.add("prompts-page");
    root.append(h("div", { class: "prompts-top" }, listCard, createForm()), editor);
    const notice = flash;
    flash = null;
    if (assistantId) {
      await Promise.all([loadList(listBox, 1, assistantId), loadEditor(editor, assistantId, notice)]);
    } else {
      editor.append(h("h2", { id: "editor-title" }, t("prompts.editor")), h("p", { class: "muted" }, t("prompts.pick")));
      await loadList(listBox, 1, null);
    }
  },
};
