// The lwf dev page: workflows, instances and each instance's step timeline.
// It reads only the public HTTP API (docs/api.md), so it can point at a deployed API too.
// Every value from the API is set as text (never as HTML).
"use strict";

const API = (new URLSearchParams(location.search).get("api") || "").replace(/\/$/, "");
const REFRESH_MS = 1500;
const FINISHED = new Set(["complete", "errored", "terminated"]);
const STATUSES = ["queued", "running", "paused", "errored", "terminated", "complete",
  "waiting", "waitingForPause", "unknown"];
let timer = null;

// -- helpers ---------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "style") node.style.cssText = value; // CSSOM: allowed by the page's CSP
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function seg(value) { return encodeURIComponent(value); }

async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(API + path, init);
  } catch (err) {
    throw new Error(`cannot reach the API (${err.message}): is lwf dev running?`);
  }
  showClock(response.headers.get("X-Workflows-Time"));
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!response.ok) {
    const error = data && data.error ? data.error : { message: `HTTP ${response.status}` };
    const details = (error.details || []).map((d) => `${(d.loc || []).join(".")}: ${d.msg}`);
    throw new Error([error.message, ...details].filter(Boolean).join("\n"));
  }
  return data;
}

// The engine's clock, shown when it is not the wall clock (lwf dev --time-scale,
// --skip-sleeps); a deployed API's clock is the wall clock, so nothing shows.
function showClock(iso) {
  const box = document.getElementById("clock");
  const at = iso ? new Date(iso) : null;
  if (!at || isNaN(at) || Math.abs(at - Date.now()) < 5000) {
    box.textContent = "";
    box.className = "clock";
    return;
  }
  const ahead = at - Date.now();
  box.textContent = `clock: ${when(iso)} UTC (${ahead > 0 ? "+" : "−"}${duration(Math.abs(ahead))})`;
  box.className = "clock virtual";
  box.title = "the engine runs on a clock ahead of the wall clock (--time-scale or --skip-sleeps)";
}

function badge(status) {
  return el("span", { class: `badge s-${status}`, title: status }, status);
}

function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return isNaN(date) ? iso : date.toISOString().replace("T", " ").slice(0, 19);
}

function duration(ms) {
  if (ms === null || ms === undefined || isNaN(ms)) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
}

function json(value) { return JSON.stringify(value, null, 2); }

function toast(message) {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 4000);
}

function crumbs(...parts) {
  const nav = document.getElementById("crumbs");
  nav.replaceChildren(...parts.flatMap((part, i) => [
    i ? el("span", { "aria-hidden": "true" }, "/") : null,
    part.href ? el("a", { href: part.href }, part.text) : el("span", {}, part.text),
  ]).filter(Boolean));
}

function show(...nodes) { document.getElementById("view").replaceChildren(...nodes); }

function refreshEvery(fn) {
  clearInterval(timer);
  timer = setInterval(() => { if (!document.hidden) fn().catch(() => {}); }, REFRESH_MS);
}

// -- workflows -------------------------------------------------------------------------

async function workflowsView() {
  crumbs({ text: "Workflows" });
  const { workflows } = await api("GET", "/workflows");
  const body = el("tbody");
  const table = el("div", { class: "table-wrap" }, el("table", {},
    el("thead", {}, el("tr", {}, el("th", {}, "Workflow"), el("th", {}, "Instances by status"),
      el("th", { class: "opt" }, "Class"))),
    body));
  show(el("h1", {}, "Workflows"), el("p", { class: "muted" },
    `${workflows.length} workflow(s). Open one to start an instance or look inside one.`), table);
  const render = async () => {
    const details = await Promise.all(workflows.map((w) => api("GET", `/workflows/${seg(w.name)}`)));
    body.replaceChildren(...details.map((w) => el("tr", {},
      el("td", { class: "id" }, el("a", { href: `#/workflows/${seg(w.name)}` }, w.name)),
      el("td", {}, counts(w.counts, w.name)),
      el("td", { class: "opt mono" }, w.class_name))));
  };
  await render();
  refreshEvery(render);
}

function counts(byStatus, name) {
  const entries = Object.entries(byStatus || {}).filter(([, n]) => n);
  if (!entries.length) return el("span", { class: "muted" }, "none yet");
  return el("span", { class: "counts" }, entries.map(([status, n]) =>
    el("a", { href: `#/workflows/${seg(name)}?status=${seg(status)}`, class: `badge s-${status}`,
      title: `${n} ${status}` }, `${status} ${n}`)));
}

// -- one workflow: trigger form and instances --------------------------------------------

