/*
 * Durable outbox for kiosk taps (IndexedDB).
 *
 * Every tap is stored first, with its own Idempotency-Key, and sent when it is
 * due (after the undo window) and the server answers. A lost connection leaves
 * it stored; a reload keeps it; a retry with the same key can never apply the
 * tap twice. A tap the server refuses (4xx) is removed and reported, so the
 * technician sees it instead of it retrying forever.
 *
 * Taps are sent one at a time in the order they were made. A tap that follows
 * another tap on the same order takes its version from that tap's answer,
 * since it was made on the state the earlier tap produced.
 *
 * A photo of additional work is its own entry (the picture kept as a Blob),
 * tied to the tap that quotes the work: it is sent after that tap, to the
 * quote id the tap's answer names, and goes with it when the tap is undone
 * or refused. The quote id is written into the stored entry before the tap
 * is removed, so a reload in between cannot orphan the photo.
 *
 * Requests go through page.js (loaded first).
 */
(function (global) {
  "use strict";

  var DB_NAME = "baylight-kiosk";
  var STORE = "taps";
  var RETRY_MS = 2000;
  var memory = {};            // fallback when IndexedDB is unavailable
  var db = null;
  var listeners = { change: [], result: [], online: [] };
  var versions = {};          // tap key -> order version after it applied
  var quoteIds = {};          // tap key -> id of the quote it created
  var timer = null;
  var sending = false;
  var again = false;
  var online = true;
  var page = global.Baylight.page;

  function emit(kind, a, b, c) {
    listeners[kind].forEach(function (fn) { fn(a, b, c); });
  }

  function newKey() { return "tap-" + page.newKey(); }

  function open() {
    return new Promise(function (resolve) {
      if (!global.indexedDB) { resolve(null); return; }
      var request = global.indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = function () {
        request.result.createObjectStore(STORE, { keyPath: "key" });
      };
      request.onsuccess = function () { db = request.result; resolve(db); };
      request.onerror = function () { resolve(null); };
    });
  }

  function tx(mode, work) {
    return new Promise(function (resolve, reject) {
      if (!db) { resolve(work(null)); return; }
      var transaction = db.transaction(STORE, mode);
      var store = transaction.objectStore(STORE);
      var result = work(store);
      transaction.oncomplete = function () {
        resolve(result && result.result !== undefined ? result.result : result);
      };
      transaction.onerror = function () { reject(transaction.error); };
    });
  }

  function all() {
    if (!db) {
      return Promise.resolve(Object.keys(memory).map(function (k) { return memory[k]; })
        .sort(function (a, b) { return a.created - b.created; }));
    }
    return tx("readonly", function (store) { return store.getAll(); }).then(function (rows) {
      return (rows || []).sort(function (a, b) { return a.created - b.created; });
    });
  }

  function put(entry) {
    if (!db) { memory[entry.key] = entry; return Promise.resolve(); }
    return tx("readwrite", function (store) { store.put(entry); });
  }

  function remove(key) {
    if (!db) { delete memory[key]; return Promise.resolve(); }
    return tx("readwrite", function (store) { store["delete"](key); });
  }

  function changed() {
    return all().then(function (rows) { emit("change", rows.length, rows); });
  }

  /* Stored first, then announced and sent: a tap survives a reload at once. */
  function enqueue(entry, delayMs) {
    return put(entry).then(function () {
      changed();
      schedule(delayMs);
      return entry.key;
    });
  }

  /* add({path, body, token, orderId, label, delayMs}) -> Promise(key) */
  function add(tap) {
    return all().then(function (rows) {
      var previous = null;
      rows.forEach(function (row) {
        // Photos change no order version: the next tap chains to the tap before.
        if (row.orderId === tap.orderId && row.kind !== "photo") previous = row.key;
      });
      var entry = {
        key: newKey(),
        path: tap.path,
        body: tap.body,
        token: tap.token,
        orderId: tap.orderId,
        label: tap.label,
        after: previous,
        created: Date.now(),
        due: Date.now() + (tap.delayMs || 0)
      };
      return enqueue(entry, tap.delayMs || 0);
    });
  }

  /* addPhoto({path (with "{quote_id}"), blob, token, orderId, label, after, delayMs}):
     the picture for the quote that tap ``after`` creates. -> Promise(key) */
  function addPhoto(photo) {
    var entry = {
      key: newKey(),
      kind: "photo",
      path: photo.path,
      blob: photo.blob,
      contentType: photo.blob.type || "image/jpeg",
      token: photo.token,
      orderId: photo.orderId,
      label: photo.label,
      dependsOn: photo.after,
      quoteId: quoteIds[photo.after] || null,
      created: Date.now(),
      due: Date.now() + (photo.delayMs || 0)
    };
    return enqueue(entry, photo.delayMs || 0);
  }

  function dependents(rows, key) {
    return rows.filter(function (r) { return r.dependsOn === key; });
  }

  /* The undo: drop a tap that has not been sent yet, with its photo. True when it was still waiting. */
  function cancel(key) {
    return all().then(function (rows) {
      var found = rows.filter(function (r) { return r.key === key; })[0];
      if (!found || found.sending) return false;
      var doomed = [found].concat(dependents(rows, key));
      return Promise.all(doomed.map(function (r) { return remove(r.key); })).then(function () {
        changed();
        return true;
      });
    });
  }

  function schedule(ms) {
    if (timer) clearTimeout(timer);
    timer = setTimeout(flush, Math.max(0, ms));
  }

  function setOnline(value) {
    if (online !== value) { online = value; emit("online", value); }
  }

  /* The entry's own key makes a resend after a lost answer safe. */
  function post(entry, path, contentType, body) {
    return page.request("POST", path, {
      raw: body, contentType: contentType, token: entry.token, key: entry.key, credentials: "omit"
    });
  }

  function sendPhoto(entry) {
    var path = entry.path.split("{quote_id}").join(String(entry.quoteId));
    entry.sending = true;
    return put(entry).then(function () {
      return post(entry, path, entry.contentType, entry.blob);
    });
  }

  function send(entry) {
    if (entry.kind === "photo") return sendPhoto(entry);
    var body = JSON.parse(JSON.stringify(entry.body));
    if (entry.after && versions[entry.after] !== undefined) body.version = versions[entry.after];
    entry.sending = true;
    return put(entry).then(function () {
      return post(entry, entry.path, "application/json", JSON.stringify(body));
    });
  }

  /* After a tap's answer, and before the tap leaves the store: its photo
     learns the quote id (kept in the store), or goes with a refused tap. */
  function settleDependents(rows, entry, status, data) {
    var waiting = dependents(rows, entry.key);
    if (!waiting.length) return Promise.resolve();
    if (status < 300 && data && data.id !== undefined) {
      quoteIds[entry.key] = data.id;
      return Promise.all(waiting.map(function (r) { r.quoteId = data.id; return put(r); }));
    }
    return Promise.all(waiting.map(function (r) { r.dropped = true; return remove(r.key); }));
  }

  /* A photo whose tap has not been answered yet waits; one whose tap is gone
     without a quote id (undone meanwhile) is dropped. */
  function photoState(rows, entry) {
    if (entry.quoteId || quoteIds[entry.dependsOn]) {
      entry.quoteId = entry.quoteId || quoteIds[entry.dependsOn];
      return "ready";
    }
    var tapWaiting = rows.some(function (r) { return r.key === entry.dependsOn; });
    return tapWaiting ? "wait" : "orphan";
  }

  function flush() {
    timer = null;
    if (sending) { again = true; return; }
    sending = true;
    again = false;
    all().then(function (rows) {
      var now = Date.now();
      var due = rows.filter(function (r) { return r.due <= now; });
      var next = rows.filter(function (r) { return r.due > now; })
        .reduce(function (min, r) { return Math.min(min, r.due - now); }, Infinity);
      function step(i) {
        if (i >= due.length) {
          sending = false;
          if (again) schedule(0);
          else if (next !== Infinity) schedule(next);
          return;
        }
        var entry = due[i];
        if (entry.dropped) { step(i + 1); return; }
        if (entry.kind === "photo") {
          var state = photoState(rows, entry);
          if (state === "wait") { step(i + 1); return; }
          if (state === "orphan") { remove(entry.key).then(function () { changed(); step(i + 1); }); return; }
        }
        send(entry).then(function (reply) {
          if (reply.status >= 500 || reply.status === 429 || reply.status === 0) {
            entry.sending = false;
            return put(entry).then(function () { throw new Error("retry"); });
          }
          setOnline(true);
          var order = reply.data && (reply.data.order || (reply.data.id ? reply.data : null));
          if (reply.status < 300 && order) versions[entry.key] = order.version;
          return settleDependents(rows, entry, reply.status, reply.data).then(function () {
            return remove(entry.key);
          }).then(function () {
            changed();
            emit("result", entry, reply.status, reply.data);
            step(i + 1);
          });
        }).catch(function () {
          // Network down or server failing: keep everything, try again later.
          entry.sending = false;
          put(entry).then(function () {
            setOnline(false);
            sending = false;
            changed();
            schedule(RETRY_MS);
          });
        });
      }
      step(0);
    });
  }

  function start() {
    return open().then(function () {
      // A tap caught mid-send by a reload is sent again: its key makes that safe.
      return all().then(function (rows) {
        return Promise.all(rows.map(function (r) { r.sending = false; return put(r); }));
      });
    }).then(function () {
      global.addEventListener("online", function () { schedule(0); });
      changed();
      schedule(0);
    });
  }

  global.Outbox = {
    start: start,
    add: add,
    addPhoto: addPhoto,
    cancel: cancel,
    flush: function () { schedule(0); },
    count: function () { return all().then(function (r) { return r.length; }); },
    isOnline: function () { return online; },
    on: function (kind, fn) { listeners[kind].push(fn); }
  };
})(window);
