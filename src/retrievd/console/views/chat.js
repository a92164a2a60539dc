// Chat: an assistant over chosen stores (Assistants v2), streamed answers with citations that open their passage.

import { all, post, stream } from "../api.js";
import { fileLink, listStores, locate } from "../data.js";
import { clear, errorBox, field, h, highlighted, newId, terms } from "../dom.js";
import { heading } from "./page.js";

const MARKER = /【(\d+):(\d+)(?:†([^】]*))?】/;
const INCLUDE_CONTENT = "step_details.tool_calls[*].file_search.results[*].content";
const NEW = "__new__";

export async function chatPage(ctx) {
  const { view } = ctx;
  heading(view, "Chat");
  view.append(h("p", { class: "lead" }, "Ask questions about your documents. Answers quote the passages they rely on; select a source number to read it."));
  const [stores, assistants] = await Promise.all([listStores(), all("assistants")]);
  const storeName = new Map(stores.map((s) => [s.id, s.name || s.id]));
  const usable = assistants.filter((a) => storesOf(a).length);

  const picker = h(
    "select",
    {},
    usable.map((a) => h("option", { value: a.id }, `${a.name || a.id} (searches ${storesOf(a).map((id) => storeName.get(id) || id).join(", ")})`)),
    h("option", { value: NEW }, "New assistant…"),
  );
  const extra = h("select", {}, h("option", { value: "" }, "No other store"), stores.map((s) => h("option", { value: s.id }, s.name || s.id)));
  const creator = assistantForm(stores, (assistant) => {
    usable.unshift(assistant);
    picker.prepend(h("option", { value: assistant.id }, `${assistant.name} (searches ${storeName.get(storesOf(assistant)[0])})`));
    picker.value = assistant.id;
    sync();
    question.focus();
  });
  const restart = h("button", { type: "button", class: "secondary" }, "New conversation");
  const setup = h(
    "section",
    { class: "chat-setup", "aria-label": "Assistant settings" },
    field("Assistant", picker),
    creator.element,
    field("Also search, in this conversation only", extra, "An assistant searches one store; a conversation can add one more."),
    restart,
  );

  const log = h("ol", { class: "messages", role: "log", "aria-label": "Messages" });
  const question = h("textarea", { rows: 3, required: true });
  const sendButton = h("button", { type: "submit" }, "Send");
  const form = h("form", { class: "ask" }, field("Your question", question, "Enter sends; Shift+Enter starts a new line."), sendButton);
  view.append(h("div", { class: "chat" }, setup, h("section", { class: "conversation", "aria-label": "Conversation" }, log, form)));
  const dialog = passageDialog();
  view.append(dialog.element);

  let threadId = null;
  const sync = () => {
    creator.element.hidden = picker.value !== NEW;
    sendButton.disabled = picker.value === NEW;
  };
  picker.addEventListener("change", () => {
    threadId = null;
    clear(log);
    sync();
  });
  extra.addEventListener("change", () => {
    threadId = null;
    clear(log);
  });
  restart.addEventListener("click", () => {
    threadId = null;
    clear(log);
    question.focus();
  });
  question.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  sync();
  if (!stores.length) setup.prepend(h("p", { class: "empty" }, "Create a store and add documents first: ", h("a", { href: "#/stores" }, "Vector stores"), "."));

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = question.value.trim();
    if (!text || picker.value === NEW) return;
    const assistant = usable.find((a) => a.id === picker.value);
    const searched = [...storesOf(assistant), ...(extra.value ? [extra.value] : [])];
    question.value = "";
    sendButton.disabled = true;
    log.append(h("li", { class: "message user" }, h("span", { class: "who" }, "You"), h("p", {}, text)));
    const answer = answerBubble((marker, fileId, runId) => dialog.open({ threadId, runId, marker, fileId, stores: searched, question: text }));
    log.append(answer.element);
    answer.element.scrollIntoView({ block: "nearest" });
    const message = { role: "user", content: text };
    const body = threadId
      ? { assistant_id: assistant.id, additional_messages: [message] }
      : {
          assistant_id: assistant.id,
          thread: { messages: [message], ...(extra.value ? { tool_resources: { file_search: { vector_store_ids: [extra.value] } } } : {}) },
        };
    try {
      await stream(threadId ? `threads/${threadId}/runs` : "threads/runs", body, (name, data) => {
        if (name === "thread.run.created") threadId = data.thread_id;
        answer.on(name, data);
      });
    } catch (err) {
      answer.fail(err.title, err.message);
    } finally {
      answer.done();
      sendButton.disabled = false;
    }
  });
}

function storesOf(assistant) {
  return assistant?.tool_resources?.file_search?.vector_store_ids || [];
}

function assistantForm(stores, onCreated) {
  const name = h("input", { type: "text", required: true, maxlength: 256, value: "Document assistant" });
  const store = h("select", { required: true }, stores.map((s) => h("option", { value: s.id }, s.name || s.id)));
  const instructions = h("textarea", { rows: 3 }, "Answer from the documents and cite them.");
  const model = h("input", { type: "text", required: true, value: "gpt-4o-mini" });
  const problem = h("div");
  const form = h(
    "form",
    { class: "new-assistant", "aria-label": "New assistant" },
    field("Name", name),
    field("Store it searches", store),
    field("Instructions", instructions),
    field("Model", model, "Without a language model configured on the server, a built-in model answers by quoting your documents."),
    h("button", { type: "submit" }, "Create assistant"),
    problem,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clear(problem);
    try {
      onCreated(
        await post("assistants", {
          name: name.value.trim(),
          model: model.value.trim(),
          instructions: instructions.value,
          tools: [{ type: "file_search" }],
          tool_resources: { file_search: { vector_store_ids: [store.value] } },
        }),
      );
    } catch (err) {
      problem.append(errorBox(err));
    }
  });
  return { element: form };
}