async function workflowView(name, query) {
  crumbs({ text: "Workflows", href: "#/" }, { text: name });
  const workflow = await api("GET", `/workflows/${seg(name)}`);
  const status = query.get("status") || "";
  const list = el("div");
  const state = { cursors: [null], page: 0 };
  const filter = el("select", { "aria-label": "status filter", onchange: () => {
    location.hash = `#/workflows/${seg(name)}` + (filter.value ? `?status=${seg(filter.value)}` : "");
  } }, el("option", { value: "" }, "any status"),
  STATUSES.map((s) => el("option", { value: s, selected: s === status }, s)));
  const search = el("input", { type: "search", placeholder: "instance id", "aria-label": "instance id" });
  const find = el("form", { class: "row", onsubmit: (e) => {
    e.preventDefault();
    if (search.value.trim()) location.hash = `#/workflows/${seg(name)}/instances/${seg(search.value.trim())}`;
  } }, search, el("button", { type: "submit" }, "Open"));

  const render = async () => {
    const params = new URLSearchParams({ limit: "20" });
    if (status) params.set("status", status);
    const cursor = state.cursors[state.page];
    if (cursor) params.set("cursor", cursor);
    const page = await api("GET", `/workflows/${seg(name)}/instances?${params}`);
    state.cursors[state.page + 1] = page.cursor;
    list.replaceChildren(instancesTable(name, page.instances), el("div", { class: "row" },
      el("button", { disabled: state.page === 0, onclick: () => { state.page -= 1; render(); } }, "Newer"),
      el("span", { class: "muted" }, `page ${state.page + 1}`),
      el("button", { disabled: !page.cursor, onclick: () => { state.page += 1; render(); } }, "Older")));
  };

  show(
    el("h1", {}, name),
    el("p", { class: "muted mono" }, workflow.class_name),
    el("div", { class: "grid2" },
      el("section", { class: "panel" }, el("h2", {}, "Trigger an instance"), triggerForm(workflow)),
      el("section", { class: "panel" }, el("h2", {}, "Counts"), counts(workflow.counts, name),
        workflow.crons.length ? el("p", { class: "muted" },
          `Crons: ${workflow.crons.map((c) => `${c.name} (${c.expression})`).join(", ")}`) : null)),
    el("h2", {}, "Instances"),
    el("div", { class: "row" }, filter, find),
    list,
  );
  await render();
  refreshEvery(render);
}

function instancesTable(name, instances) {
  if (!instances.length) return el("p", { class: "muted" }, "No instances.");
  return el("div", { class: "table-wrap" }, el("table", {},
    el("thead", {}, el("tr", {}, ["Id", "Status", "Created", "Duration", "Error"].map((h, i) =>
      el("th", { class: i >= 3 ? "opt" : null }, h)))),
    el("tbody", {}, instances.map((i) => el("tr", {},
      el("td", { class: "id" }, el("a", { href: `#/workflows/${seg(name)}/instances/${seg(i.id)}` }, i.id)),
      el("td", {}, badge(i.status)),
      el("td", {}, when(i.created_at)),
      el("td", { class: "opt" }, i.started_at && i.ended_at
        ? duration(new Date(i.ended_at) - new Date(i.started_at)) : ""),
      el("td", { class: "opt err" }, i.error ? `${i.error.name}: ${i.error.message}` : ""))))));
}

