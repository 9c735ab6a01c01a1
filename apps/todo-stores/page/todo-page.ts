/**
 * The todo page: a TinyBase MergeableStore in the browser, kept in sync with the user's store by
 * TinyBase's own WebSocket synchronizer (the token in the query, as browsers cannot set headers on
 * WebSockets). Reconnects when the server closes the socket (the store moved, say).
 * Open it as /#token=<token> (`npm run -w apps/todo-stores token -- <userId>`).
 */
import { createMergeableStore } from "tinybase";
import { createWsSynchronizer } from "tinybase/synchronizers/synchronizer-ws-client";

const token = new URLSearchParams(location.hash.slice(1)).get("token") ?? "";
const claims = readClaims(token);
const store = createMergeableStore();
const status = document.querySelector<HTMLElement>("#status")!;
const list = document.querySelector<HTMLUListElement>("#todos")!;
const form = document.querySelector<HTMLFormElement>("#add")!;
const input = document.querySelector<HTMLInputElement>("#text")!;

function readClaims(t: string): { sub: string; org?: string } | undefined {
  try {
    return JSON.parse(atob(t.split(".")[0]!.replace(/-/g, "+").replace(/_/g, "/")));
  } catch {
    return undefined;
  }
}

async function connect(): Promise<void> {
  if (!claims) {
    status.textContent = "Open this page as /#token=<token> (npm run -w apps/todo-stores token -- <userId>).";
    return;
  }
  const path = claims.org ? `/${claims.org}/users/${claims.sub}` : `/${claims.sub}`;
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}?token=${encodeURIComponent(token)}`);
  ws.addEventListener("close", () => {
    status.textContent = "reconnecting…";
    document.body.dataset.synced = "false";
    setTimeout(connect, 500);
  });
  const synchronizer = await createWsSynchronizer(store, ws, 1);
  ws.addEventListener("close", () => void synchronizer.destroy());
  await synchronizer.startSync();
  status.textContent = `${claims.org ? `${claims.org} / ` : ""}${claims.sub}: in sync`;
  document.body.dataset.synced = "true";
}

function render(): void {
  const ids = store.getSortedRowIds("todos", "at");
  list.replaceChildren(
    ...ids.map((id) => {
      const row = store.getRow("todos", id);
      const item = document.createElement("li");
      item.dataset.id = id;
      const done = document.createElement("input");
      done.type = "checkbox";
      done.checked = row.done === true;
      done.addEventListener("change", () => store.setCell("todos", id, "done", done.checked));
      const text = document.createElement("span");
      text.textContent = String(row.text ?? "");
      const remove = document.createElement("button");
      remove.textContent = "×";
      remove.title = "Delete";
      remove.addEventListener("click", () => store.delRow("todos", id));
      item.append(done, text, remove);
      return item;
    }),
  );
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  store.setRow("todos", crypto.randomUUID(), { text, done: false, at: Date.now() });
  input.value = "";
});
store.addTablesListener(render);
render();
// For tests and the curious: the page's store.
(window as unknown as { todoStore: typeof store }).todoStore = store;
void connect();