// One streamed answer: text grows with each delta; citation markers become numbered source buttons.
function answerBubble(openSource) {
  const status = h("p", { class: "busy" }, "Thinking…");
  const body = h("p", { class: "answer-text" });
  const sources = h("ol", { class: "sources", "aria-label": "Sources" });
  const element = h("li", { class: "message assistant", "aria-busy": "true" }, h("span", { class: "who" }, "Assistant"), status, body, sources);
  let text = "";
  let annotations = [];
  let runId = null;

  const render = () => {
    const numbers = new Map();
    const parts = [];
    let at = 0;
    clear(sources);
    for (const a of [...annotations].sort((x, y) => x.start_index - y.start_index)) {
      if (a.type !== "file_citation" || a.start_index < at) continue;
      if (!numbers.has(a.text)) {
        numbers.set(a.text, numbers.size + 1);
        const filename = a.text.match(MARKER)?.[3] || a.file_citation.file_id;
        sources.append(h("li", {}, h("button", { type: "button", class: "link", onclick: () => openSource(a.text, a.file_citation.file_id, runId) }, filename)));
      }
      const n = numbers.get(a.text);
      parts.push(text.slice(at, a.start_index));
      const filename = a.text.match(MARKER)?.[3] || "the document";
      parts.push(h("button", { type: "button", class: "cite", "aria-label": `Source ${n}: ${filename}`, onclick: () => openSource(a.text, a.file_citation.file_id, runId) }, String(n)));
      at = a.end_index;
    }
    parts.push(text.slice(at));
    clear(body).append(...parts);
  };

  return {
    element,
    on(name, data) {
      if (name === "thread.run.created") runId = data.id;
      else if (name === "thread.run.step.delta" && data.delta?.step_details?.tool_calls?.some((c) => c.type === "file_search")) {
        status.textContent = "Searching your documents…";
      } else if (name === "thread.message.delta") {
        status.textContent = "";
        for (const part of data.delta.content || []) {
          if (part.type !== "text") continue;
          text += part.text.value || "";
          annotations.push(...(part.text.annotations || []));
        }
        render();
      } else if (name === "thread.message.completed") {
        const part = data.content.find((c) => c.type === "text");
        if (part) {
          text = part.text.value;
          annotations = part.text.annotations;
          render();
        }
      } else if (name === "thread.run.failed" || name === "thread.run.expired" || name === "thread.run.cancelled") {
        this.fail("The answer could not be finished.", data.last_error?.message || `The run was ${name.split(".").pop()}.`);
      } else if (name === "thread.run.incomplete") {
        status.textContent = "The answer was cut short (it reached a length limit).";
      } else if (name === "error") {
        this.fail("The answer could not be finished.", data.message || data.error?.message || "");
      }
    },
    fail(title, message) {
      status.replaceWith(errorBox({ title, message }));
    },
    done() {
      if (status.textContent === "Thinking…" || status.textContent === "Searching your documents…") status.textContent = "";
      element.setAttribute("aria-busy", "false");
    },
  };
}

// The dialog that shows a cited passage: found in the run's file_search results, then located in its file.
function passageDialog() {
  const titleId = newId("dlg");
  const content = h("div");
  const close = h("button", { type: "button", class: "secondary" }, "Close");
  const element = h("dialog", { class: "passage", "aria-labelledby": titleId }, h("h2", { id: titleId }, "Source"), content, close);
  close.addEventListener("click", () => element.close());

  async function open({ threadId, runId, marker, fileId, stores, question }) {
    clear(content).append(h("p", { class: "busy" }, "Opening the passage…"));
    element.showModal();
    try {
      const [, turn, index] = marker.match(MARKER).map(Number);
      const steps = await all(`threads/${threadId}/runs/${runId}/steps`, { order: "asc", "include[]": INCLUDE_CONTENT });
      const searches = steps.flatMap((s) => (s.step_details.type === "tool_calls" ? s.step_details.tool_calls.filter((c) => c.type === "file_search") : []));
      const result = searches[turn]?.file_search?.results?.[index];
      if (!result) throw { title: "This passage is no longer available.", message: "" };
      const text = (result.content || []).map((c) => c.text).join("\n");
      const found = await locate(stores, fileId, text);
      const where = found ? (found.page ? `page ${found.page}` : `chunk ${found.index + 1}`) : "";
      clear(content).append(
        h("p", { class: "source-head" }, h("strong", {}, result.file_name), where ? ` · ${where}` : "", ` · score ${result.score.toFixed(3)}`),
        h("blockquote", { class: "chunk-text" }, highlighted(text, terms(question))),
        found ? h("p", {}, h("a", { href: `${fileLink(found.storeId, fileId, found.index)}&q=${encodeURIComponent(question)}` }, "Open it in the document")) : null,
      );
    } catch (err) {
      clear(content).append(errorBox(err));
    }
  }
  return { element, open };
}