// A form from the params JSON schema: one field per property it can type, else raw JSON.
function triggerForm(workflow) {
  const schema = workflow.params_schema;
  const props = schema && schema.properties && typeof schema.properties === "object" ? schema.properties : null;
  const required = new Set((schema && Array.isArray(schema.required)) ? schema.required : []);
  const fields = [];
  const idInput = el("input", { type: "text", name: "id", placeholder: "generated when empty" });
  const raw = el("textarea", { name: "params", "aria-label": "params as JSON" }, props ? "" : "null");
  const error = el("div", { class: "error-box", hidden: true });
  const form = el("form", { onsubmit: async (e) => {
    e.preventDefault();
    error.hidden = true;
    try {
      const params = props && !rawMode.checked ? collect() : JSON.parse(raw.value || "null");
      const body = { params };
      if (idInput.value.trim()) body.id = idInput.value.trim();
      const created = await api("POST", `/workflows/${seg(workflow.name)}/instances`, body);
      location.hash = `#/workflows/${seg(workflow.name)}/instances/${seg(created.id)}`;
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
  } });
  const rawMode = el("input", { type: "checkbox", "aria-label": "edit params as JSON" });
  const structured = el("div");

  function kind(spec) {
    if (!spec || typeof spec !== "object") return "json";
    let type = spec.type;
    if (!type && Array.isArray(spec.anyOf)) {
      const types = spec.anyOf.map((o) => o && o.type).filter((t) => t && t !== "null");
      if (types.length === 1) type = types[0];
    }
    if (type === "array" && spec.items && spec.items.type === "string") return "lines";
    return ["string", "integer", "number", "boolean"].includes(type) ? type : "json";
  }

  function collect() {
    const params = {};
    for (const { key, type, input } of fields) {
      if (type === "boolean") { params[key] = input.checked; continue; }
      const text = input.value;
      if (text === "") continue;
      if (type === "integer" || type === "number") params[key] = Number(text);
      else if (type === "lines") params[key] = text.split("\n").map((s) => s.trim()).filter(Boolean);
      else if (type === "json") params[key] = JSON.parse(text);
      else params[key] = text;
    }
    return params;
  }

  if (props) {
    for (const [key, spec] of Object.entries(props)) {
      const type = kind(spec);
      const label = el("label", {}, key, required.has(key) ? el("span", { class: "req" }, " *") : null,
        el("span", { class: "hint" }, ` ${type === "lines" ? "one per line" : type}`));
      let input;
      if (type === "boolean") input = el("input", { type: "checkbox", name: key, checked: spec.default === true });
      else if (type === "lines" || type === "json") input = el("textarea", { name: key },
        spec.default !== undefined ? (type === "lines" ? spec.default.join("\n") : json(spec.default)) : "");
      else input = el("input", { type: type === "string" ? "text" : "number", name: key,
        step: type === "number" ? "any" : null,
        value: spec.default !== undefined && spec.default !== null ? spec.default : null });
      fields.push({ key, type, input });
      structured.append(el("div", { class: "field" }, label, input));
    }
    form.append(structured, el("label", { class: "row" }, rawMode, "edit params as JSON"), raw);
    raw.hidden = true;
    rawMode.addEventListener("change", () => {
      if (rawMode.checked) { try { raw.value = json(collect()); } catch { raw.value = "{}"; } }
      raw.hidden = !rawMode.checked;
      structured.hidden = rawMode.checked;
    });
  } else {
    form.append(el("label", {}, "params (JSON)"), raw);
  }
  form.append(el("label", {}, "id"), idInput, error,
    el("div", { class: "row", style: "margin-top:12px" }, el("button", { type: "submit", class: "primary" }, "Trigger")));
  return form;
}

// -- one instance: facts, timeline, actions ---------------------------------------------

async function instanceView(name, id) {
  crumbs({ text: "Workflows", href: "#/" }, { text: name, href: `#/workflows/${seg(name)}` }, { text: id });
  const path = `/workflows/${seg(name)}/instances/${seg(id)}`;
  const header = el("div");
  const timeline = el("div");
  const actions = el("div");
  show(header, el("h2", {}, "Timeline"), timeline, el("h2", {}, "Actions"), actions);
  let last = "";
  const render = async () => {
    const instance = await api("GET", path);
    const snapshot = JSON.stringify(instance);
    if (snapshot === last) return;
    last = snapshot;
    header.replaceChildren(instanceHeader(instance));
    timeline.replaceChildren(stepTimeline(instance));
    if (!actions.childElementCount || actions.dataset.status !== instance.status) {
      actions.dataset.status = instance.status;
      actions.replaceChildren(instanceActions(instance, path, render));
    }
  };
  await render();
  refreshEvery(render);
}

function instanceHeader(i) {
  const facts = el("dl", { class: "facts" },
    el("dt", {}, "status"), el("dd", {}, badge(i.status)),
    el("dt", {}, "created"), el("dd", {}, when(i.created_at)),
    el("dt", {}, "started"), el("dd", {}, when(i.started_at)),
    el("dt", {}, "ended"), el("dd", {}, when(i.ended_at)),
    i.started_at && i.ended_at ? [el("dt", {}, "duration"),
      el("dd", {}, duration(new Date(i.ended_at) - new Date(i.started_at)))] : null);
  const parts = [el("h1", {}, i.id), el("div", { class: "grid2" },
    el("section", { class: "panel" }, facts),
    el("section", { class: "panel" }, el("h2", { style: "margin-top:0" }, "Params"),
      i.params_omitted ? el("p", { class: "muted" }, "too large to show") : el("pre", {}, json(i.params))))];
  if (i.error) {
    parts.push(el("div", { class: "error-box" },
      `${i.error.name}: ${i.error.message}${i.error.step ? ` (step “${i.error.step}”)` : ""}`));
  }
  if (i.status === "complete") {
    parts.push(el("section", { class: "panel" }, el("h2", { style: "margin-top:0" }, "Output"),
      i.output_omitted ? el("p", { class: "muted" }, "too large to show") : el("pre", {}, json(i.output))));
  }
  return el("div", {}, parts);
}

// One row per step occurrence; bars on a shared time axis from the instance's creation to
// its end (or now): a bar per attempt of a step.do, a dashed gap for a sleep or a wait,
// with a marker at its deadline.
function stepTimeline(i) {
  const steps = i.steps || [];
  if (!steps.length) return el("p", { class: "muted" }, "No steps yet.");
  const t = (iso) => (iso ? new Date(iso).getTime() : null);
  const start = t(i.created_at) || Math.min(...steps.map((s) => t(s.started_at) || Infinity));
  let end = t(i.ended_at) || Date.now();
  for (const s of steps) end = Math.max(end, t(s.finished_at) || 0, t(s.wake_at) || 0);
  const span = Math.max(end - start, 1);
  const pct = (ms) => `${Math.min(100, Math.max(0, ((ms - start) / span) * 100)).toFixed(3)}%`;
  const width = (a, b) => `${Math.max(0.3, ((b - a) / span) * 100).toFixed(3)}%`;
  const rows = steps.map((s) => {
    const track = el("div", { class: "track", role: "img",
      "aria-label": `${s.name}: ${s.type}, ${s.status}` });
    const begun = t(s.started_at);
    if (RUNS_CODE.has(s.type) && s.attempt_log && s.attempt_log.length) {
      for (const a of s.attempt_log) {
        const a0 = t(a.started_at); const a1 = t(a.finished_at);
        track.append(el("div", { class: `bar ${a.error ? "failed" : "ok"}`,
          style: `left:${pct(a0)};width:${width(a0, a1)}`,
          title: `attempt ${a.attempt}: ${duration(a1 - a0)}${a.error ? ` · ${a.error.name}: ${a.error.message}` : ""}` }));
      }
      if (!FINISHED_STEP.has(s.status) && s.status !== "retrying") {
        const lastEnd = t(s.attempt_log[s.attempt_log.length - 1].finished_at);
        track.append(el("div", { class: "bar open", style: `left:${pct(lastEnd)};width:${width(lastEnd, end)}` }));
      }
    } else if (begun !== null) {
      const finish = t(s.finished_at);
      const gap = !RUNS_CODE.has(s.type);
      const cls = gap ? `bar gap${finish ? " done" : ""}` : `bar ${s.status === "failed" ? "failed" : finish ? "ok" : "open"}`;
      const stop = finish || (gap && t(s.wake_at)) || end;
      track.append(el("div", { class: cls, style: `left:${pct(begun)};width:${width(begun, stop)}`,
        title: `${s.type} ${s.status}${finish ? ` · ${duration(finish - begun)}` : ""}` }));
    }
    if (s.wake_at) {
      track.append(el("div", { class: "deadline", style: `left:${pct(t(s.wake_at))}`,
        title: `until ${when(s.wake_at)}` }));
    }
    const label = el("div", { class: "step-name" },
      s.index ? `${s.name} #${s.index}` : s.name, " ",
      el("span", { class: "kind" }, s.type), " ", badge(s.status),
      s.child ? el("div", {}, el("a", {
        href: `#/workflows/${seg(s.child.workflow)}/instances/${seg(s.child.id)}` },
      `child ${s.child.workflow}/${s.child.id}`)) : null);
    const details = [];
    if (RUNS_CODE.has(s.type) && s.attempts > 1) details.push(`${s.attempts} attempts`);
    if (s.type === "rollback") details.push(`undoes “${s.name}”`);
    if (s.event_type && !s.child) details.push(`event “${s.event_type}”`);
    if (s.wake_at) details.push(`until ${when(s.wake_at)}`);
    if (begun !== null && s.finished_at) details.push(duration(t(s.finished_at) - begun));
    if (s.status === "succeeded" && s.type === "do" && !s.result_omitted && s.result !== null && s.result !== undefined) {
      const text = JSON.stringify(s.result);
      details.push(`→ ${text.length > 120 ? text.slice(0, 119) + "…" : text}`);
    }
    return el("div", { class: "step" }, label, track,
      details.length ? el("div", { class: "step-detail" }, details.join(" · ")) : null,
      s.error ? el("div", { class: "step-detail err" }, `${s.error.name}: ${s.error.message}`) : null);
  });
  return el("div", { class: "timeline" },
    el("div", { class: "axis" }, el("span", {}, when(new Date(start).toISOString())),
      el("span", {}, duration(span)), el("span", {}, when(new Date(end).toISOString()))),
    rows);
}
const FINISHED_STEP = new Set(["succeeded", "failed", "timedOut", "cancelled"]);
const RUNS_CODE = new Set(["do", "rollback"]);

function instanceActions(i, path, refresh) {
  const run = (label, method, suffix, body, confirmText) => el("button", {
    class: method === "DELETE" || label.startsWith("Terminate") ? "danger" : null,
    onclick: async () => {
      if (confirmText && !confirm(confirmText)) return;
      try {
        await api(method, path + suffix, body);
        toast(`${label}: done`);
        if (method === "DELETE") { location.hash = `#/workflows/${seg(i.workflow)}`; return; }
        await refresh();
      } catch (err) { toast(`${label}: ${err.message}`); }
    } }, label);
  const done = FINISHED.has(i.status);
  const buttons = el("div", { class: "row" },
    i.status === "paused" ? run("Resume", "POST", "/resume") : null,
    !done && i.status !== "paused" ? run("Pause", "POST", "/pause") : null,
    !done ? run("Terminate", "POST", "/terminate", undefined, `Terminate ${i.id}?`) : null,
    !done ? run("Terminate with rollback", "POST", "/terminate", { rollback: true },
      `Undo ${i.id}'s completed steps (their rollback functions), then terminate it?`) : null,
    run("Restart", "POST", "/restart", undefined, `Restart ${i.id} from the beginning?`),
    done ? run("Delete", "DELETE", "", undefined, `Delete ${i.id} and its journal?`) : null);

  const stepNames = [...new Set((i.steps || []).filter((s) => s.type === "do").map((s) => s.name))];
  const fromStep = el("select", { "aria-label": "restart from step" }, stepNames.map((n) => el("option", { value: n }, n)));
  const restartFrom = stepNames.length ? el("div", { class: "row", style: "margin-top:12px" },
    el("span", { class: "muted" }, "Restart from step"), fromStep,
    el("button", { onclick: async () => {
      try { await api("POST", `${path}/restart`, { from_step: fromStep.value, type: "do" }); toast("Restarted"); await refresh(); }
      catch (err) { toast(`Restart: ${err.message}`); }
    } }, "Restart from here")) : null;

  const waiting = (i.steps || []).find((s) => s.type === "wait_for_event" && s.status === "waiting");
  const type = el("input", { type: "text", name: "event-type", placeholder: "event type",
    value: waiting ? waiting.event_type : null, "aria-label": "event type" });
  const payload = el("textarea", { name: "event-payload", "aria-label": "event payload (JSON)" }, "{}");
  const sendError = el("div", { class: "error-box", hidden: true });
  const send = el("form", { class: "panel", style: "margin-top:12px", onsubmit: async (e) => {
    e.preventDefault();
    sendError.hidden = true;
    try {
      const body = { payload: JSON.parse(payload.value || "null") };
      await api("POST", `${path}/events/${seg(type.value.trim())}`, body);
      toast(`Sent “${type.value.trim()}”`);
      await refresh();
    } catch (err) { sendError.textContent = err.message; sendError.hidden = false; }
  } }, el("h2", { style: "margin-top:0" }, "Send an event"),
  el("label", {}, "type"), type, el("label", {}, "payload (JSON)"), payload, sendError,
  el("div", { class: "row", style: "margin-top:8px" }, el("button", { type: "submit", class: "primary" }, "Send event")));
  return el("div", {}, buttons, restartFrom, done ? null : send);
}

// -- routing ---------------------------------------------------------------------------

async function route() {
  clearInterval(timer);
  const [path, search] = location.hash.replace(/^#/, "").split("?");
  const parts = (path || "/").split("/").filter(Boolean).map(decodeURIComponent);
  const query = new URLSearchParams(search || "");
  try {
    if (parts[0] === "workflows" && parts.length === 4 && parts[2] === "instances") {
      await instanceView(parts[1], parts[3]);
    } else if (parts[0] === "workflows" && parts.length === 2) {
      await workflowView(parts[1], query);
    } else {
      await workflowsView();
    }
  } catch (err) {
    show(el("h1", {}, "Something went wrong"), el("div", { class: "error-box" }, err.message),
      el("p", {}, el("a", { href: "#/" }, "Back to the workflows")));
  }
}

window.addEventListener("hashchange", route);
route();
