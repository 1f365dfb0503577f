// rtbench live demo: three subscribers to one room, one per transport, speaking the same wire
// contract as every rtbench client (docs/protocol.md). No framework, no CDN, no innerHTML.
"use strict";

(() => {
  const ROOM_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
  const asked = new URLSearchParams(location.search).get("room") || "";
  const ROOM = ROOM_PATTERN.test(asked) ? asked : "demo";
  const HISTORY = 10; // events from before the page opened, shown on load
  const KEEP = 300; // list items kept per panel
  const WINDOW = 100; // latency samples kept per panel
  const POLL_TIMEOUT_S = 20;
  const encoder = new TextEncoder();
  const clock = () => performance.timeOrigin + performance.now();
  const roomPath = `/rooms/${encodeURIComponent(ROOM)}`;

  const TRANSPORTS = [
    { name: "longpoll", title: "Long polling", how: "fetch loop: GET …/poll?after=<id>", Link: null },
    { name: "sse", title: "Server-Sent Events", how: "EventSource: GET …/sse, Last-Event-ID", Link: null },
    { name: "ws", title: "WebSocket", how: "new WebSocket(…/ws?after=<id>)", Link: null },
  ];

  const byteSize = (text) => encoder.encode(text).length;
  const percentile = (sorted, q) => sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
  const formatMs = (ms) => (ms < 10 ? ms.toFixed(1) : ms.toFixed(0)) + " ms";
  const formatBytes = (n) => (n < 10_000 ? `${n} B` : `${(n / 1024).toFixed(1)} KiB`);

  /** Capped exponential backoff with full jitter: reconnecting clients do not stampede. */
  class Backoff {
    constructor(baseMs = 250, capMs = 8000) {
      this.baseMs = baseMs;
      this.capMs = capMs;
      this.attempt = 0;
    }
    next() {
      const ceiling = Math.min(this.capMs, this.baseMs * 2 ** this.attempt);
      this.attempt += 1;
      return Math.round(this.baseMs / 2 + Math.random() * (ceiling - this.baseMs / 2));
    }
    reset() {
      this.attempt = 0;
    }
  }

  /** What one panel shows: state, figures and the events in arrival order. */
  class Panel {
    constructor(spec, cursor) {
      const node = document.getElementById("panel-template").content.firstElementChild.cloneNode(true);
      node.dataset.transport = spec.name;
      node.querySelector("h2").textContent = spec.title;
      node.querySelector(".how").textContent = spec.how;
      this.root = node;
      this.list = node.querySelector(".events");
      this.stateLine = node.querySelector(".state");
      this.figures = Object.fromEntries(
        [...node.querySelectorAll("[data-figure]")].map((el) => [el.dataset.figure, el]),
      );
      this.cursor = cursor; // id of the last event shown: the resume point
      this.counts = { messages: 0, bytes: 0, connects: 0, reconnects: 0, gaps: 0, duplicates: 0, disorder: 0 };
      this.latencies = [];
      this.render();
    }

    setState(state, detail = "") {
      this.root.dataset.state = state;
      this.stateLine.textContent = detail ? `${state} — ${detail}` : state;
    }

    count(name, by = 1) {
      this.counts[name] += by;
      this.render();
    }

    /** One event or gap notice, as every transport delivers it. */
    deliver(message, bytes) {
      this.counts.bytes += bytes;
      if (message && typeof message.gap === "object" && message.gap !== null) {
        this.gap(message);
        return;
      }
      if (!message || !Number.isInteger(message.id)) return;
      const item = this.append("event");
      item.dataset.id = String(message.id);
      if (message.id <= this.cursor) {
        this.counts.duplicates += 1;
        item.classList.add("duplicate");
      } else {
        if (message.id !== this.cursor + 1) this.counts.disorder += 1;
        this.cursor = message.id;
      }
      this.counts.messages += 1;
      this.span(item, "id", `#${message.id}`);
      this.span(item, "text", describe(message.data));
      const sent = message.data && typeof message.data === "object" ? message.data.sent : undefined;
      if (typeof sent === "number") {
        const ms = clock() - sent;
        this.latencies.push(ms);
        if (this.latencies.length > WINDOW) this.latencies.shift();
        this.span(item, "ms", formatMs(ms));
      }
      this.render();
    }

    gap(notice) {
      const { from, to } = notice.gap;
      const item = this.append("gap");
      item.dataset.gapFrom = String(from);
      item.dataset.gapTo = String(to);
      this.span(
        item,
        "text",
        notice.reset
          ? `server restarted: ids start again (events 1–${to} of before are gone)`
          : `gap: events #${from}–#${to} are no longer buffered`,
      );
      this.counts.gaps += 1;
      // After a reset the room's ids start again at 1; otherwise skip past the missing range.
      this.cursor = notice.reset ? from - 1 : Math.max(this.cursor, to);
      this.render();
    }

    append(kind) {
      const item = document.createElement("li");
      item.className = kind;
      this.list.append(item);
      while (this.list.childElementCount > KEEP) this.list.firstElementChild.remove();
      this.list.scrollTop = this.list.scrollHeight;
      return item;
    }

    span(parent, className, text) {
      const el = document.createElement("span");
      el.className = className;
      el.textContent = text; // never innerHTML: a message is text, whatever it contains
      parent.append(el);
    }

    render() {
      const c = this.counts;
      this.figures.messages.textContent = String(c.messages);
      this.figures.bytes.textContent = c.messages
        ? `${formatBytes(c.bytes)} (${Math.round(c.bytes / c.messages)} B/event)`
        : formatBytes(c.bytes);
      if (this.latencies.length) {
        const sorted = [...this.latencies].sort((a, b) => a - b);
        this.figures.latency.textContent = `${formatMs(percentile(sorted, 0.5))} · ${formatMs(percentile(sorted, 0.99))}`;
      }
      this.figures.connects.textContent = String(c.connects);
      this.figures.reconnects.textContent = String(c.reconnects);
      this.figures.anomalies.textContent = `${c.gaps} · ${c.duplicates} · ${c.disorder}`;
    }
  }

  function describe(data) {
    if (data && typeof data === "object" && typeof data.text === "string") return data.text;
    const text = JSON.stringify(data);
    return text.length > 300 ? `${text.slice(0, 300)}…` : text;
  }

  /** A subscription that keeps itself alive: the transports differ only in connect/close. */
  class Link {
    constructor(panel) {
      this.panel = panel;
      this.backoff = new Backoff();
      this.offline = false;
      this.timer = null;
    }
    start() {
      this.offline = false;
      clearTimeout(this.timer);
      this.panel.setState("connecting", `resuming after #${this.panel.cursor}`);
      this.connect();
    }
    goOffline() {
      this.offline = true;
      clearTimeout(this.timer);
      this.close();
      this.panel.setState("offline", `will resume after #${this.panel.cursor}`);
    }
    kill() {
      if (this.offline) return;
      this.close();
      this.retry("connection killed");
    }
    retry(reason) {
      if (this.offline) return;
      this.close();
      clearTimeout(this.timer);
      const delay = this.backoff.next();
      this.panel.count("reconnects");
      this.panel.setState("reconnecting", `${reason}; retry in ${delay} ms after #${this.panel.cursor}`);
      this.timer = setTimeout(() => this.connect(), delay);
    }
    opened(detail) {
      this.backoff.reset();
      this.panel.count("connects");
      this.panel.setState("open", detail);
    }
  }

  class LongPollLink extends Link {
    connect() {
      const controller = (this.controller = new AbortController());
      this.poll(controller.signal);
    }
    close() {
      if (this.controller) this.controller.abort();
      this.controller = null;
    }
    async poll(signal) {
      let first = true;
      while (!signal.aborted) {
        // The first poll after a (re)connect returns at once, so the panel knows the server answers.
        const timeout = first ? 0 : POLL_TIMEOUT_S;
        const url = `${roomPath}/poll?after=${this.panel.cursor}&timeout=${timeout}`;
        let response, text;
        try {
          if (!first) this.panel.count("connects");
          response = await fetch(url, { signal, cache: "no-store" });
          text = await response.text();
        } catch (error) {
          if (!signal.aborted) this.retry("request failed");
          return;
        }
        if (signal.aborted) return;
        if (!response.ok) {
          this.retry(`HTTP ${response.status}`);
          return;
        }
        if (first) this.opened(`one request per answer, held up to ${POLL_TIMEOUT_S} s`);
        first = false;
        const body = JSON.parse(text);
        this.panel.counts.bytes += byteSize(text);
        if (body.gap) this.panel.deliver({ gap: body.gap, reset: body.reset === true }, 0);
        for (const event of body.events) this.panel.deliver(event, 0);
        this.panel.cursor = body.next;
      }
    }
  }

  class SSELink extends Link {
    connect() {
      const source = (this.source = new EventSource(`${roomPath}/sse?after=${this.panel.cursor}`));
      source.onopen = () => this.opened("one stream; the browser reconnects it with Last-Event-ID");
      source.onmessage = (e) => {
        this.panel.deliver(JSON.parse(e.data), byteSize(`id: ${e.lastEventId}\ndata: ${e.data}\n\n`));
      };
      source.addEventListener("gap", (e) => {
        this.panel.deliver(JSON.parse(e.data), byteSize(`event: gap\ndata: ${e.data}\n\n`));
      });
      source.onerror = () => {
        if (this.source !== source) return;
        if (source.readyState === EventSource.CONNECTING) {
          this.panel.count("reconnects");
          this.panel.setState("reconnecting", `EventSource retries itself, Last-Event-ID: ${this.panel.cursor}`);
        } else {
          this.retry("stream refused");
        }
      };
    }
    close() {
      if (this.source) this.source.close();
      this.source = null;
    }
  }

  class WebSocketLink extends Link {
    connect() {
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      const socket = (this.socket = new WebSocket(`${scheme}://${location.host}${roomPath}/ws?after=${this.panel.cursor}`));
      socket.onopen = () => this.opened("one socket, both directions");
      socket.onmessage = (e) => {
        const message = JSON.parse(e.data);
        if (message.op) return; // acks and errors answer this socket's own requests
        const size = byteSize(e.data);
        this.panel.deliver(message, size + (size < 126 ? 2 : 4));
      };
      socket.onclose = (e) => {
        if (this.socket !== socket) return;
        this.socket = null;
        this.retry(`closed with ${e.code}${e.reason ? ` (${e.reason})` : ""}`);
      };
    }
    close() {
      const socket = this.socket;
      this.socket = null;
      if (socket) socket.close(1000, "client went away");
    }
  }

  TRANSPORTS[0].Link = LongPollLink;
  TRANSPORTS[1].Link = SSELink;
  TRANSPORTS[2].Link = WebSocketLink;

  const status = document.getElementById("publish-status");
  let published = 0;

  async function publish(text) {
    const body = JSON.stringify({ data: { text, sent: clock() } });
    try {
      const response = await fetch(`${roomPath}/events`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      const answer = await response.json();
      status.textContent = response.ok
        ? `published #${answer.id} (${++published} from this page)`
        : `refused: HTTP ${response.status}: ${answer.error}`;
    } catch (error) {
      status.textContent = `publish failed: ${error.message}`;
    }
  }

  function wireControls() {
    const form = document.getElementById("publish");
    const input = document.getElementById("text");
    const asYouType = document.getElementById("as-you-type");
    let debounce = null;
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      clearTimeout(debounce);
      if (input.value) publish(input.value);
      input.value = "";
    });
    // Debounced: one publish per pause in typing, not one per key.
    input.addEventListener("input", () => {
      if (!asYouType.checked) return;
      clearTimeout(debounce);
      debounce = setTimeout(() => input.value && publish(input.value), 400);
    });
    let ticker = null;
    let tick = 0;
    document.getElementById("ticker").addEventListener("change", (e) => {
      clearInterval(ticker);
      const every = Number(e.target.value);
      if (every > 0) ticker = setInterval(() => publish(`tick ${++tick}`), every);
    });
  }

  async function lastId() {
    const backoff = new Backoff();
    for (;;) {
      try {
        const response = await fetch(roomPath, { cache: "no-store" });
        if (response.ok) return (await response.json()).last_id;
      } catch (error) {
        // the server is not up yet: try again
      }
      await new Promise((resolve) => setTimeout(resolve, backoff.next()));
    }
  }

  async function main() {
    document.getElementById("room-name").textContent = ROOM;
    wireControls();
    const served = await fetch("/status", { cache: "no-store" }).then((r) => r.json()).catch(() => null);
    const transport = served ? served.transport : "all";
    if (served) {
      document.getElementById("server").textContent =
        `rtbench ${served.version} · transport ${served.transport} · broker ${served.broker.kind} · room ${ROOM}`;
    }
    const start = Math.max(0, (await lastId()) - HISTORY);
    const panels = {};
    for (const spec of TRANSPORTS) {
      const panel = new Panel(spec, start);
      document.getElementById("panels").append(panel.root);
      panels[spec.name] = panel;
      if (transport !== "all" && transport !== spec.name) {
        panel.setState("unavailable", `this server speaks ${transport} only: run make demo`);
        panel.root.querySelectorAll("button").forEach((b) => (b.disabled = true));
        continue;
      }
      const link = new spec.Link(panel);
      panel.root.querySelector('[data-action="kill"]').addEventListener("click", () => link.kill());
      const offline = panel.root.querySelector('[data-action="offline"]');
      offline.addEventListener("click", () => {
        const going = offline.getAttribute("aria-pressed") !== "true";
        offline.setAttribute("aria-pressed", String(going));
        offline.textContent = going ? "Come back online" : "Go offline";
        if (going) link.goOffline();
        else link.start();
      });
      link.start();
    }
    window.rtbenchDemo = { room: ROOM, panels };
    document.body.dataset.ready = "true";
  }

  main();
})();
