/* The customer's page (/t/{token}): their own car, live. The token in the
   address is the only credential; it goes to Socket.IO as auth and into the
   POST paths, never into a GET that could change anything (link previews
   fetch GETs). Socket data only ever reaches the page through textContent. */
(function (B) {
  "use strict";
  var $ = B.page.byId;
  var el = B.page.el;
  var show = B.page.show;
  var clear = B.page.clear;
  var fill = B.fill;
  var text = B.strings();
  var page = JSON.parse(document.getElementById("page").textContent);
  var token = decodeURIComponent(window.location.pathname.split("/").pop());
  // The server's stage groups (with the snapshot): the "timeline" steps; in
  // the "no_promise" stages the page promises no time (nor says it is late).
  var groups = { timeline: [], no_promise: [] };
  var order = null;
  var timeline = [];
  var surveyed = !!page.surveyed;
  var pending = {};
  var gone = false;
  var photoStrings = document.getElementById("photo-strings");
  var photoText = photoStrings ? JSON.parse(photoStrings.textContent) : {};
  var photos = {};            // quote id -> its picture's URL (from the list)
  var images = {};            // quote id -> <img>, kept so a redraw does not fetch again
  var photosSeen = null;      // the quote ids the last photo list was asked for
  var holdStrings = document.getElementById("hold-strings");
  var holdText = holdStrings ? JSON.parse(holdStrings.textContent) : {};
  var revised = {};           // quote id -> true: changed while this page was open

  /* Times on the shop's clock, with the date when not today: the zone and
     the language come with the page (#page), not from the snapshot. */
  B.useTimeZone(page.timezone, page.lang);

  /* The link's own API. A decision or survey carries the page's CSRF token
     (the session cookie holds the secret it is checked against) and a new
     Idempotency-Key; a read sends no cookie. Never a referrer: it is the link. */
  function call(method, path, body) {
    var reading = method === "GET";
    return B.page.request(method, "/api/v1/track/" + encodeURIComponent(token) + path, {
      body: body,
      csrf: !reading,
      key: reading ? null : B.page.newKey(),
      credentials: reading ? "omit" : "same-origin",
      referrerPolicy: "no-referrer"
    });
  }

  /* Which quotes have a photo: asked when quotes appear, after a snapshot and
     on the server's "photo" hint, so the page never requests a missing one. */
  function loadPhotos() {
    return call("GET", "/photos").then(function (reply) {
      // Only the order itself decides that the link is gone (refresh, socket).
      if (reply.status !== 200) return;
      photos = {};
      reply.data.photos.forEach(function (p) { photos[p.quote_id] = p.photo_url; });
      render();
    }, function () { photosSeen = null; });
  }

  function quoteIds(o) {
    return (o.quotes || []).map(function (q) { return q.id; }).join(",");
  }

  function photosFor(o, force) {
    var ids = quoteIds(o);
    if (!ids || (!force && ids === photosSeen)) return;
    photosSeen = ids;
    loadPhotos();
  }

  function refresh() {
    return call("GET", "").then(function (reply) {
      if (reply.status === 404) { linkGone(); return; }
      replace(reply.data.order);
    });
  }

  /* ------------------------------------------------------------ rendering */

  /* The server's verdict, kept current by the clock; said only while the car
     is in the workshop (a ready car says so in its heading). */
  function lateness(o) {
    var judged = B.page.lateness(o, Date.now());
    if (!judged.late || groups.no_promise.indexOf(o.stage) >= 0) return "";
    if (judged.passed) return fill(text.late_past, { promised: B.when(o.promised_at) });
    return fill(text.late, { eta: B.when(o.eta), promised: B.when(o.promised_at) });
  }

  /* Quotes the customer can still answer: pending and not past their time. */
  function openQuotes(o) {
    return (o.quotes || []).filter(function (q) { return q.status === "pending" && !expired(q); });
  }

  /* The stage in the customer's words and one plain sentence of what it
     means; a car paused for the customer's OK says so ("Waiting for your
     OK"), not the workshop's "paused · waiting for customer approval". */
  function headline(o) {
    var notes = text.notes || {};
    if (o.stage !== "paused") {
      return { title: text.stages[o.stage] || o.stage, note: notes[o.stage] || "" };
    }
    var reasons = (o.pause_reasons || []).map(function (r) { return r.reason; });
    if (reasons.indexOf("approval") >= 0 && openQuotes(o).length) {
      return { title: text.waiting_for_you, note: notes.approval, waiting: true };
    }
    var note = notes.paused;
    if (reasons.indexOf("parts") >= 0) note = notes.parts;
    else if (!reasons.length && (o.quotes || []).some(function (q) {
      return q.status === "approved" || q.status === "declined";
    })) note = notes.answered;
    return { title: text.stages.paused || o.stage, note: note };
  }

  function renderStatus(o) {
    var head = headline(o);
    $("stage").textContent = head.title;
    $("stage").className = "stage stage-" + o.stage + (head.waiting ? " waiting-for-you" : "");
    show($("stage-note"), head.note);
    renderReasons(o);
    var running = groups.no_promise.indexOf(o.stage) < 0;
    show($("eta"), running && o.eta ? fill(text.eta, { time: B.when(o.eta) }) : "");
    show($("updated"), running && o.updated_at ? fill(text.updated, { time: B.when(o.updated_at) }) : "");
    show($("promised"), running && o.promised_at ? fill(text.promised, { time: B.when(o.promised_at) }) : "");
    var change = running ? o.promise_change : null;
    $("promise-change").hidden = !change;
    $("promise-new").textContent = change ? fill(text.promise_new, { time: B.when(o.promised_at), reason: change.reason }) : "";
    $("promise-by").textContent = change ? fill(text.promise_by, { by: change.by, time: B.when(change.at) }) : "";
    show($("late-banner"), lateness(o));
    document.body.classList.toggle("is-late", !!lateness(o));
    document.body.classList.toggle("is-ready", o.stage === "ready");
  }

  /* What the car waits for, one line per open reason: parts (and when they
     should arrive), your OK on a quote. Another reason needs no words here:
     the stage already says the work is paused. */
  function reasonWords(r) {
    if (r.reason === "parts") {
      return r.expected_at ? fill(holdText.parts_due, { time: B.when(r.expected_at) }) : holdText.parts;
    }
    if (r.reason === "approval") return holdText.approval;
    return "";
  }

  function renderReasons(o) {
    var list = $("pause");
    clear(list);
    var seen = [];
    if (o.stage === "paused") {
      (o.pause_reasons || []).forEach(function (r) {
        var words = reasonWords(r);
        if (!words || seen.indexOf(words) >= 0) return;
        if (r.reason === "approval" && !openQuotes(o).length) return;
        seen.push(words);
        var li = el("li", "reason reason-" + r.reason);
        li.setAttribute("data-reason", r.reason);
        if (r.reason === "approval") {
          // Where to answer: the quotes are further down a phone's screen.
          var jump = el("a", "jump", words);
          jump.href = "#quotes-section";
          li.appendChild(jump);
        } else {
          li.textContent = words;
        }
        list.appendChild(li);
      });
    }
    list.hidden = seen.length === 0;
  }

  function renderTimeline(o) {
    var list = $("timeline");
    clear(list);
    var reached = {};
    timeline.forEach(function (entry) { reached[entry.stage] = entry.at; });
    var current = o.stage === "paused" ? "in_progress" : o.stage;
    var steps = groups.timeline;
    var position = steps.indexOf(current);
    steps.forEach(function (stage, index) {
      if (stage === "washing" && !o.wash) return;
      var state = index < position ? "done" : (index === position ? "current" : "todo");
      if (o.stage === "delivered" && stage === "delivered") state = "done";
      var li = el("li", state);
      li.setAttribute("data-stage", stage);
      li.setAttribute("data-state", state);
      li.appendChild(el("span", "label", text.stages[stage] || stage));
      // Not by colour alone: the step the car is at says "now" in words
      // (and to a screen reader), a step passed has its time and a tick.
      if (state === "current") {
        li.setAttribute("aria-current", "step");
        li.appendChild(el("span", "now", text.now));
      }
      var at = el("time", "at");
      if (reached[stage] && state !== "todo") {
        at.textContent = B.when(reached[stage]);
        at.setAttribute("datetime", reached[stage]);
      }
      li.appendChild(at);
      list.appendChild(li);
    });
  }

  function price(cents) {
    return "¥" + (cents / 100).toFixed(2);
  }

  function photoOf(q) {
    var url = photos[q.id];
    if (!url) return null;
    var img = images[q.id];
    if (!img) {
      img = el("img", "quote-photo");
      img.decoding = "async";
      img.referrerPolicy = "no-referrer";
      img.alt = fill(photoText.alt, { description: q.description });
      // Scaled to the phone's width (CSSOM; the CSP allows no inline styles).
      img.style.maxWidth = "100%";
      img.style.height = "auto";
      img.style.display = "block";
      img.src = url;
      images[q.id] = img;
    }
    return img;
  }

  /* Expired: the shop's timer says so within 30 s; until it has, a pending
     quote past its time is no longer offered either. */
  function expired(q) {
    return q.status === "expired" ||
      (q.status === "pending" && !!q.expires_at && Date.parse(q.expires_at) <= Date.now());
  }

  function quoteLine(q) {
    var state = expired(q) ? "expired" : q.status;
    var li = el("li", "quote quote-" + state + (revised[q.id] && state === "pending" ? " revised" : ""));
    li.setAttribute("data-quote-id", String(q.id));
    li.setAttribute("data-quote-version", String(q.version));
    li.setAttribute("data-status", state);
    li.appendChild(el("p", "description", q.description));
    var meta = el("p", "meta");
    meta.appendChild(el("span", "hours", fill(text.quote_hours, { hours: q.labour_hours })));
    meta.appendChild(document.createTextNode(" · "));
    meta.appendChild(el("span", "price", price(q.price_cents)));
    meta.appendChild(document.createTextNode(" · "));
    meta.appendChild(el("span", "version", fill(holdText.version, { version: q.version })));
    li.appendChild(meta);
    var photo = photoOf(q);
    if (photo) li.appendChild(photo);
    if (state === "expired") {
      li.appendChild(el("p", "decision", holdText.expired));
    } else if (state === "pending") {
      if (q.expires_at) li.appendChild(el("p", "answer-by", fill(holdText.answer_by, { time: B.when(q.expires_at) })));
      var buttons = el("div", "buttons");
      [[true, text.approve, "approve"], [false, text.decline, "decline"]].forEach(function (choice) {
        var button = el("button", choice[2], choice[1]);
        button.type = "button";
        button.disabled = !!pending[q.id];
        button.addEventListener("click", function () { decide(q, choice[0]); });
        buttons.appendChild(button);
      });
      li.appendChild(buttons);
    } else {
      li.appendChild(el("p", "decision", (q.status === "approved" ? text.approved : text.declined) +
        (q.decided_at ? " · " + B.when(q.decided_at) : "")));
    }
    return li;
  }

  function renderQuotes(o) {
    var list = $("quotes");
    clear(list);
    (o.quotes || []).forEach(function (q) { list.appendChild(quoteLine(q)); });
    $("quotes-section").hidden = !(o.quotes && o.quotes.length);
    // "Please approve or decline each line" only while a line waits for it.
    $("quote-hint").hidden = !openQuotes(o).length;
  }

  function hours(value) {
    return String(Math.round(value * 100) / 100);
  }

  /* The work and its cost, as far as the order knows it: each booked item
     with its labour hours (the order records no price for them, and the
     page says so), then the additional work the customer approved with its
     price; the hours in total and the approved amount. Nothing is invented. */
  function workLine(title, labour, cents, extra) {
    var li = el("li", "work-item" + (extra ? " extra" : ""));
    var what = el("span", "what");
    what.appendChild(el("span", "title", title));
    if (extra) what.appendChild(el("span", "tag", text.extra_item));
    li.appendChild(what);
    var meta = el("span", "meta");
    meta.appendChild(el("span", "hours", fill(text.quote_hours, { hours: hours(labour) })));
    if (cents !== null) meta.appendChild(el("span", "price", price(cents)));
    li.appendChild(meta);
    return li;
  }

  function renderWork(o) {
    var work = page.work || { items: [], labour_hours: 0 };
    var list = $("work-items");
    clear(list);
    var total = 0;
    work.items.forEach(function (item) {
      total += item.labour_hours;
      list.appendChild(workLine(item.title, item.labour_hours, null, false));
    });
    var approved = (o.quotes || []).filter(function (q) { return q.status === "approved"; });
    var cents = 0;
    approved.forEach(function (q) {
      total += q.labour_hours;
      cents += q.price_cents;
      list.appendChild(workLine(q.description, q.labour_hours, q.price_cents, true));
    });
    var any = work.items.length + approved.length > 0;
    list.hidden = !any;
    $("work-hours-row").hidden = !any;
    $("work-hours").textContent = fill(text.work_hours, { hours: hours(total) });
    $("approved-row").hidden = !approved.length;
    $("approved-total").textContent = price(cents);
    show($("work-note"), !any ? text.no_work : (work.items.length ? text.no_prices : ""));
  }

  function renderSurvey(o) {
    var open = o.stage === "delivered" && !surveyed;
    $("survey-form").hidden = !open;
    $("survey-section").hidden = o.stage !== "delivered";
  }

  function render() {
    if (!order || gone) return;
    renderStatus(order);
    renderTimeline(order);
    renderQuotes(order);
    renderWork(order);
    renderSurvey(order);
  }

  /* ------------------------------------------------------------ state */

  function replace(fresh) {
    if (!fresh) return;
    if (order && fresh.version < order.version) return;
    if (fresh.timeline) timeline = fresh.timeline.slice();
    order = fresh;
    render();
    photosFor(fresh, false);
  }

  /* A pending quote the advisor revised while the page was open: said above
     the quotes and marked, so nobody answers without looking again. */
  function noteRevisions(fresh) {
    if (!order) return;
    var before = {};
    (order.quotes || []).forEach(function (q) { before[q.id] = q.version; });
    (fresh.quotes || []).forEach(function (q) {
      if (q.status !== "pending") { delete revised[q.id]; return; }
      if (before[q.id] !== undefined && q.version > before[q.id]) {
        revised[q.id] = true;
        show($("quote-news"), fill(holdText.quote_revised, { version: q.version }));
        show($("quote-message"), "");
      }
    });
    if (!(fresh.quotes || []).some(function (q) { return revised[q.id]; })) show($("quote-news"), "");
  }

  function update(fresh) {
    if (order && fresh.version < order.version) return;
    noteRevisions(fresh);
    if (!fresh.timeline && fresh.stage_entered_at && (!order || order.stage !== fresh.stage)) {
      timeline.push({ stage: fresh.stage, at: fresh.stage_entered_at });
    }
    replace(fresh);
  }

  function linkGone() {
    if (gone) return;
    gone = true;
    var main = $("customer");
    clear(main);
    main.hidden = true;
    $("link-gone").hidden = false;
  }

  /* ------------------------------------------------------------ actions */

  function decide(q, approved) {
    if (pending[q.id]) return;
    pending[q.id] = true;
    render();
    show($("quote-message"), "");
    call("POST", "/extra-work/" + q.id + "/decision", { approved: approved, quote_version: q.version })
      .then(function (reply) {
        delete pending[q.id];
        if (reply.status === 200) {
          delete revised[q.id];
          show($("quote-news"), "");
          replace(reply.data.order);
          return;
        }
        if (reply.status === 404) { linkGone(); return; }
        // A quote changed or expired under the customer's thumb: said in
        // words, and the page reads the order again (the new version, or
        // the quote shown as expired).
        var refusals = { stale_version: holdText.quote_changed, quote_expired: holdText.quote_expired };
        show($("quote-message"), refusals[reply.data.code] || text.decision_failed);
        render();
        refresh();
      }, function () {
        delete pending[q.id];
        show($("quote-message"), text.decision_failed);
        render();
      });
  }

  function submitSurvey(event) {
    event.preventDefault();
    var form = $("survey-form");
    var chosen = form.querySelector("input[name=rating]:checked");
    if (!chosen) return;
    $("survey-submit").disabled = true;
    call("POST", "/survey", { rating: parseInt(chosen.value, 10), comment: $("survey-comment").value })
      .then(function (reply) {
        if (reply.status === 201) {
          surveyed = true;
          show($("survey-result"), text.survey_thanks);
        } else if (reply.data.code === "already_submitted") {
          surveyed = true;
          show($("survey-result"), text.survey_done);
        } else if (reply.status === 404) {
          linkGone();
          return;
        } else {
          show($("survey-result"), text.survey_failed);
        }
        $("survey-submit").disabled = false;
        render();
      }, function () {
        $("survey-submit").disabled = false;
        show($("survey-result"), text.survey_failed);
      });
  }

  $("survey-form").addEventListener("submit", submitSurvey);
  // The chosen rating is marked by a class, not by CSS :has() (older phone
  // browsers, WeChat's among them, lack it; tests/board/test_old_engines.py).
  $("survey-form").addEventListener("change", function () {
    var labels = document.querySelectorAll("#ratings .rating");
    for (var i = 0; i < labels.length; i++) {
      var input = labels[i].querySelector("input");
      labels[i].classList.toggle("chosen", !!(input && input.checked));
    }
  });
  if (surveyed) show($("survey-result"), text.survey_done);

  /* The customer's messages (issue 17): the channels they agreed to, and
     "stop messages", which asks once more and then posts the opt-out like
     the page's other posts (CSRF token, a new Idempotency-Key). */
  var notifyData = document.getElementById("notify-strings");
  var notify = notifyData ? JSON.parse(notifyData.textContent) : null;
  function showNotify(state) {
    if (!notify || !$("notify-section")) return;
    var said = notify.strings;
    var names = (state.channels || []).map(function (c) { return said[c] || c; });
    var channels = $("notify-channels");
    channels.textContent = fill(said.channels, { channels: names.join(" · ") });
    channels.hidden = state.opted_out || !names.length;
    $("notify-stop-box").hidden = state.opted_out || !names.length;
    $("notify-confirm-box").hidden = true;
    $("notify-state").hidden = !state.opted_out;
    var wechat = $("wechat-form");
    if (wechat && state.opted_out) wechat.hidden = true;
  }
  function stopMessages() {
    $("notify-confirm").disabled = true;
    call("POST", "/notifications/opt-out", {}).then(function (reply) {
      $("notify-confirm").disabled = false;
      if (reply.status === 200) {
        notify.state.opted_out = true;
        showNotify(notify.state);
        $("notify-state").textContent = notify.strings.stopped;
        return;
      }
      if (reply.status === 404) { linkGone(); return; }
      $("notify-state").textContent = notify.strings.failed;
      $("notify-state").hidden = false;
    }, function () {
      $("notify-confirm").disabled = false;
      $("notify-state").textContent = notify.strings.failed;
      $("notify-state").hidden = false;
    });
  }
  if (notify && $("notify-section")) {
    showNotify(notify.state);
    $("notify-stop").addEventListener("click", function () {
      $("notify-confirm-box").hidden = false;
      $("notify-stop").hidden = true;
    });
    $("notify-cancel").addEventListener("click", function () {
      $("notify-confirm-box").hidden = true;
      $("notify-stop").hidden = false;
    });
    $("notify-confirm").addEventListener("click", stopMessages);
  }

  /* The shop's profile as the snapshot or the "shop" message brings it:
     its words for the stages, its name and its hotline. */
  function useShop(shop) {
    if (!shop) return;
    B.useShopLabels(text, shop);
    if (shop.name) $("shop-name").textContent = shop.name;
    if (shop.name) $("contact-name").textContent = shop.name;
    var hotline = $("hotline");
    if (hotline && typeof shop.hotline === "string") {
      hotline.textContent = shop.hotline;
      hotline.setAttribute("href", "tel:" + shop.hotline);
      $("hotline-line").hidden = !shop.hotline;
    }
  }

  var live = B.connect({
    token: token,
    onShop: function (shop) { useShop(shop); render(); },
    onSnapshot: function (snapshot) {
      if (snapshot.stage_groups) groups = snapshot.stage_groups;
      useShop(snapshot.shop);
      if (!snapshot.orders.length) { linkGone(); return; }
      // Photos may have arrived while this page was away: ask again.
      photosSeen = null;
      replace(snapshot.orders[0]);
    },
    onOrder: function (fresh, seq, old) {
      if (old && order && order.version >= fresh.version) return;
      update(fresh);
    },
    onRevoked: function () {
      // Tell a refused link from a network failure before wiping the page.
      call("GET", "").then(function (reply) { if (reply.status === 404) linkGone(); });
    }
  });
  live.socket.on("photo", function () { if (order) photosFor(order, true); });
  // "Late" depends on the clock too, not only on messages.
  setInterval(render, 30000);
})(window.Baylight);
