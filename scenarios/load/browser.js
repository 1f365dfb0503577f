// The browser scenario's page: subscribers built on the web platform's own clients (a fetch
// loop, EventSource, WebSocket), each recording what it saw with the page's clock.
//
// Latency is `performance.timeOrigin + performance.now()` when the application holds an event's
// text, minus the publisher's scheduled send time (`data.t`, ns since the epoch). Both clocks are
// this machine's CLOCK_REALTIME: the page's origin is read from it once and advances monotonically
// (Chromium coarsens it to 100 µs without cross-origin isolation).
"use strict";

(() => {
  const now = () => performance.timeOrigin + performance.now();
  const subscribers = [];

  class Subscriber {
    constructor(transport, base, room, after) {
      this.transport = transport;
      this.base = base;
      this.room = room;
      this.after = after;
      this.created = now();
      this.opens = [];
      this.errors = [];
      this.first = null;
      this.ids = [];
      this.latencies = [];
      this.gaps = 0;
      this.outcome = "pending";
      this.closeCode = null;
      this.closed = false;
      this[`open_${transport}`]();
    }

    url(suffix) {
      const query = this.after === null ? "" : `?after=${this.after}`;
      return `${this.base}/rooms/${this.room}/${suffix}${query}`;
    }

    opened() {
      this.opens.push(now());
      this.outcome = "read";
    }

    deliver(text, receivedAt) {
      const event = JSON.parse(text);
      this.take(event, receivedAt);
    }

    take(event, receivedAt) {
      if (event.gap) {
        this.gaps += 1;
        return;
      }
      if (this.first === null) this.first = receivedAt;
      this.ids.push(event.id);
      const data = event.data;
      if (data && typeof data.t === "number") this.latencies.push(receivedAt - data.t / 1e6);
    }

    open_longpoll() {
      this.controller = new AbortController();
      const signal = this.controller.signal;
      (async () => {
        let after = this.after;
        while (!this.closed) {
          const query = after === null ? "" : `after=${after}&`;
          let response, text;
          try {
            response = await fetch(`${this.base}/rooms/${this.room}/poll?${query}timeout=25`, {
              signal,
              cache: "no-store",
            });
            text = await response.text();
          } catch (error) {
            if (!this.closed) {
              this.errors.push(now());
              if (!this.opens.length) this.outcome = `blocked: ${error.name}: ${error.message}`;
            }
            return;
          }
          const receivedAt = now();
          if (!response.ok) {
            this.outcome = `refused: HTTP ${response.status}`;
            return;
          }
          if (!this.opens.length) this.opened();
          const body = JSON.parse(text);
          for (const event of body.events) this.take(event, receivedAt);
          after = body.next;
        }
      })();
    }

    open_sse() {
      const source = (this.source = new EventSource(this.url("sse")));
      source.onopen = () => this.opened();
      source.onmessage = (e) => this.deliver(e.data, now());
      source.onerror = () => {
        this.errors.push(now());
        if (source.readyState === EventSource.CLOSED && !this.opens.length) {
          this.outcome = "blocked: the EventSource failed before it opened";
        }
      };
    }

    open_ws() {
      const socket = (this.socket = new WebSocket(this.url("ws").replace(/^http/, "ws")));
      socket.binaryType = "arraybuffer";
      socket.onopen = () => this.opened();
      socket.onmessage = (e) => {
        const receivedAt = now();
        if (typeof e.data !== "string") return;
        const message = JSON.parse(e.data);
        if (!message.op) this.take(message, receivedAt);
      };
      socket.onclose = (e) => {
        this.errors.push(now());
        this.closeCode = e.code;
        if (!this.opens.length) this.outcome = `refused: closed ${e.code} before it opened`;
      };
    }

    close() {
      this.closed = true;
      if (this.controller) this.controller.abort();
      if (this.source) this.source.close();
      if (this.socket) this.socket.close(1000);
    }

    summary() {
      return {
        transport: this.transport,
        created: this.created,
        opens: this.opens,
        errors: this.errors,
        first: this.first,
        ids: this.ids,
        latencies_ms: this.latencies,
        gaps: this.gaps,
        outcome: this.outcome,
        close_code: this.closeCode,
        closed: this.closed,
      };
    }
  }

  window.rt = {
    open(transport, base, room, count, after = null) {
      const made = [];
      for (let i = 0; i < count; i += 1) {
        made.push(subscribers.push(new Subscriber(transport, base, room, after)) - 1);
      }
      return made;
    },
    opened(indices) {
      return indices.filter((i) => subscribers[i].opens.length > 0).length;
    },
    close(indices) {
      const at = now();
      for (const i of indices) subscribers[i].close();
      return at;
    },
    summary(indices) {
      return indices.map((i) => subscribers[i].summary());
    },
    now,
  };
})();
