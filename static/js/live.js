/*
 * Baylight live client, shared by every screen.
 *
 * - Pairing (RFC 8628 style): an unpaired screen shows its code in #pairing-code
 *   and polls until an admin approves it; the device token is kept in localStorage.
 * - Socket.IO with auth {token, since}: the first connect gets a snapshot; a
 *   reconnect asks only for what it missed. Every message carries the shop's seq,
 *   so each change is applied once.
 * - Never stale without saying so: a periodic seq check doubles as heartbeat; after
 *   45 s without one the #stale banner says since when the data is old. A lost
 *   connection (the server gone, the network down) shows it within 5 s.
 * Loaded after page.js (requests), before the screen's own script.
 * Written for old TV browsers too: no modules, no top-level await, no optional chaining.
 */
(function (global) {
  "use strict";

  // A connected server that has said nothing (no message, no answer to the
  // seq check) for this long: the data may be old.
  var STALE_AFTER_MS = 45000;
  // The connection itself lost for this long: say so (a blip that reconnects
  // sooner does not flash the banner on a wall TV).
  var LOST_AFTER_MS = 5000;
  var CHECK_EVERY_MS = 15000;
  // How often the banner's two rules are looked at (cheap: two comparisons).
  var BANNER_EVERY_MS = 1000;
  var GAP_WAIT_MS = 1500;
  var helpers = global.Baylight.page;

  function strings() {
    var el = document.getElementById("strings");
    return el ? JSON.parse(el.textContent) : {};
  }

  function pad(n) { var s = String(n); return s.length < 2 ? "0" + s : s; }

  /* Shop time. Times are shown in the shop's time zone (from the snapshot, or
     the page for the customer's link), not the device's: a TV's clock setting
     is whatever the installer left it at. One set of formatters, made by
     useTimeZone(); before it (or for a zone the browser does not know) the
     device's clock stands in. */
  var timeFormat = null;    // hh:mm
  var dayKey = null;        // the shop's calendar day, to compare ("28/11/2026")
  var dayLabel = null;      // the date as shown, in the page's language ("11/28")
  var wallParts = null;     // year … second, for the wall time typed in an input
  var clocks = [];

  /* zone: an IANA name ("Asia/Shanghai"); lang: the language of the date
     (the page's <html lang> unless told). */
  function useTimeZone(zone, lang) {
    var language = lang || document.documentElement.lang || "en";
    try {
      timeFormat = new Intl.DateTimeFormat("en-GB", {
        timeZone: zone, hour: "2-digit", minute: "2-digit", hour12: false
      });
      dayKey = new Intl.DateTimeFormat("en-GB", {
        timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit"
      });
      dayLabel = new Intl.DateTimeFormat(language, { timeZone: zone, month: "numeric", day: "numeric" });
      wallParts = new Intl.DateTimeFormat("en-US", {
        timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit"
      });
      // Old engines have no formatToParts: the device's clock stands in there.
      if (!wallParts.formatToParts) wallParts = null;
    } catch (unknownZone) {
      timeFormat = null;
      dayKey = null;
      dayLabel = null;
      wallParts = null;
    }
    clocks.forEach(function (tick) { tick(); });
  }

  function hhmm(date) {
    if (timeFormat) {
      // Some engines say "24:05" for five past midnight with hour12: false.
      return timeFormat.format(date).replace(/^24/, "00");
    }
    return pad(date.getHours()) + ":" + pad(date.getMinutes());
  }

  /* hh:mm in the shop's time zone, with the date when it is not today on the
     shop's calendar (a part expected tomorrow must not read as today).
     blank: what a missing time reads as ("" unless told, e.g. "—"). */
  function when(iso, blank) {
    if (!iso) return blank === undefined ? "" : blank;
    var date = new Date(iso);
    var shown = hhmm(date);
    if (dayKey && dayKey.format(date) !== dayKey.format(new Date())) {
      shown = dayLabel.format(date) + " " + shown;
    }
    return shown;
  }

  /* when() in two parts, for a screen that shows the time large and the date
     small: {time: "15:30", day: "11/29"}, day "" when it is today on the
     shop's calendar; null without a time. */
  function whenParts(iso) {
    if (!iso) return null;
    var date = new Date(iso);
    var day = "";
    if (dayKey && dayKey.format(date) !== dayKey.format(new Date())) day = dayLabel.format(date);
    return { time: hhmm(date), day: day };
  }

  /* Minutes east of UTC on the shop's clock at an instant (ms). */
  function offsetAt(ms) {
    if (!wallParts) return -new Date(ms).getTimezoneOffset();
    var p = {};
    wallParts.formatToParts(new Date(ms)).forEach(function (part) { p[part.type] = Number(part.value); });
    // hour % 24: some engines say 24 for midnight even with h23.
    var asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour % 24, p.minute, p.second);
    return Math.round((asUtc - Math.floor(ms / 1000) * 1000) / 60000);
  }

  /* "2026-11-28T15:30" (a datetime-local input's value) read as the shop's
     wall time -> ISO 8601 with the shop's offset then
     ("2026-11-28T15:30:00+08:00"); null for anything else. */
  function shopIso(local) {
    var m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(local || "");
    if (!m) return null;
    var wall = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]));
    // The offset at the wall time read as UTC is a guess; the offset at the
    // instant that guess gives is the shop's (across a DST change too).
    var offset = offsetAt(wall - offsetAt(wall) * 60000);
    var abs = Math.abs(offset);
    return m[0] + ":00" + (offset < 0 ? "-" : "+") + pad(Math.floor(abs / 60)) + ":" + pad(abs % 60);
  }

  /* A moment (a Date or ms) as a datetime-local input's value on the shop's
     wall clock: "2026-11-28T15:30". */
  function wallValue(moment) {
    var ms = typeof moment === "number" ? moment : moment.getTime();
    var d = new Date(ms + offsetAt(ms) * 60000);
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) +
      "T" + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
  }

  /* Minutes since midnight in the shop's time zone (for opening hours). */
  function minutesOfDay(date) {
    var parts = hhmm(date).split(":");
    return Number(parts[0]) * 60 + Number(parts[1]);
  }

  /* The shop's own words for the stages (shop.stage_labels: {locale:
     {stage: word}}) over the catalogue's (strings.stage_defaults) in the
     strings' own language (strings.locale): a shop's label change reaches a
     screen in its snapshot or the "shop" message, and reads as the page's
     strings do. A word the shop gave back is the catalogue's again. */
  function useShopLabels(strings, shop) {
    if (!strings || !strings.stages) return strings;
    var defaults = strings.stage_defaults || strings.stages;
    var all = (shop && shop.stage_labels) || {};
    var mine = all[strings.locale] || {};
    var stages = {};
    Object.keys(defaults).forEach(function (stage) {
      stages[stage] = mine[stage] || defaults[stage];
    });
    strings.stage_defaults = defaults;
    strings.stages = stages;
    return strings;
  }

  function fill(template, values) {
    return String(template || "").replace(/\{(\w+)\}/g, function (all, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : all;
    });
  }

  /*
   * Pages through a list that may not fit the screen: as many rows as the
   * space below the list's top allows, a new page every `every` ms, and
   * "1/3" in the indicator. TVs have no scrollbars and nobody to scroll.
   * options: {list, indicator, render(item) -> element, every, reserve(): px,
   *           drawn(list): called once a page's rows are in the document}
   */
  function pager(options) {
    var items = [];
    var page = 0;
    var perPage = 1;
    var pages = 1;

    /* Rows are counted at the tallest row's height: a lounge row whose
       estimate is another day's band takes two lines, and a page counted at
       the first row's height cut its last rows off the screen. */
    function measure() {
      if (!items.length) return 1;
      helpers.clear(options.list);
      var rowHeight = 1;
      var top = null;
      items.forEach(function (item) {
        var probe = options.list.appendChild(options.render(item));
        var box = probe.getBoundingClientRect();
        if (top === null) top = box.top;
        rowHeight = Math.max(rowHeight, box.height);
      });
      helpers.clear(options.list);
      var reserve = options.reserve ? options.reserve() : 0;
      var room = global.innerHeight - top - reserve;
      return Math.max(1, Math.floor(room / rowHeight));
    }

    /* Measured when the rows or the screen change, not at every page turn:
       measuring renders every row once. */
    function draw(remeasure) {
      if (remeasure) perPage = measure();
      pages = Math.max(1, Math.ceil(items.length / perPage));
      if (page >= pages) page = 0;
      helpers.clear(options.list);
      items.slice(page * perPage, (page + 1) * perPage).forEach(function (item) {
        options.list.appendChild(options.render(item));
      });
      if (options.drawn) options.drawn(options.list);
      if (options.indicator) {
        options.indicator.textContent = (page + 1) + "/" + pages;
        options.indicator.hidden = pages < 2;
      }
    }

    setInterval(function () {
      if (pages > 1) {
        page = (page + 1) % pages;
        draw(false);
      }
    }, options.every || 10000);
    global.addEventListener("resize", function () { draw(true); });

    return {
      set: function (list) { items = list; draw(true); },
      redraw: function () { draw(true); },
      state: function () { return { page: page + 1, pages: pages, perPage: perPage }; }
    };
  }

  /* A call to the REST API with the device token. A reply that is not JSON
     (a proxy's error page) fails as the network does: pairing waits and asks
     again rather than starting over with a new code. */
  function api(method, path, body, token) {
    return helpers.request(method, path, { body: body, token: token }).then(function (reply) {
      if (!reply.json) throw new Error("No JSON in the reply: " + reply.status);
      return reply;
    });
  }

  /* Resolve with a device token, pairing first when there is none. */
  function pair(kind) {
    var storageKey = "baylight.device." + kind;
    var stored = global.localStorage.getItem(storageKey);
    if (stored) return Promise.resolve(stored);
    var panel = document.getElementById("pairing");
    var codeEl = document.getElementById("pairing-code");
    var hintEl = document.getElementById("pairing-code-hint");
    return new Promise(function (resolve) {
      function begin() {
        api("POST", "/api/v1/devices/pairing", { kind: kind }).then(function (reply) {
          if (reply.status !== 201) {
            /* Rate-limited (too many pairings from this address): as told. */
            setTimeout(begin, Math.max(reply.retryAfter, 5) * 1000);
            return;
          }
          var code = reply.data.user_code;
          codeEl.textContent = code.slice(0, 4) + "-" + code.slice(4);
          if (hintEl) hintEl.textContent = code;
          panel.hidden = false;
          var deadline = Date.now() + reply.data.expires_in * 1000;
          var interval = reply.data.interval;
          function poll() {
            api("POST", "/api/v1/devices/pairing/poll", { device_code: reply.data.device_code })
              .then(function (answer) {
                if (answer.status === 429) {
                  /* RFC 8628 slow_down: the answer's longer interval holds for
                     every later poll. Any other 429 (this address's cap): wait
                     its Retry-After, then keep polling the same pairing. */
                  var slowed = answer.data && answer.data.code === "slow_down";
                  if (slowed && answer.data.interval > interval) interval = answer.data.interval;
                  setTimeout(poll, (slowed ? interval : Math.max(interval, answer.retryAfter)) * 1000);
                  return;
                }
                var status = answer.data.status;
                if (status === "approved") {
                  global.localStorage.setItem(storageKey, answer.data.device_token);
                  panel.hidden = true;
                  resolve(answer.data.device_token);
                } else if (status === "pending" && Date.now() < deadline) {
                  setTimeout(poll, interval * 1000);
                } else {
                  begin();
                }
              }, function () { setTimeout(poll, 5000); });
          }
          setTimeout(poll, interval * 1000);
        }, function () { setTimeout(begin, 5000); });
      }
      begin();
    });
  }

  function forget(kind) {
    global.localStorage.removeItem("baylight.device." + kind);
  }

  /*
   * connect({token, onSnapshot(snapshot), onOrder(order, seq), onRevoked(),
   *          onShop(shop), onBays(bays), audienceSeesAll})
   * Keeps lastSeq; resyncs on gaps, on reconnect and when the periodic check
   * finds the server ahead.
   * The shop's profile (its name, hours, stage words) and a staff screen's
   * bays change without a seq: the "shop" and "bays" messages bring them with
   * a version, and a snapshot carries the versions it was built with. The
   * newest of each wins, so a snapshot built a moment before a change (they
   * are shared for a second, shared/services/snapshots.py) cannot take the
   * change back: its shop and bays are replaced with the newer ones.
   */
  function connect(options) {
    var text = strings();
    var shopSeen = null;
    var baysSeen = null;
    var baysVersion = -1;
    var lastSeq = null;
    var lastHeard = Date.now();
    // Since when the socket has been without a connection (null: connected).
    // Until the first connect, since the screen started to connect.
    var lostSince = Date.now();
    var gapTimer = null;
    var staleEl = document.getElementById("stale");

    var socket = global.io({
      transports: ["websocket", "polling"],
      reconnection: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 4000,
      randomizationFactor: 0.5,
      auth: function (cb) {
        var auth = { token: options.token };
        if (lastSeq !== null) auth.since = lastSeq;
        cb(auth);
      }
    });

    function heard() {
      lastHeard = Date.now();
      banner();
    }

    /* The #stale banner, by two rules: the connection lost for LOST_AFTER_MS
       (a killed server, a network down: the socket says so at once), or a
       connected server silent for STALE_AFTER_MS (a message queue that
       stopped delivering). Either way it says since when the data is old. */
    function banner() {
      var now = Date.now();
      var message = null;
      if (lostSince !== null && now - lostSince >= LOST_AFTER_MS) {
        // What came before the connection broke was live until then.
        message = fill(text.connection_lost || text.stale || "", { time: hhmm(new Date(lostSince)) });
      } else if (now - lastHeard > STALE_AFTER_MS) {
        message = fill(text.stale || "", { time: hhmm(new Date(lastHeard)) });
      }
      if (staleEl) {
        if (message !== null) staleEl.textContent = message;
        staleEl.hidden = message === null;
      }
      document.body.classList.toggle("is-stale", message !== null);
    }

    /* Ask the server for its newest seq: its answer is a heartbeat, and a
       newer seq than ours means a lost message (resync). */
    function checkSeq() {
      socket.emit("seq", {}, function (answer) {
        heard();
        if (answer && answer.seq >= 0 && lastSeq !== null && answer.seq > lastSeq) resync();
      });
    }

    function resync() {
      socket.emit("resync", { since: lastSeq === null ? 0 : lastSeq });
    }

    function newer(version, than) { return (Number(version) || 0) >= (Number(than) || 0); }

    socket.on("snapshot", function (snapshot) {
      heard();
      lastSeq = snapshot.seq;
      if (snapshot.shop) {
        if (shopSeen && !newer(snapshot.shop.version, shopSeen.version)) snapshot.shop = shopSeen;
        else shopSeen = snapshot.shop;
      }
      if (typeof snapshot.bays_version === "number") {
        if (baysSeen && snapshot.bays_version < baysVersion) {
          snapshot.bays = baysSeen;
          snapshot.bays_version = baysVersion;
        } else {
          baysSeen = snapshot.bays;
          baysVersion = snapshot.bays_version;
        }
      }
      options.onSnapshot(snapshot);
    });

    socket.on("shop", function (shop) {
      heard();
      if (!shop || (shopSeen && !newer(shop.version, shopSeen.version))) return;
      shopSeen = shop;
      if (options.onShop) options.onShop(shop);
    });

    socket.on("bays", function (message) {
      heard();
      if (!message || !message.bays || message.version < baysVersion) return;
      baysSeen = message.bays;
      baysVersion = message.version;
      if (options.onBays) options.onBays(message.bays);
    });

    socket.on("order", function (message) {
      heard();
      if (lastSeq !== null && message.seq <= lastSeq && !options.acceptOlder) {
        // Already applied (or superseded): a replay after reconnect, or a slower worker.
        options.onOrder(message.order, message.seq, true);
        return;
      }
      var missing = typeof message.prev_seq === "number" ? message.prev_seq > lastSeq
        : message.seq > lastSeq + 1;
      if (options.audienceSeesAll && lastSeq !== null && missing) {
        // Something between lastSeq and this one has not arrived (yet): wait
        // briefly for it, then ask the server.
        if (!gapTimer) {
          var from = lastSeq;
          gapTimer = setTimeout(function () {
            gapTimer = null;
            socket.emit("resync", { since: from });
          }, GAP_WAIT_MS);
        }
      }
      if (lastSeq === null || message.seq > lastSeq) lastSeq = message.seq;
      options.onOrder(message.order, message.seq, false);
    });

    socket.on("connect", function () {
      lostSince = null;
      // Reconnected: the server's answer clears the banner at once, even
      // when nothing changed meanwhile (no replay to hear).
      checkSeq();
    });

    socket.on("disconnect", function (reason) {
      if (reason === "io server disconnect") {
        // The server refused this credential (revoked device, expired link).
        if (options.onRevoked) options.onRevoked();
        return;
      }
      // The server went away or the network broke: Socket.IO reconnects by
      // itself; until it does, the banner comes after LOST_AFTER_MS.
      if (lostSince === null) lostSince = Date.now();
    });

    socket.on("connect_error", function () {
      // A refusal by the server (not a network failure) leaves the socket
      // inactive: Socket.IO will not retry, so the credential itself was refused.
      if (!socket.active && options.onRevoked) options.onRevoked();
    });

    setInterval(function () {
      if (socket.connected) checkSeq();
    }, CHECK_EVERY_MS);
    setInterval(banner, BANNER_EVERY_MS);

    return {
      socket: socket,
      lastSeq: function () { return lastSeq; },
      // For tests and whoever looks at a TV's console: when the screen last
      // heard from its server (ms), and since when it has had no connection.
      lastHeard: function () { return lastHeard; },
      lostSince: function () { return lostSince; }
    };
  }

  /* Reload once a day (at a quiet hour) to shed whatever memory a long-running
     page collects on a TV that nobody touches. */
  function reloadDaily(hour) {
    var now = new Date();
    var next = new Date(now.getFullYear(), now.getMonth(), now.getDate(), hour, 0, 0);
    if (next <= now) next.setDate(next.getDate() + 1);
    setTimeout(function () { global.location.reload(); }, next - now);
  }

  function clock(el) {
    function tick() { el.textContent = hhmm(new Date()); }
    clocks.push(tick);
    tick();
    setInterval(tick, 10000);
  }

  /* A staff page signed in to its shop names the shop's zone in its head, so
     a time typed before the socket's snapshot arrives is still read on the
     shop's clock (a foreman quick on the "ordered" button set tomorrow's
     15:30 in the desk PC's zone). */
  var named = document.querySelector('meta[name="baylight-shop-timezone"]');
  if (named && named.content) useTimeZone(named.content);

  var exported = {
    strings: strings,
    hhmm: hhmm,
    pad: pad,
    fill: fill,
    useShopLabels: useShopLabels,
    useTimeZone: useTimeZone,
    when: when,
    whenParts: whenParts,
    offsetAt: offsetAt,
    shopIso: shopIso,
    wallValue: wallValue,
    minutesOfDay: minutesOfDay,
    pager: pager,
    api: api,
    pair: pair,
    forget: forget,
    connect: connect,
    reloadDaily: reloadDaily,
    clock: clock
  };
  Object.keys(exported).forEach(function (name) { global.Baylight[name] = exported[name]; });
})(window);
