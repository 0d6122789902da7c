/*
 * Technician kiosk: pair once, sign in with badge + PIN, see your own jobs
 * (biggest first) and tap. Each tap goes through the durable outbox (outbox.js)
 * after an undo window, so flaky Wi-Fi never loses or doubles a tap.
 * A PIN an admin set opens only the step where the technician chooses their
 * own (POST /kiosk/api/pin); then the fresh credential it answers goes on.
 * Socket and server data reach the page only through textContent.
 */
(function (B, Outbox) {
  "use strict";
  var text = B.strings();
  var photoStrings = document.getElementById("photo-strings");
  var photoText = photoStrings ? JSON.parse(photoStrings.textContent) : {};
  // The tablet shrinks the camera's picture before storing it in the outbox:
  // a 12-megapixel shot becomes ~300 kB, quick to send on weak Wi-Fi. The
  // server re-encodes it anyway (and strips what the camera wrote into it).
  var PHOTO_MAX_SIDE = 1600;
  var PHOTO_QUALITY = 0.85;
  var SESSION_KEY = "baylight.kiosk.session";
  var UNDO_MS = 3000;
  var IDLE_MS = 180000;
  var PANELS = ["login", "pin-change", "work"];
  // While a PIN must be chosen no socket is open (the server refuses the
  // credential there): a read this often notices a session ended elsewhere
  // (a deactivation, a reset, the kiosk revoked).
  var PENDING_CHECK_MS = 2000;
  // A chosen PIN on its way to the server: the choice ends the given
  // credential, so a check answered 401 meanwhile waits for its answer.
  var choosing = false;

  var deviceToken = null;
  var session = null;
  var me = null;
  var lastData = null;
  var socketUp = true;
  var outboxOnline = true;
  var waiting = 0;
  var predicted = {};       // order id -> stage the queued taps lead to
  var lastActivity = Date.now();
  var refreshTimer = null;
  var toastTimer = null;
  var toastKey = null;
  var shownParts = {};      // order id -> {version, parts: {part id: status}}, as its card last showed it
  var pendingTimer = null;
  var shopZone = null;      // the shop's time zone, once the server said it

  var $ = B.page.byId, el = B.page.el, clear = B.page.clear, fill = B.fill;

  function show(panel) {
    PANELS.forEach(function (p) { $(p).hidden = p !== panel; });
    $("logout").hidden = panel === "login";
  }
  function since(iso) { return B.page.duration(B.page.minutesSince(iso), text); }

  // ------------------------------------------------------------ session

  function loadSession() {
    try { session = JSON.parse(window.localStorage.getItem(SESSION_KEY)); } catch (e) { session = null; }
  }
  function saveSession(value) {
    session = value;
    if (value) window.localStorage.setItem(SESSION_KEY, JSON.stringify(value));
    else window.localStorage.removeItem(SESSION_KEY);
  }

  /* The kiosk's own API: the device or session token, never a cookie. */
  function request(method, path, token, body) {
    return B.page.request(method, path, { token: token, body: body, credentials: "omit" });
  }

  function signOut() {
    var token = session && session.token;
    saveSession(null);
    var done = function () { window.location.reload(); };
    if (!token) { done(); return; }
    request("POST", "/kiosk/api/logout", token).then(done, done);
  }

  // ------------------------------------------------------------ login

  /* An on-screen keypad typing into the first field, then (after →, or a
     tap on it) the second. */
  function keypad(padId, firstId, secondId) {
    var pad = $(padId);
    var target = $(firstId);
    $(firstId).addEventListener("focus", function () { target = $(firstId); });
    $(secondId).addEventListener("focus", function () { target = $(secondId); });
    ["1", "2", "3", "4", "5", "6", "7", "8", "9", "⌫", "0", "→"].forEach(function (key) {
      var button = el("button", "tap key", key);
      button.type = "button";
      button.setAttribute("data-key", key);
      button.addEventListener("click", function () {
        if (key === "⌫") target.value = target.value.slice(0, -1);
        else if (key === "→") { target = $(secondId); $(secondId).focus(); }
        else if (!target.maxLength || target.maxLength < 0 || target.value.length < target.maxLength) target.value += key;
      });
      pad.appendChild(button);
    });
  }

  function login(event) {
    event.preventDefault();
    var error = $("login-error");
    error.textContent = "";
    $("login-button").disabled = true;
    request("POST", "/kiosk/api/login", deviceToken, {
      badge: $("badge").value.trim(), pin: $("pin").value
    }).then(function (reply) {
      $("login-button").disabled = false;
      $("pin").value = "";
      if (reply.status === 200) {
        saveSession({ token: reply.data.token, user: reply.data.user, must_change_pin: !!reply.data.must_change_pin });
        if (session.must_change_pin) startPinChange();
        else startWork();
      } else if (reply.status === 423) {
        error.textContent = text.locked;
      } else if (reply.status === 429) {
        error.textContent = fill(text.slow_down, { seconds: reply.headers.get("Retry-After") || "60" });
      } else if (reply.status === 401 && reply.data.code === "unauthorized") {
        B.forget("kiosk");
        window.location.reload();
      } else {
        error.textContent = text.wrong_pin;
      }
    }, function () {
      $("login-button").disabled = false;
      error.textContent = text.offline;
    });
  }

  // ------------------------------------------------------------ own PIN

  /* The step after signing in with a PIN an admin set: nothing else opens
     until the technician chose their own. A credential never turns pending
     nor stops being so (a reset ends every session; the choice answers a
     fresh one), so the flag kept with it at sign-in stays true. */
  function startPinChange() {
    show("pin-change");
    lastActivity = Date.now();
    $("who").textContent = session.user.name;
    $("pin-change-error").textContent = "";
    $("new-pin").focus();
    if (pendingTimer) clearInterval(pendingTimer);
    pendingTimer = setInterval(checkPending, PENDING_CHECK_MS);
  }

  /* Still waiting for a PIN (403 pin_change_required), or ended elsewhere
     (401: back to the sign-in). */
  function checkPending() {
    if (!session || !session.must_change_pin) return;
    var token = session.token;
    request("GET", "/kiosk/api/me", token).then(function (reply) {
      // A read sent before the new PIN was saved finds its credential ended
      // by that very choice: only the credential still in use counts, and
      // while a choice is on its way its own answer decides (a 401 there
      // too, if the session really ended elsewhere).
      if (reply.status !== 401 || choosing || !session || session.token !== token) return;
      saveSession(null);
      window.location.reload();
    }, function () {});
  }

  /* The rule the server holds (staff_admin.check_pin), checked first here so
     a slip costs no try of the badge's budget. */
  function pinProblem(pin, repeat) {
    var form = $("pin-change-form");
    var low = parseInt(form.getAttribute("data-pin-min"), 10);
    var high = parseInt(form.getAttribute("data-pin-max"), 10);
    if (!/^[0-9]+$/.test(pin) || pin.length < low || pin.length > high) return text.pin_format;
    if (pin !== repeat) return text.pin_mismatch;
    return "";
  }

  function pinRefused(reply) {
    var data = reply.data || {};
    if (reply.status === 422) {
      return { same_pin: text.same_pin, pin_mismatch: text.pin_mismatch }[data.reason] || text.pin_format;
    }
    if (reply.status === 423) return text.locked;
    if (reply.status === 429) return fill(text.slow_down, { seconds: reply.headers.get("Retry-After") || "60" });
    return fill(text.refused, { detail: data.title || String(reply.status) });
  }

  function changePin(event) {
    event.preventDefault();
    var error = $("pin-change-error");
    var pin = $("new-pin").value, repeat = $("repeat-pin").value;
    var problem = pinProblem(pin, repeat);
    error.textContent = problem;
    if (problem) {
      // Typed again from the start: a slip is easier to redo than to find.
      $("new-pin").value = "";
      $("repeat-pin").value = "";
      $("new-pin").focus();
      return;
    }
    $("pin-change-button").disabled = true;
    choosing = true;
    request("POST", "/kiosk/api/pin", session.token, { pin: pin, repeat: repeat }).then(function (reply) {
      choosing = false;
      $("pin-change-button").disabled = false;
      $("new-pin").value = "";
      $("repeat-pin").value = "";
      if (reply.status === 200) {
        clearInterval(pendingTimer);
        pendingTimer = null;
        saveSession({ token: reply.data.token, user: reply.data.user, must_change_pin: false });
        toast(text.pin_saved, null, null);
        startWork();
      } else if (reply.status === 401) {
        saveSession(null);
        window.location.reload();
      } else {
        error.textContent = pinRefused(reply);
        $("new-pin").focus();
      }
    }, function () {
      choosing = false;
      $("pin-change-button").disabled = false;
      error.textContent = text.offline;
    });
  }

  // ------------------------------------------------------------ data

  function refresh() {
    if (!session) return;
    var token = session.token;
    request("GET", "/kiosk/api/me", token).then(function (reply) {
      // Ended: back to the sign-in, unless this read went out with a
      // credential the kiosk has since left (signed out and in again).
      if (reply.status === 401) {
        if (session && session.token === token) { saveSession(null); window.location.reload(); }
        return;
      }
      if (!session || session.token !== token) return;
      if (reply.status !== 200) return;
      var shown = {};
      reply.data.jobs.forEach(function (order) {
        noteArrivals(order);
        shown[order.id] = shownParts[order.id];
      });
      shownParts = shown;
      if (reply.data.timezone && reply.data.timezone !== shopZone) {
        shopZone = reply.data.timezone;
        B.useTimeZone(shopZone);
      }
      me = reply.data;
      lastData = new Date();
      render();
      banner();
    }, function () { socketUp = false; banner(); });
  }

  function refreshSoon() {
    if (refreshTimer) clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refresh, 250);
  }

  /* The form of a counted sentence for this count ({one, other}: the
     catalogue's plural forms, rendered by the server for 1 and for more). */
  function plural(forms, count) {
    return fill(forms[count === 1 ? "one" : "other"] || forms.other, { count: count });
  }

  /* Two sentences, each on its own line: whether the tablet is offline and
     how many taps wait to be sent, then how old the jobs shown are. */
  function banner() {
    var offline = !socketUp || !outboxOnline;
    var box = $("banner");
    box.hidden = !offline && waiting === 0;
    box.classList.toggle("banner-offline", offline);
    var first;
    if (!offline) first = plural(text.sending, waiting);
    else if (waiting) first = plural(text.waiting, waiting);
    else first = text.offline;
    setText($("banner-offline"), first);
    var dated = !!(lastData && offline);
    setText($("banner-data"), dated ? fill(text.data_from, { time: B.hhmm(lastData) }) : "");
    $("banner-data").hidden = !dated;
  }

  // ------------------------------------------------------------ render

  /*
   * The lists are drawn in place. Every card, line and button is a node
   * keyed by data-slot, made once and then changed only where its text,
   * class or attributes differ: a button under a finger is never replaced.
   * While a finger is down, and for a moment after it lifts, nothing is
   * drawn, so a card never moves under a finger; the newest data is drawn
   * as soon as the finger has settled.
   */
  var SETTLE_MS = 400;
  var STUCK_MS = 10000;     // a finger "down" this long lost its pointerup
  var fingers = 0;
  var downAt = 0;
  var liftedAt = 0;
  var drawPending = false;
  var settleTimer = null;
  // The inspection levels in the order they are signed: team lead, QC, final.
  var LEVELS = text.check_chain || [];

  function stageOf(order) { return predicted[order.id] || order.stage; }

  function setText(node, value) {
    var shown = value === undefined || value === null ? "" : String(value);
    if (node.textContent !== shown) node.textContent = shown;
    return node;
  }
  function setClass(node, name) {
    if (node.className !== name) node.className = name;
    return node;
  }
  function setAttr(node, name, value) {
    if (value === null || value === undefined) {
      if (node.hasAttribute(name)) node.removeAttribute(name);
    } else if (node.getAttribute(name) !== String(value)) {
      node.setAttribute(name, String(value));
    }
    return node;
  }

  /* The children of `parent` as `parts` lists them, each {key, make(),
     update(node)}, in that order: a node whose key is listed again is kept
     and updated, a new key makes its node, the others go. A node is moved
     only when it is out of place. */
  function sync(parent, parts) {
    var old = {};
    Array.prototype.forEach.call(parent.children, function (child) {
      old[child.getAttribute("data-slot")] = child;
    });
    var kept = {};
    parts.forEach(function (part, index) {
      var node = old[part.key];
      if (!node) {
        node = part.make();
        node.setAttribute("data-slot", part.key);
      }
      kept[part.key] = true;
      if (part.update) part.update(node);
      if (parent.children[index] !== node) parent.insertBefore(node, parent.children[index] || null);
    });
    Object.keys(old).forEach(function (key) {
      if (!kept[key] && old[key].parentNode === parent) parent.removeChild(old[key]);
    });
    return parent;
  }

  /* A part that is one element with a class and a text. */
  function textPart(key, tag, className, value) {
    return {
      key: key,
      make: function () { return el(tag); },
      update: function (node) { setClass(node, className); setText(node, value); }
    };
  }

  /* A part that is an element with parts of its own. */
  function boxPart(key, tag, className, parts) {
    return {
      key: key,
      make: function () { return el(tag); },
      update: function (node) { setClass(node, className); sync(node, parts); }
    };
  }

  function button(label, className, handler) {
    var b = el("button", "tap " + className, label);
    b.type = "button";
    b.addEventListener("click", handler);
    return b;
  }

  /* The card an element is on, and the order that card shows now. */
  function cardOf(node) {
    while (node && !node.__order) node = node.parentNode;
    return node;
  }

  function levelName(level) { return (text.check_levels || {})[level] || level || ""; }

  /* One button per action the server offers, keyed by the action: the same
     node stays while the action is offered, and its handler reads the
     order its card shows when it is tapped. The server asks the policy
     (what this technician may do on this order next), so the page never
     copies the transition table. While a tap waits in the outbox, the stage
     it leads to offers what the server said that stage offers.
     place: "go" (the usual next step), "hold" (stopping the work) or
     "apart" (what cannot be taken back: the car leaves the technician, or
     goes back to repair), each group apart from the others. */
  var ACTIONS = {
    "start": { cls: "tap-go act-start", place: "go",
      label: function () { return text.start; },
      run: function (order) { tap(order, "start", {}, text.start, "in_progress"); } },
    "resume": { cls: "tap-go act-resume", place: "go",
      label: function () { return text.resume; },
      run: function (order) { tap(order, "resume", {}, text.resume, "in_progress"); } },
    "clock-on": { cls: "tap-go act-clock-on", place: "go",
      label: function () { return text.clock_on; },
      run: function (order) { tap(order, "clock-on", {}, text.clock_on, null); } },
    "parts": { cls: "tap-secondary act-parts", place: "go",
      label: function () { return text.parts; },
      run: function (order) { partsDialog(order); } },
    "extra-work": { cls: "tap-secondary act-extra", place: "go",
      label: function () { return text.extra_work; },
      run: function (order) { extraDialog(order); } },
    "pause": { cls: "tap-warn act-pause", place: "hold",
      label: function () { return text.pause_action; },
      run: function (order) { pauseDialog(order); } },
    "finish": { cls: "tap-go act-finish", place: "apart",
      label: function () { return text.finish; },
      run: function (order) { tap(order, "finish", {}, text.finish, "quality_check"); } },
    "pass": { cls: "tap-go act-pass", place: "go",
      label: function (order) { return (text.pass_level || {})[order.check_level] || text.pass; },
      run: function (order) {
        tap(order, "pass", {}, ACTIONS.pass.label(order), null);
      } },
    "fail": { cls: "tap-stop act-fail", place: "apart",
      label: function (order) { return (text.fail_level || {})[order.check_level] || text.fail; },
      run: function (order) {
        var label = ACTIONS.fail.label(order);
        ask(label, [{ name: "reason", label: text.reason_prompt, required: true }], function (v) {
          tap(order, "fail", { reason: v.reason }, label, "in_progress");
        });
      } }
  };

  function offered(order, check) {
    if (!predicted[order.id]) return order.allowed_actions || [];
    if (check) return [];
    return (me.actions_by_stage || {})[predicted[order.id]] || [];
  }

  function actionPart(action, order) {
    var spec = ACTIONS[action];
    return {
      key: "act:" + action,
      make: function () {
        var b = button("", "", function () {
          var on = cardOf(b);
          if (on) spec.run(on.__order);
        });
        return b;
      },
      update: function (node) {
        setClass(node, "tap " + spec.cls);
        setText(node, spec.label(order));
        setAttr(node, "data-action", action);
      }
    };
  }

  function actionsPart(order, check) {
    var groups = { go: [], hold: [], apart: [] };
    offered(order, check).forEach(function (action) {
      if (ACTIONS[action]) groups[ACTIONS[action].place].push(actionPart(action, order));
    });
    return boxPart("actions", "div", "actions", ["go", "hold", "apart"].map(function (place) {
      return boxPart(place, "div", "actions-group actions-" + place, groups[place]);
    }));
  }

  /* What the car waits for, each open reason in words (the server's list,
     in its order), then the parts that have arrived. An "other" reason is
     the technician's to end: a button per reason when the server offers
     "clear-reason". Nothing here decides what may be tapped: resume and
     clearing come only from allowed_actions. */
  function holdParts(order) {
    var reasons = order.stage === "paused" ? (order.pause_reasons || []) : [];
    var arrived = (order.parts || []).filter(function (p) { return p.status === "arrived"; });
    if (!reasons.length && !arrived.length && order.stage === "paused" && order.pause_reason) {
      return [textPart("reason", "li", "hold pause-reason",
        text.pause[order.pause_reason] || order.pause_reason)];
    }
    var canClear = offered(order, false).indexOf("clear-reason") >= 0;
    var lines = reasons.map(function (reason) {
      var inner = [];
      var part = null;
      if (reason.reason === "parts") {
        part = B.page.partOf(order, reason.key);
        var what = part ? part.description : reason.note;
        var eta = (part && part.eta) || reason.expected_at;
        inner.push(textPart("text", "span", "hold-text", eta
          ? fill(text.waiting_parts_eta, { what: what, time: B.when(eta) })
          : fill(text.waiting_parts, { what: what })));
        if (part) {
          inner.push(textPart("status", "span", "part-status part-" + part.status,
            text.part_status[part.status] || part.status));
        }
      } else if (reason.reason === "approval") {
        var quote = B.page.quoteOf(order, reason.key);
        inner.push(textPart("text", "span", "hold-text",
          fill(text.waiting_approval, { what: quote ? quote.description : reason.note })));
      } else {
        inner.push(textPart("text", "span", "hold-text", reason.note
          ? fill(text.waiting_other, { note: reason.note }) : text.pause.other));
        if (canClear) {
          inner.push({
            key: "clear",
            make: function () {
              var b = button(text.reason_done, "tap-go act-clear-reason", function () {
                var on = cardOf(b);
                var key = b.parentNode && b.parentNode.getAttribute("data-key");
                if (on && key) tap(on.__order, "clear-reason", { key: key }, text.reason_done, null);
              });
              return b;
            },
            update: function (node) { setText(node, text.reason_done); }
          });
        }
      }
      return {
        key: "reason:" + reason.key,
        make: function () { return el("li"); },
        update: function (node) {
          setClass(node, "hold pause-reason hold-" + reason.reason);
          setAttr(node, "data-key", reason.key);
          setAttr(node, "data-part-id", part ? String(part.id) : null);
          sync(node, inner);
        }
      };
    });
    arrived.forEach(function (part) {
      lines.push({
        key: "arrived:" + part.id,
        make: function () { return el("li"); },
        update: function (node) {
          setClass(node, "hold part-arrived");
          setAttr(node, "data-part-id", String(part.id));
          setText(node, fill(text.parts_arrived, { what: part.description }) +
            (part.arrived_at ? " · " + B.when(part.arrived_at) : ""));
        }
      });
    });
    return lines;
  }

  /* Whether this technician's clock runs on this job, said plainly on every
     job in progress: "in progress" alone never means the clock is running. */
  function clockPart(order) {
    if (predicted[order.id] || order.stage !== "in_progress") return null;
    var here = me.clock && me.clock.order_id === order.id;
    return textPart("clock", "p", "clock-state " + (here ? "clock-here" : "clock-off"),
      here ? text.clock_running + " · " + since(me.clock.started_at) : text.clock_not_running);
  }

  function hours(value) { return value + " " + text.hours; }

  /* The work to do: the job order's items, then the additional work the
     customer answered: approved work is done like any item (marked as
     added), declined or unanswered work is listed as not to be done. */
  function itemParts(order) {
    var parts = (order.items || []).map(function (item, index) {
      return textPart("item:" + index, "li", "item", item.title + " · " + hours(item.labour_hours));
    });
    (order.quotes || []).forEach(function (quote) {
      var mark = { approved: text.added, declined: text.declined, expired: text.expired }[quote.status];
      if (!mark) return;  // pending: the pause says the customer is asked
      var done = quote.status === "approved";
      parts.push(boxPart("quote:" + quote.id, "li", "item " + (done ? "item-added" : "item-declined item-" + quote.status), [
        textPart("mark", "span", "item-mark", mark),
        textPart("what", done ? "span" : "s", "item-text",
          done ? quote.description + " · " + hours(quote.labour_hours) : quote.description)
      ]));
    });
    return parts;
  }

  /* Every parts request the card does not already show as a reason to wait
     or as arrived: what, its status in words, when it is expected or came. */
  function partLineParts(order, check) {
    var open = {};
    if (!check && order.stage === "paused") {
      (order.pause_reasons || []).forEach(function (r) { open[r.key] = true; });
    }
    return (order.parts || []).filter(function (part) {
      if (check) return true;
      return part.status !== "arrived" && !open["parts:" + part.id];
    }).map(function (part) {
      var when = part.status === "arrived" ? B.when(part.arrived_at)
        : (part.eta ? fill(text.expected, { time: B.when(part.eta) }) : "");
      return boxPart("part:" + part.id, "li", "part-line part-line-" + part.status, [
        textPart("what", "span", "part-what", fill(text.part_line, { what: part.description })),
        textPart("status", "span", "part-status status-" + part.status,
          text.part_status[part.status] || part.status),
        textPart("when", "span", "part-when", when)
      ]);
    });
  }

  var numberFormat = null;
  function number(value) {
    if (!numberFormat) {
      try { numberFormat = new Intl.NumberFormat(document.documentElement.lang || undefined); }
      catch (e) { numberFormat = { format: String }; }
    }
    return numberFormat.format(value);
  }

  /* The car and the times: VIN, mileage, the promise, time in this stage. */
  function factParts(order) {
    var vehicle = order.vehicle || {};
    var parts = [];
    if (vehicle.vin) parts.push(textPart("vin", "span", "vin", fill(text.vin, { vin: vehicle.vin })));
    if (vehicle.mileage !== null && vehicle.mileage !== undefined) {
      parts.push(textPart("mileage", "span", "mileage", fill(text.mileage, { km: number(vehicle.mileage) })));
    }
    parts.push(textPart("promised", "span", "promised", text.promised + " " + B.when(order.promised_at, "—")));
    parts.push(textPart("in-stage", "span", "in-stage", text.in_stage + " " + since(order.stage_entered_at)));
    return parts;
  }

  function headParts(order, check) {
    var stage = stageOf(order);
    var parts = [
      textPart("plate", "span", "plate", order.plate),
      textPart("model", "span", "model", (order.vehicle && order.vehicle.model) || "")
    ];
    if (order.bay) parts.push(textPart("bay", "span", "bay", fill(text.bay, { bay: order.bay })));
    if (order.late) parts.push(textPart("late", "span", "late-flag", text.late));
    parts.push(textPart("stage", "span", "stage", text.stages[stage] || stage));
    return parts;
  }

  /* An inspection's card: which level is being signed (and which of how
     many), who passed the earlier ones, and why this person may not pass
     this one (they passed an earlier one: only a fail is offered). */
  function checkParts(order) {
    var parts = [];
    var level = order.check_level;
    var step = LEVELS.indexOf(level) + 1;
    parts.push(textPart("signing", "p", "check-level", fill(text.signing, {
      level: levelName(level), step: step > 0 ? step : "?", steps: LEVELS.length
    })));
    var signatures = order.signatures || [];
    if (signatures.length) {
      parts.push(boxPart("signatures", "ul", "signatures", signatures.map(function (s, index) {
        var inner = [textPart("who", "span", "signature-text",
          fill(text.signed_by, { level: levelName(s.level), name: s.name }))];
        if (s.by_one_person) inner.push(textPart("one", "span", "signature-one", text.signed_by_one));
        return boxPart("signature:" + index, "li", "signature", inner);
      })));
    }
    if (order.signed_earlier) {
      parts.push(textPart("earlier", "p", "check-note",
        fill(text.signed_earlier, { level: levelName(level) })));
    }
    return parts;
  }

  function cardParts(order, check) {
    var parts = [boxPart("head", "header", "job-head", headParts(order, check))];
    parts.push(boxPart("facts", "p", "facts times", factParts(order)));
    if (order.complaint) {
      parts.push(boxPart("complaint", "p", "complaint", [
        textPart("label", "span", "complaint-label", text.complaint),
        textPart("text", "span", "complaint-text", order.complaint)
      ]));
    }
    if (check) parts = parts.concat(checkParts(order));
    if (!check) {
      var held = holdParts(order);
      if (held.length) parts.push(boxPart("holds", "ul", "holds", held));
      var clock = clockPart(order);
      if (clock) parts.push(clock);
    }
    var items = itemParts(order);
    if (items.length) parts.push(boxPart("items", "ul", "items", items));
    var partLines = partLineParts(order, check);
    if (partLines.length) parts.push(boxPart("parts", "ul", "part-lines", partLines));
    parts.push(actionsPart(order, check));
    return parts;
  }

  function cardPart(order, check) {
    return {
      key: (check ? "check:" : "job:") + order.id,
      make: function () {
        var article = el("article");
        article.setAttribute("data-order-id", String(order.id));
        return article;
      },
      update: function (node) {
        node.__order = order;
        var came = !check && !!$("arrivals").querySelector('[data-order-id="' + order.id + '"]');
        setClass(node, "job stage-" + stageOf(order) + (order.late ? " late" : "") +
          (check ? " check" : "") + (came ? " parts-came" : ""));
        sync(node, cardParts(order, check));
      }
    };
  }

  function busy() {
    var now = Date.now();
    return (fingers > 0 && now - downAt < STUCK_MS) || now - liftedAt < SETTLE_MS;
  }

  /* Draw what `me` holds; while a finger is down or has just lifted, later
     (a tap's own change, `now`, is drawn at once: the finger that made it
     has lifted). */
  function render(now) {
    if (!me) return;
    if ((fingers > 0 && Date.now() - downAt < STUCK_MS) || (!now && busy())) {
      drawPending = true;
      return;
    }
    drawPending = false;
    draw();
  }

  function settleSoon(ms) {
    if (settleTimer) clearTimeout(settleTimer);
    settleTimer = setTimeout(function () {
      settleTimer = null;
      if (drawPending) render();
    }, ms);
  }

  function watchFingers() {
    document.addEventListener("pointerdown", function () {
      fingers += 1;
      downAt = Date.now();
      settleSoon(STUCK_MS + 50);
    }, true);
    ["pointerup", "pointercancel"].forEach(function (kind) {
      document.addEventListener(kind, function () {
        fingers = Math.max(0, fingers - 1);
        if (fingers === 0) {
          liftedAt = Date.now();
          settleSoon(SETTLE_MS + 20);
        }
      }, true);
    });
  }

  function draw() {
    setText($("who"), me.user.name);
    setText($("jobs-title"), text.my_jobs);
    sync($("jobs"), me.jobs.map(function (order) { return cardPart(order, false); }));
    $("no-jobs").hidden = me.jobs.length > 0;
    setText($("no-jobs"), text.no_jobs);
    sync($("checks"), me.checks.map(function (order) { return cardPart(order, true); }));
    $("checks-title").hidden = me.checks.length === 0;
    setText($("checks-title"), text.checks);
    var line = $("clock-line");
    line.hidden = !me.clock;
    if (me.clock) {
      var on = me.jobs.filter(function (o) { return o.id === me.clock.order_id; })[0];
      setText(line, text.clock_running + ": " + (on ? on.plate : "#" + me.clock.order_id) +
        " · " + since(me.clock.started_at));
    }
  }

  // ------------------------------------------------------------ dialogs

  var previewUrl = null;

  function dropPreview() {
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = null;
  }

  /* A camera field: the tablet's back camera, and a thumbnail of the shot. */
  function photoInput(input, label) {
    input.accept = "image/*";
    input.setAttribute("capture", "environment");
    var preview = el("img", "photo-preview");
    preview.alt = photoText.photo_preview || "";
    preview.width = 240;
    preview.hidden = true;
    input.addEventListener("change", function () {
      dropPreview();
      var file = input.files && input.files[0];
      preview.hidden = !file;
      if (file) { previewUrl = URL.createObjectURL(file); preview.src = previewUrl; }
    });
    label.appendChild(preview);
  }

  function ask(title, fields, done) {
    var dialog = $("dialog");
    $("dialog-title").textContent = title;
    var box = clear($("dialog-fields"));
    dropPreview();
    fields.forEach(function (f) {
      var label = el("label", "field", f.label);
      var input = el("input");
      input.name = f.name;
      input.type = f.type || "text";
      if (f.step) input.step = f.step;
      if (f.required) input.required = true;
      if (f.maxLength) input.maxLength = f.maxLength;
      input.setAttribute("data-field", f.name);
      label.appendChild(input);
      if (f.type === "file") photoInput(input, label);
      box.appendChild(label);
    });
    $("dialog-form").onsubmit = function (event) {
      event.preventDefault();
      var values = {};
      fields.forEach(function (f) {
        var input = box.querySelector('[data-field="' + f.name + '"]');
        values[f.name] = f.type === "file" ? (input.files && input.files[0]) || null : input.value;
      });
      dialog.close();
      dropPreview();
      done(values);
    };
    $("dialog-cancel").onclick = function () { dialog.close(); dropPreview(); };
    dialog.showModal();
  }

  /* Parts (要料): what is needed. The car waits for them until the parts
     counter marks them arrived; the tap does not guess the stage it leads
     to (the server's answer says what may be tapped while it waits). */
  function partsDialog(order) {
    ask(text.parts, [{ name: "description", label: text.parts_note, required: true, maxLength: 200 }],
      function (v) {
        tap(order, "parts", { description: v.description.trim() }, text.parts, null);
      });
  }

  /* Why the work stops. Parts and the customer's OK each have their own
     request (what is needed, the quote), offered when the server offers that
     tap; "other" asks what the car waits for. */
  function pauseDialog(order) {
    var dialog = $("dialog");
    var can = offered(order, false);
    $("dialog-title").textContent = text.pause_action;
    var box = clear($("dialog-fields"));
    if (can.indexOf("parts") >= 0) {
      box.appendChild(button(text.pause.parts, "tap-warn pause-parts", function () {
        dialog.close();
        partsDialog(order);
      }));
    }
    if (can.indexOf("extra-work") >= 0) {
      box.appendChild(button(text.pause.approval, "tap-warn pause-approval", function () {
        dialog.close();
        extraDialog(order);
      }));
    }
    box.appendChild(button(text.pause.other, "tap-warn pause-other", function () {
      dialog.close();
      ask(text.pause.other, [{ name: "reason", label: text.other_note, required: true, maxLength: 500 }],
        function (v) {
          tap(order, "pause", { pause_reason: "other", reason: v.reason.trim() },
            text.pause_action + " · " + text.pause.other, "paused");
        });
    }));
    $("dialog-form").onsubmit = function (event) { event.preventDefault(); };
    $("dialog-cancel").onclick = function () { dialog.close(); };
    dialog.showModal();
  }

  /* Upright (EXIF orientation applied), at most PHOTO_MAX_SIDE, JPEG. A
     picture this browser cannot decode goes as it is: the server decides. */
  function shrink(file) {
    if (!window.createImageBitmap) return Promise.resolve(file);
    return window.createImageBitmap(file, { imageOrientation: "from-image" }).then(function (bitmap) {
      var scale = Math.min(1, PHOTO_MAX_SIDE / Math.max(bitmap.width, bitmap.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(bitmap.width * scale));
      canvas.height = Math.max(1, Math.round(bitmap.height * scale));
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      if (bitmap.close) bitmap.close();
      return new Promise(function (resolve) {
        canvas.toBlob(function (blob) { resolve(blob || file); }, "image/jpeg", PHOTO_QUALITY);
      });
    }, function () { return file; });
  }

  function extraDialog(order) {
    ask(text.extra_work, [
      { name: "description", label: text.description, required: true },
      { name: "labour_hours", label: text.labour_hours, type: "number", step: "0.1", required: true },
      { name: "price", label: text.price, type: "number", step: "0.01", required: true },
      { name: "photo", label: photoText.photo || "", type: "file" }
    ], function (v) {
      var body = {
        description: v.description,
        labour_hours: parseFloat(v.labour_hours),
        price_cents: Math.round(parseFloat(v.price) * 100)
      };
      // The car waits for the customer: the server's answer says what may be tapped.
      if (!v.photo) { tap(order, "extra-work", body, text.extra_work, null); return; }
      shrink(v.photo).then(function (blob) {
        tap(order, "extra-work", body, text.extra_work, null, blob);
      });
    });
  }

  // ------------------------------------------------------------ taps

  /* One tap into the outbox; a photo rides along as its own entry, sent to
     the quote the tap creates, and undone with it. */
  function tap(order, action, extra, label, nextStage, photo) {
    var body = { version: order.version };
    Object.keys(extra).forEach(function (k) { body[k] = extra[k]; });
    if (nextStage) predicted[order.id] = nextStage;
    render(true);
    Outbox.add({
      path: "/kiosk/api/orders/" + order.id + "/" + action,
      body: body,
      token: session.token,
      orderId: order.id,
      label: label + " · " + order.plate,
      delayMs: UNDO_MS
    }).then(function (key) {
      if (!photo) return key;
      return Outbox.addPhoto({
        path: "/api/v1/orders/" + order.id + "/extra-work/{quote_id}/photo",
        blob: photo,
        token: session.token,
        orderId: order.id,
        label: (photoText.photo_label || "") + " · " + order.plate,
        after: key,
        delayMs: UNDO_MS
      }).then(function () { return key; });
    }).then(function (key) { toast(label + " · " + order.plate, key, order.id); });
  }

  function toast(message, key, orderId) {
    toastKey = key;
    $("toast-text").textContent = message;
    $("toast-undo").hidden = !key;
    $("toast").hidden = false;
    $("toast-undo").onclick = function () {
      Outbox.cancel(key).then(function (cancelled) {
        if (cancelled) { delete predicted[orderId]; render(true); }
        hideToast();
      });
    };
    if (toastTimer) clearTimeout(toastTimer);
    toastTimer = setTimeout(hideToast, key ? UNDO_MS : 2000);
  }

  function hideToast() { $("toast").hidden = true; toastKey = null; }

  /* A refused tap, in red, with why: the kiosk's own words for the
     refusals it expects (text.problems, by code), else the server's. */
  function refused(entry, data) {
    var why = (text.problems || {})[data.code] || data.detail || data.title || "";
    var item = el("p", "refusal", fill(text.refused, { detail: entry.label + " — " + why }));
    item.setAttribute("data-code", data.code || "");
    item.addEventListener("click", function () { item.remove(); });
    $("refusals").appendChild(item);
    setTimeout(function () { item.remove(); }, 20000);
  }

  function onResult(entry, status, data) {
    delete predicted[entry.orderId];
    if (status >= 200 && status < 300) {
      if (toastKey === null) toast(text.sent + ": " + entry.label, null, entry.orderId);
    } else {
      refused(entry, data || {});
    }
    refreshSoon();
  }

  // ------------------------------------------------------------ parts arrived

  function statuses(order) {
    var seen = {};
    (order.parts || []).forEach(function (p) { seen[p.id] = p.status; });
    return { version: order.version, parts: seen };
  }

  /* A part of one of my jobs that the card showed as not there yet (or did
     not show at all) has arrived: say so at once, in a notice that stays
     until it is tapped away. The first look at a job only notes its parts;
     an older state of it (a read answered after a newer message) changes
     nothing, so an arrival is announced once. */
  function noteArrivals(order) {
    var before = shownParts[order.id];
    if (before && order.version < before.version) return;
    if (before) {
      (order.parts || []).forEach(function (part) {
        if (part.status === "arrived" && before.parts[part.id] !== "arrived") arrivalNotice(order, part);
      });
    }
    shownParts[order.id] = statuses(order);
  }

  function arrivalNotice(order, part) {
    var box = $("arrivals");
    if (box.querySelector('[data-order-id="' + order.id + '"][data-part-id="' + part.id + '"]')) return;
    var item = el("div", "arrival");
    item.setAttribute("data-order-id", String(order.id));
    item.setAttribute("data-part-id", String(part.id));
    item.appendChild(el("span", "arrival-text", fill(text.parts_arrived, { what: part.description })));
    item.appendChild(el("span", "arrival-plate", order.plate));
    item.appendChild(button(text.dismiss, "tap-secondary arrival-ok", function () {
      item.remove();
      box.hidden = !box.firstChild;
      render(true);
    }));
    box.appendChild(item);
    box.hidden = false;
    render();
  }

  // ------------------------------------------------------------ start

  function idleWatch() {
    ["pointerdown", "keydown", "touchstart"].forEach(function (kind) {
      document.addEventListener(kind, function () { lastActivity = Date.now(); }, { passive: true });
    });
    setInterval(function () {
      if (session && Date.now() - lastActivity > IDLE_MS) signOut();
    }, 5000);
    setInterval(function () { render(); }, 30000);
  }

  function startWork() {
    show("work");
    lastActivity = Date.now();
    refresh();
    var conn = B.connect({
      token: session.token,
      onSnapshot: function (snapshot) {
        if (snapshot && snapshot.shop) {
          shopZone = snapshot.shop.timezone;
          B.useTimeZone(shopZone);
          B.useShopLabels(text, snapshot.shop);
          render();
        }
        refreshSoon();
      },
      // The shop's own words for the stages, changed by an admin: at once.
      onShop: function (shop) { B.useShopLabels(text, shop); render(); },
      onOrder: function (order, seq, old) {
        // One of my jobs changed: its parts against what its card showed.
        if (order && !old && shownParts[order.id]) noteArrivals(order);
        refreshSoon();
      },
      onRevoked: function () {
        if (session) { saveSession(null); window.location.reload(); }
      }
    });
    conn.socket.on("connect", function () { socketUp = true; banner(); Outbox.flush(); refreshSoon(); });
    conn.socket.on("disconnect", function () { socketUp = false; banner(); });
    // A clock closed at the shift's end changes no order: read my clock again.
    conn.socket.on("shift_closed", refreshSoon);
    conn.socket.on("clock_started", refreshSoon);
  }

  Outbox.on("change", function (count) { waiting = count; banner(); });
  Outbox.on("online", function (value) { outboxOnline = value; banner(); if (value) refreshSoon(); });
  Outbox.on("result", onResult);

  B.pair("kiosk").then(function (token) {
    deviceToken = token;
    document.getElementById("live").hidden = false;
    keypad("keypad", "badge", "pin");
    keypad("pin-keypad", "new-pin", "repeat-pin");
    idleWatch();
    watchFingers();
    $("login-form").addEventListener("submit", login);
    $("pin-change-form").addEventListener("submit", changePin);
    $("logout").addEventListener("click", signOut);
    Outbox.start();
    loadSession();
    if (session && session.must_change_pin) startPinChange();
    else if (session) startWork();
    else { show("login"); $("badge").focus(); }
  });
})(window.Baylight, window.Outbox);
