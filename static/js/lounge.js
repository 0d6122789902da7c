/* Waiting-lounge TV: only the lounge audience's fields ever reach this page
   (queue number and its day, masked plate, stage, ETA, ready), and they go
   into the page through textContent only. Customers find their car by its
   queue number; a car carried over from an earlier day wears that day's mark,
   and two cars whose masked plates read the same show one character more. */
(function (B) {
  "use strict";
  var primary = B.strings();
  var altEl = document.getElementById("strings-alt");
  var alternate = altEl ? JSON.parse(altEl.textContent) : null;
  // Every language's words: the shop's lounge settings may ask for turns in
  // languages this page was not opened in.
  var allEl = document.getElementById("strings-all");
  var every = allEl ? JSON.parse(allEl.textContent) : {};
  var primaryLang = document.documentElement.lang;
  var text = primary;
  // The languages the TV takes turns in (?alt= by hand, else the shop's).
  var turns = alternate ? [primary, alternate] : [primary];
  var turn = 0;
  var orders = {};
  var queue = null;
  var shop = null;
  var socket = null;
  var seenReady = {};
  // ?chime=1 or ?chime=0 on the TV wins over the shop's setting.
  var chimeAsked = /[?&]chime=([01])(&|$)/.exec(window.location.search);
  var empty = document.getElementById("empty");
  var live = document.getElementById("live");
  var idle = document.getElementById("idle");
  var readyBox = document.getElementById("ready");
  var readyList = document.getElementById("ready-list");
  var queueEl = document.getElementById("queue");
  // The server's stage groups (with the snapshot): the cars "in_shop" are
  // shown, and the "progress" bar walks its steps; a paused car sits on the
  // repair step.
  var groups = { in_shop: [], progress: [] };
  var PAGE_EVERY_MS = 10000;
  var QUEUE_EVERY_MS = 30000;
  var LANGUAGE_EVERY_MS = 15000;
  var TICK_EVERY_MS = 30000;
  var BAND_MS = 30 * 60 * 1000;
  // Masked plates that more than one car on the screen shows (set by render()).
  var clashing = {};

  var el = B.page.el;

  /* The shop's calendar day of a moment, "2026-11-28" (its wall clock, not the TV's). */
  function shopDay(moment) { return B.wallValue(moment).slice(0, 10); }

  function nextDay(day) {
    var p = day.split("-");
    return new Date(Date.UTC(Number(p[0]), Number(p[1]) - 1, Number(p[2]) + 1)).toISOString().slice(0, 10);
  }

  function dayText(day) {
    var p = day.split("-");
    return B.fill(text.day_mark, { month: Number(p[1]), day: Number(p[2]) });
  }

  /* Numbers start again every day: a car carried over from an earlier day
     keeps its own day's number and wears that day ("11/27"), so yesterday's
     1 and today's 1 never read the same. */
  function numberBox(tag, o) {
    var mark = o.business_day && o.business_day !== shopDay(Date.now()) ? dayText(o.business_day) : "";
    var box = el(tag, "number" + (mark ? " carried" : ""));
    if (mark) box.appendChild(el("span", "day-mark", mark));
    box.appendChild(el("span", "no", String(o.number)));
    return box;
  }

  /* The plate as this screen shows it: the server's mask, or its mask with
     one character more when another car here has the same mask. The server
     never sends a whole plate; this only chooses between its two masks. */
  function plateText(o) {
    return clashing[o.plate_masked] && o.plate_masked_more ? o.plate_masked_more : o.plate_masked;
  }

  function findClashes(list) {
    var seen = {};
    clashing = {};
    list.forEach(function (o) {
      if (seen[o.plate_masked]) clashing[o.plate_masked] = true;
      seen[o.plate_masked] = true;
    });
  }

  function stepOf(stage) {
    return groups.progress.indexOf(stage === "paused" ? "in_progress" : stage);
  }

  /* "about 25 min" when it is near, else the half hour it falls in:
     "10:30–11:00". A band promises less precision than a clock time. */
  function etaBand(o, now) {
    if (o.ready) return text.stages.ready;
    if (!o.eta) return "—";
    var eta = new Date(o.eta).getTime();
    var minutes = Math.ceil((eta - now) / 60000);
    if (minutes <= 60) {
      return B.fill(text.about_minutes, { minutes: Math.max(5, Math.ceil(minutes / 5) * 5) });
    }
    var intoBand = (B.minutesOfDay(new Date(eta)) % 30) * 60000 + (eta % 60000);
    var start = eta - intoBand;
    // With the date when the band is not today on the shop's calendar. Word
    // joiners keep "11:00–11:30" whole: a narrow cell breaks after the date.
    return B.when(new Date(start).toISOString()) + "\u2060–\u2060" + B.hhmm(new Date(start + BAND_MS));
  }

  function progress(o) {
    var wrap = el("div", "progress" + (o.stage === "paused" ? " paused" : ""));
    var at = stepOf(o.stage);
    groups.progress.forEach(function (step, index) {
      wrap.appendChild(el("span", "step" + (index < at ? " done" : "") + (index === at ? " current" : "")));
    });
    var cellBox = el("div");
    cellBox.appendChild(wrap);
    cellBox.appendChild(el("span", "stage", stageWords(o)));
    return cellBox;
  }

  /* The stage in words; a paused car says what it waits for in the
     customer's words, from the reason codes alone (等待配件, 等待您确认,
     both; any other reason sends the customer to the desk; nothing open any
     more: work continues shortly): the lounge never receives the workshop's
     notes. */
  function stageWords(o) {
    if (o.stage !== "paused") return text.stages[o.stage] || o.stage;
    var codes = o.pause_reasons || [];
    var parts = codes.indexOf("parts") >= 0;
    var approval = codes.indexOf("approval") >= 0;
    var holds = text.holds || {};
    if (parts && approval) return holds.parts_approval;
    if (parts) return holds.parts;
    if (approval) return holds.approval;
    if (!codes.length && holds.none) return holds.none;
    return holds.other || text.stages.paused;
  }

  /* A small copy of the progress bar with one step lit (the legend's). */
  function miniBar(at, paused) {
    var bar = el("span", "progress mini" + (paused ? " paused" : ""));
    groups.progress.forEach(function (step, index) {
      bar.appendChild(el("span", "step" + (index < at ? " done" : "") + (index === at ? " current" : "")));
    });
    return bar;
  }

  /* The words of the bar: each step's name over its segment in the table's
     heading, and beside the list what each step means (and a paused car's
     amber step), in the shop's own words for the stages. */
  function renderSteps() {
    var names = B.page.clear(document.getElementById("step-names"));
    groups.progress.forEach(function (step) {
      names.appendChild(el("span", "step-name", text.stages[step] || step));
    });
    var legend = B.page.clear(document.getElementById("legend"));
    var meaning = text.meaning || {};
    function line(at, paused, label, sentence, stage) {
      var li = el("li", "legend-line");
      li.setAttribute("data-stage", stage);
      li.appendChild(miniBar(at, paused));
      var words = li.appendChild(el("span", "legend-words"));
      words.appendChild(el("span", "legend-label", label));
      words.appendChild(el("span", "legend-text", sentence));
      legend.appendChild(li);
    }
    groups.progress.forEach(function (step, index) {
      line(index, false, text.stages[step] || step, meaning[step] || "", step);
    });
    line(stepOf("paused"), true, text.stages.paused, text.meaning_paused || "", "paused");
  }

  function renderRow(o) {
    var tr = el("tr", "stage-" + o.stage);
    tr.setAttribute("data-order-id", String(o.id));
    tr.appendChild(numberBox("td", o));
    tr.appendChild(el("td", "plate", plateText(o)));
    tr.appendChild(el("td", "progress-cell")).appendChild(progress(o));
    tr.appendChild(el("td", "eta", etaBand(o, Date.now())));
    return tr;
  }

  var pages = B.pager({
    list: document.getElementById("orders"),
    indicator: document.getElementById("page"),
    render: renderRow,
    every: PAGE_EVERY_MS
  });

  function shown() {
    return Object.keys(orders).map(function (id) { return orders[id]; })
      .filter(function (o) { return groups.in_shop.indexOf(o.stage) >= 0; })
      .sort(function (a, b) {
        var dayA = a.business_day || "";
        var dayB = b.business_day || "";
        if (dayA !== dayB) return dayA < dayB ? -1 : 1;
        return a.number - b.number || a.id - b.id;
      });
  }

  var readyNow = [];
  function renderReady(list) {
    readyNow = list;
    B.page.clear(readyList);
    list.forEach(function (o) {
      var li = el("li");
      li.setAttribute("data-order-id", String(o.id));
      li.appendChild(numberBox("span", o));
      li.appendChild(el("span", "plate", plateText(o)));
      readyList.appendChild(li);
    });
    readyBox.hidden = list.length === 0;
    fitSide();
  }

  /* The side column holds, top down, the cars ready for pickup, the
     reception queue, what the steps mean, and the QR. When the ready cars
     need the room, the legend gives way first (its sentences, then all of
     it; the step names stay over the bars), then the QR (smaller, then
     gone); when even that is not enough, the last ready cars are counted
     ("+2 more"). */
  function fitSide() {
    var side = document.getElementById("side");
    var legendBox = document.getElementById("legend-box");
    var followBox = document.getElementById("follow-box");
    if (live.hidden) return;
    function over() { return side.scrollHeight > side.clientHeight + 1; }
    legendBox.hidden = false;
    followBox.hidden = false;
    legendBox.className = "legend-box";
    followBox.className = "follow-box";
    if (over()) legendBox.className = "legend-box brief";
    if (over()) legendBox.hidden = true;
    if (over()) followBox.className = "follow-box small";
    if (over()) followBox.hidden = true;
    var cars = readyList.children;
    var hidden = 0;
    var more = null;
    while (over() && cars.length - (more ? 1 : 0) > 1) {
      var last = more ? more.previousSibling : cars[cars.length - 1];
      readyList.removeChild(last);
      hidden += 1;
      if (!more) more = readyList.appendChild(el("li", "more"));
      more.textContent = B.fill(text.ready_more, { count: hidden });
    }
  }

  /* The reception queue as the shop-load engine sees it: cars ahead and a
     range of minutes ("about 20–35 minutes"); past the shop's cap the server
     sends no minutes, only when work should start, said as today / tomorrow
     / the date at that hour on the shop's clock. */
  function queueText() {
    if (!queue || queue.ahead < 0) return "—";
    var values = { ahead: queue.ahead };
    if (queue.after) {
      var at = new Date(queue.after);
      var day = shopDay(at);
      var today = shopDay(Date.now());
      values.time = B.hhmm(at);
      if (day <= today) return B.fill(text.queue_after_today, values);
      if (day === nextDay(today)) return B.fill(text.queue_after_tomorrow, values);
      values.day = dayText(day);
      return B.fill(text.queue_after_day, values);
    }
    if (typeof queue.high_minutes !== "number") return "—";
    if (queue.ahead === 0 && !queue.low_minutes) return text.queue_empty;
    values.low = queue.low_minutes;
    values.high = queue.high_minutes;
    return B.fill(text.queue_range, values);
  }

  function renderQueue() {
    var words = queueText();
    if (queueEl.textContent === words) return;
    queueEl.textContent = words;
    // The queue's words take more or less room in the side column.
    renderReady(readyNow);
  }

  function render() {
    var list = shown();
    findClashes(list);
    var ready = list.filter(function (o) { return o.ready; });
    renderReady(ready);
    if (!live.hidden) pages.set(list.filter(function (o) { return !o.ready; }));
    empty.textContent = text.none;
    empty.hidden = list.length > 0;
    renderQueue();
  }

  /* Two short tones through WebAudio: no audio file to load, and only when
     the TV was set up with ?chime=1 (a lounge may prefer silence). */
  function ding() {
    var Context = window.AudioContext || window.webkitAudioContext;
    var chime = chimeAsked ? chimeAsked[1] === "1" : !!(shop && shop.lounge && shop.lounge.chime);
    if (!chime || !Context) return;
    try {
      var audio = new Context();
      [880, 660].forEach(function (frequency, index) {
        var tone = audio.createOscillator();
        var gain = audio.createGain();
        var at = audio.currentTime + index * 0.35;
        tone.frequency.value = frequency;
        gain.gain.setValueAtTime(0.25, at);
        gain.gain.exponentialRampToValueAtTime(0.001, at + 0.3);
        tone.connect(gain);
        gain.connect(audio.destination);
        tone.start(at);
        tone.stop(at + 0.32);
      });
      setTimeout(function () { audio.close(); }, 1500);
    } catch (blocked) {
      // A TV without sound or an autoplay policy: the call-out is still shown.
    }
  }

  function noteReady(order, announce) {
    if (order.ready && !seenReady[order.id]) {
      seenReady[order.id] = true;
      if (announce) ding();
    } else if (!order.ready) {
      delete seenReady[order.id];
    }
  }

  function parseHour(value) {
    var parts = /^(\d{1,2}):(\d{2})$/.exec(String(value || ""));
    return parts ? Number(parts[1]) * 60 + Number(parts[2]) : null;
  }

  /* Open now, in the shop's time zone? No hours configured: always open. */
  /* The shop's weekday today, ISO (Monday 1 … Sunday 7), on its own clock. */
  function shopWeekday() {
    var p = shopDay(Date.now()).split("-");
    var day = new Date(Date.UTC(Number(p[0]), Number(p[1]) - 1, Number(p[2]))).getUTCDay();
    return day === 0 ? 7 : day;
  }

  function isOpen() {
    var closedDays = (shop && shop.closed_weekdays) || [];
    if (closedDays.indexOf(shopWeekday()) >= 0) return false;
    var hours = shop && shop.opening_hours;
    if (!hours) return true;
    var open = parseHour(hours.open);
    var close = parseHour(hours.close);
    if (open === null || close === null || open === close) return true;
    var now = B.minutesOfDay(new Date());
    return open < close ? now >= open && now < close : now >= open || now < close;
  }

  function applyHours() {
    var open = isOpen();
    var hours = shop && shop.opening_hours;
    document.getElementById("idle-clock").textContent = B.hhmm(new Date());
    document.getElementById("idle-shop").textContent = (shop && shop.name) || "";
    document.getElementById("idle-text").textContent = hours
      ? B.fill(text.closed, { hours: hours.open + "–" + hours.close }) : "";
    var changed = live.hidden === open;
    live.hidden = !open;
    idle.hidden = open;
    document.body.classList.toggle("is-idle", !open);
    if (changed && open) render();
  }

  function useStrings(strings) {
    text = strings;
    document.documentElement.lang = strings.html_lang || primaryLang;
    var labelled = document.querySelectorAll("[data-text]");
    for (var i = 0; i < labelled.length; i += 1) {
      var key = labelled[i].getAttribute("data-text");
      if (typeof text[key] === "string") labelled[i].textContent = text[key];
    }
    renderSteps();
    applyHours();
    render();
  }

  /* The shop's profile on the lounge: its words for the stages in every
     language the TV may show, and the languages it takes turns in. */
  function useShop(fresh) {
    shop = fresh || null;
    if (shop) B.useTimeZone(shop.timezone);
    [primary, alternate].concat(Object.keys(every).map(function (k) { return every[k]; }))
      .forEach(function (strings) { if (strings) B.useShopLabels(strings, shop); });
    if (!alternate) {
      var wanted = ((shop && shop.lounge && shop.lounge.languages) || [])
        .map(function (locale) { return every[locale]; })
        .filter(function (strings) { return !!strings; });
      turns = wanted.length ? wanted : [primary];
    }
    if (turns.indexOf(text) < 0) turn = 0;
    else turn = turns.indexOf(text);
    useStrings(turns[turn]);
  }

  function askQueue() {
    if (!socket || !socket.connected) return;
    socket.emit("queue", {}, function (answer) {
      if (answer && typeof answer.ahead === "number") {
        queue = answer;
        renderQueue();
      }
    });
  }

  var queueSoon = null;
  function queueAfterChange() {
    if (queueSoon) return;
    queueSoon = setTimeout(function () { queueSoon = null; askQueue(); }, 1000);
  }

  function start(token) {
    live.hidden = false;
    B.clock(document.getElementById("clock"));
    B.reloadDaily(4);
    setInterval(askQueue, QUEUE_EVERY_MS);
    setInterval(function () { applyHours(); render(); }, TICK_EVERY_MS);
    setInterval(function () {
      if (turns.length < 2) return;
      turn = (turn + 1) % turns.length;
      useStrings(turns[turn]);
    }, LANGUAGE_EVERY_MS);
    var connection = B.connect({
      token: token,
      audienceSeesAll: true,
      onSnapshot: function (snapshot) {
        if (snapshot.stage_groups) groups = snapshot.stage_groups;
        if (snapshot.queue) queue = snapshot.queue;
        orders = {};
        snapshot.orders.forEach(function (o) {
          orders[o.id] = o;
          // What was ready before this screen looked is no news: no chime.
          noteReady(o, false);
        });
        useShop(snapshot.shop);
      },
      // An admin changed the shop profile: hours, words, languages at once.
      onShop: useShop,
      onOrder: function (order, seq, old) {
        if (old) return;
        orders[order.id] = order;
        noteReady(order, true);
        render();
        queueAfterChange();
      },
      onRevoked: function () {
        B.api("GET", "/api/v1/whoami", null, token).then(function (reply) {
          if (reply.status === 401) { B.forget("lounge"); window.location.reload(); }
        });
      }
    });
    socket = connection.socket;
    window.addEventListener("resize", function () { renderReady(readyNow); });
    socket.on("connect", askQueue);
    window.BaylightLounge = {
      pages: pages.state, lastSeq: connection.lastSeq, lastHeard: connection.lastHeard
    };
  }

  B.pair("lounge").then(start);
})(window.Baylight);
