// Chat: an assistant over chosen stores (Assistants v2), streamed answers with citations that open their passage.

import { ApiError, all, post, stream } from "../api.js";
import { fileLink, listStores, locate } from "../data.js";
import { clear, errorBox, field, h, highlighted, newId, terms } from "../dom.js";
import { heading } from "./page.js";

const MARKER = /【(\d+):(\d+)(?:†([^】]*))?】/;
const INCLUDE_CONTENT = "step_details.tool_calls[*].file_search.results[*].content";
const NEW = "__new__";
const SAVED = "retrievd.chat";

export async function chatPage(ctx) {
  const { view } = ctx;
  heading(view, "Chat");
  view.append(h("p", { class: "lead" }, "Ask questions about your documents. Answers quote the passages they rely on; select a source number to read it."));
  const [stores, assistants] = await Promise.all([listStores(), all("assistants")]);
  const storeName = new Map(stores.map((s) => [s.id, s.name || s.id]));
  const usable = assistants.filter((a) => storesOf(a).length);
  const describe = (a) => `${a.name || a.id} (searches ${storesOf(a).map((id) => storeName.get(id) || id).join(", ")})`;

  const picker = h("select", {}, usable.map((a) => h("option", { value: a.id }, describe(a))), h("option", { value: NEW }, "New assistant…"));
  const extra = h("select", {}, h("option", { value: "" }, "No other store"), stores.map((s) => h("option", { value: s.id }, s.name || s.id)));
  const creator = assistantForm(stores, (assistant) => {
    usable.unshift(assistant);
    picker.prepend(h("option", { value: assistant.id }, describe(assistant)));
    picker.value = assistant.id;
    restart();
    question.focus();
  });
  const restartButton = h("button", { type: "button", class: "secondary" }, "New conversation");
  const setup = h(
    "section",
    { class: "chat-setup", "aria-label": "Assistant settings" },
    field("Assistant", picker),
    creator.element,
    field("Also search, in this conversation only", extra, "An assistant searches one store; a conversation can add one more."),
    restartButton,
  );
  if (!stores.length) setup.prepend(h("p", { class: "empty" }, "Create a store and add documents first: ", h("a", { href: "#/stores" }, "Vector stores"), "."));

  const log = h("ol", { class: "messages", role: "log", "aria-label": "Messages" });
  const question = h("textarea", { rows: 3, required: true });
  const sendButton = h("button", { type: "submit" }, "Send");
  const form = h("form", { class: "ask" }, field("Your question", question, "Enter sends; Shift+Enter starts a new line."), sendButton);
  const dialog = passageDialog();
  view.append(h("div", { class: "chat" }, setup, h("section", { class: "conversation", "aria-label": "Conversation" }, log, form)), dialog.element);

  // The conversation lives in a thread; the tab remembers which, so it survives moving between pages.
  let threadId = null;
  const remember = () => sessionStorage.setItem(SAVED, JSON.stringify({ assistantId: picker.value, extra: extra.value, threadId }));
  const restart = () => {
    threadId = null;
    clear(log);
    creator.element.hidden = picker.value !== NEW;
    sendButton.disabled = picker.value === NEW;
    remember();
  };
  const searched = () => [...storesOf(usable.find((a) => a.id === picker.value)), ...(extra.value ? [extra.value] : [])];
  const addAnswer = (asked) => {
    const cite = (marker, fileId, runId) => ({ threadId, runId, marker, fileId, stores: searched(), question: asked });
    const answer = answerBubble({
      open: (...args) => dialog.open(cite(...args)),
      describe: (...args) => citedPassage(cite(...args)),
    });
    log.append(answer.element);
    return answer;
  };
  const addQuestion = (text) => log.append(h("li", { class: "message user" }, h("span", { class: "who" }, "You"), h("p", {}, text)));

  picker.addEventListener("change", restart);
  extra.addEventListener("change", restart);
  restartButton.addEventListener("click", () => {
    restart();
    question.focus();
  });
  question.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      form.requestSubmit();
    }
  });

  const saved = JSON.parse(sessionStorage.getItem(SAVED) || "null");
  if (saved && usable.some((a) => a.id === saved.assistantId)) {
    picker.value = saved.assistantId;
    extra.value = saved.extra;
  }
  const history = saved?.threadId && picker.value === saved.assistantId ? await all(`threads/${saved.threadId}/messages`, { order: "asc" }).catch(() => null) : null;
  restart();
  if (history) {
    threadId = saved.threadId;
    remember();
    let asked = "";
    for (const m of history) {
      const part = m.content.find((c) => c.type === "text");
      if (!part) continue;
      if (m.role === "user") addQuestion((asked = part.text.value));
      else addAnswer(asked).show(part.text.value, part.text.annotations, m.run_id);
    }
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = question.value.trim();
    if (!text || picker.value === NEW) return;
    question.value = "";
    sendButton.disabled = true;
    addQuestion(text);
    const answer = addAnswer(text);
    answer.element.scrollIntoView({ block: "nearest" });
    const message = { role: "user", content: text };
    const body = threadId
      ? { assistant_id: picker.value, additional_messages: [message] }
      : {
          assistant_id: picker.value,
          thread: { messages: [message], ...(extra.value ? { tool_resources: { file_search: { vector_store_ids: [extra.value] } } } : {}) },
        };
    try {
      await stream(threadId ? `threads/${threadId}/runs` : "threads/runs", body, (name, data) => {
        if (name === "thread.run.created") {
          threadId = data.thread_id;
          remember();
        }
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
function answerBubble(cite) {
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
      const open = () => cite.open(a.text, a.file_citation.file_id, runId);
      const filename = a.text.match(MARKER)?.[3] || a.file_citation.file_id;
      if (!numbers.has(a.text)) {
        numbers.set(a.text, numbers.size + 1);
        sources.append(h("li", { "data-marker": a.text, "data-file": a.file_citation.file_id }, h("button", { type: "button", class: "link", onclick: open }, filename)));
      }
      const n = numbers.get(a.text);
      parts.push(text.slice(at, a.start_index));
      parts.push(h("button", { type: "button", class: "cite", "aria-label": `Source ${n}: ${filename}`, onclick: open }, String(n)));
      at = a.end_index;
    }
    parts.push(text.slice(at));
    clear(body).append(...parts);
  };

  // Once the answer is complete: each source says where it is and how it starts.
  const describe = () => {
    for (const li of sources.children) {
      cite.describe(li.dataset.marker, li.dataset.file, runId).then((p) => {
        if (p) li.append(p.where ? ` · ${p.where}` : "", h("span", { class: "hint" }, ` “${p.text.replace(/\s+/g, " ").slice(0, 90).trim()}…”`));
      });
    }
  };

  return {
    element,
    show(value, notes, run) {
      text = value;
      annotations = notes;
      runId = run;
      status.textContent = "";
      element.setAttribute("aria-busy", "false");
      render();
      describe();
    },
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
      describe();
    },
  };
}

const runSteps = new Map(); // run id -> its steps with file_search results (a finished run's never change)

// A cited passage: the run's file_search result its marker names (【search:result†file】), and where it sits in its file.
async function citedPassage({ threadId, runId, marker, fileId, stores }) {
  if (!runSteps.has(runId)) {
    const request = all(`threads/${threadId}/runs/${runId}/steps`, { order: "asc", "include[]": INCLUDE_CONTENT });
    request.catch(() => runSteps.delete(runId));
    runSteps.set(runId, request);
  }
  const [, turn, index] = marker.match(MARKER).map(Number);
  const steps = await runSteps.get(runId);
  const searches = steps.flatMap((s) => (s.step_details.type === "tool_calls" ? s.step_details.tool_calls.filter((c) => c.type === "file_search") : []));
  const result = searches[turn]?.file_search?.results?.[index];
  if (!result) return null;
  const text = (result.content || []).map((c) => c.text).join("\n");
  const found = await locate(stores, fileId, text);
  const where = found ? (found.page ? `page ${found.page}` : `chunk ${found.index + 1}`) : "";
  return { result, text, found, where };
}

// The dialog that shows a cited passage, with a link to it in its document.
function passageDialog() {
  const titleId = newId("dlg");
  const content = h("div");
  const close = h("button", { type: "button", class: "secondary" }, "Close");
  const element = h("dialog", { class: "passage", "aria-labelledby": titleId }, h("h2", { id: titleId }, "Source"), content, close);
  close.addEventListener("click", () => element.close());

  async function open(citation) {
    clear(content).append(h("p", { class: "busy" }, "Opening the passage…"));
    element.showModal();
    try {
      const passage = await citedPassage(citation);
      if (!passage) throw new ApiError(404, "This passage is no longer available.", "Its conversation may have been deleted.");
      const { result, text, found, where } = passage;
      clear(content).append(
        h("p", { class: "source-head" }, h("strong", {}, result.file_name), where ? ` · ${where}` : "", ` · score ${result.score.toFixed(3)}`),
        h("blockquote", { class: "chunk-text" }, highlighted(text, terms(citation.question))),
        found
          ? h("p", {}, h("a", { href: `${fileLink(found.storeId, citation.fileId, found.index)}&q=${encodeURIComponent(citation.question)}` }, "Open it in the document"))
          : null,
      );
    } catch (err) {
      clear(content).append(errorBox(err));
    }
  }
  return { element, open };
}
